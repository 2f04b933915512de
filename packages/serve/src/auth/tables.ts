// The access tables as Kysely sees them: API keys, reviewer accounts and their sessions. One owner:
// the auth folder writes them (api-keys.ts, reviewers.ts, sessions.ts); log/migrations.ts creates
// them beside the prediction log's tables, in the server's one database. Secrets are never stored:
// only hashes (see each writer for which hash and why). Times are ISO-8601 UTC strings, as in the log.
import type { Generated } from 'kysely';

export interface ApiKeysTable {
  id: Generated<number>;
  /** The operator's name for the key (a camera, a line, a script); unique, also after revocation. */
  name: string;
  /** The key's first characters, shown by `pnpm keys list` to tell keys apart; not enough to use it. */
  prefix: string;
  /** SHA-256 of the whole key, hex. */
  key_hash: string;
  created_at: string;
  /** Set by `pnpm keys revoke`; the row stays so a revoked key is told apart from an unknown one. */
  revoked_at: string | null;
}

export interface ReviewersTable {
  id: Generated<number>;
  name: string;
  /** `scrypt$N$r$p$<salt base64>$<hash base64>` (passwords.ts). */
  password_hash: string;
  created_at: string;
  password_changed_at: string;
}

export interface SessionsTable {
  /** SHA-256 of the session cookie's token, hex. */
  token_hash: string;
  reviewer_id: number;
  created_at: string;
  expires_at: string;
}

export interface AccessTables {
  api_keys: ApiKeysTable;
  reviewers: ReviewersTable;
  sessions: SessionsTable;
}
