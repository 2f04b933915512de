// The prediction log's tables as Kysely sees them. One owner: this folder (store.ts writes them,
// migrations.ts creates them). Times are ISO-8601 UTC strings (they sort as text on every
// dialect), booleans 0/1 integers and JSON columns text, so SQLite and PostgreSQL hold the same values.
import type { Generated } from 'kysely';

export interface PhotosTable {
  /** sha256 of the photo's bytes, hex. */
  hash: string;
  /** File extension of the stored copy (from the bytes' signature): jpg, png, webp, gif, bmp, tif or bin. */
  ext: string;
  bytes: number;
  stored_at: string;
  /** Raw perceptual signature (Float32 little-endian), computed when the review queue first needs it. */
  signature: Buffer | null;
}

export interface PredictionsTable {
  id: Generated<number>;
  logged_at: string;
  photo_hash: string;
  /** Camera or line id (form field `source` or header X-Source); null when none was given. */
  source: string | null;
  /** Client file name of the upload, when multipart gave one. */
  file_name: string | null;
  model_id: string;
  /** The answer: the class, or null when unknown. */
  label: string | null;
  unknown: number;
  top: string;
  probability: number;
  /** probability of top minus the second most probable class (1 with a single class). */
  margin: number;
  /** JSON: calibrated probability per class. */
  probabilities: string;
  /** JSON: the OOD scores (OodDecision.ood), or null. */
  ood: string | null;
  latency_ms: number;
}

export interface DecisionsTable {
  id: Generated<number>;
  /** Decisions made by one action (a group labelled at once) share a batch id; undo works per batch. */
  batch: string;
  photo_hash: string;
  prediction_id: number | null;
  /** confirm | correct | not-a-part | bad-photo | new-class | capture */
  action: string;
  /** A class name, or 'not-a-part' / 'bad-photo'. */
  label: string;
  reviewer: string;
  decided_at: string;
  undone_at: string | null;
  undone_by: string | null;
}

/** A stored photo's bytes, kept in the database when the log is on PostgreSQL (no shared folder between replicas). */
export interface PhotoBlobsTable {
  hash: string;
  content: Buffer;
}

/** A model of the registry, by the sha256 of its file list (path + sha256 of each file, sorted). */
export interface ModelsTable {
  hash: string;
  run_id: string;
  /** JSON: its model-card.json, when it has one. */
  card: string | null;
  files: number;
  /** bigint: read with Number() (PostgreSQL returns it as a string). */
  bytes: number | string;
  stored_at: string;
  stored_by: string;
}

export interface ModelFilesTable {
  model_hash: string;
  /** Path inside the model folder, '/'-separated. */
  path: string;
  sha256: string;
  bytes: number;
  content: Buffer;
}

export interface PromotionsTable {
  id: Generated<number>;
  at: string;
  /** promote | rollback */
  action: string;
  /** The model in service after this row (the latest row is the one served). */
  model_hash: string;
  run_id: string;
  /** The model in service before it, or null. */
  previous_hash: string | null;
  /** Who: user@host of the promote/rollback command. */
  actor: string;
  /** Why: the selection rule or the rollback asked for. */
  note: string | null;
}

export interface ModelRefusalsTable {
  id: Generated<number>;
  at: string;
  /** The server that refused it (host:port, pid). */
  replica: string;
  model_hash: string;
  run_id: string | null;
  reason: string;
  /** JSON: the failed parity check, when it got that far. */
  parity: string | null;
}

export interface LogDatabase {
  photos: PhotosTable;
  predictions: PredictionsTable;
  decisions: DecisionsTable;
  photo_blobs: PhotoBlobsTable;
  models: ModelsTable;
  model_files: ModelFilesTable;
  promotions: PromotionsTable;
  model_refusals: ModelRefusalsTable;
}
