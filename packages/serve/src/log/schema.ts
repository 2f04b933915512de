// The prediction log's tables as Kysely sees them. One owner: this folder (store.ts writes them,
// migrations.ts creates them). Times are ISO-8601 UTC strings (they sort as text on every
// dialect), booleans 0/1 integers and JSON columns text, so SQLite and PostgreSQL hold the same values.
import type { Generated } from 'kysely';
import type { AccessTables } from '../auth/tables';

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

/** The server's database: the log's tables and the access tables (auth/tables.ts). */
export interface LogDatabase extends AccessTables {
  photos: PhotosTable;
  predictions: PredictionsTable;
  decisions: DecisionsTable;
}
