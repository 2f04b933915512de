// Versioned migrations of the prediction log, written once with Kysely's schema builder so the
// same steps run on SQLite (embedded default) and PostgreSQL. Kysely's Migrator records applied
// versions in kysely_migration and takes kysely_migration_lock, so running them again is a no-op
// and two processes never apply one twice. Never edit a shipped migration: add the next version.
// Versions written on separate lines of work may land in any order of names, so the migrator allows
// a not-yet-applied version whose name sorts before an applied one (it is applied then).
import { PostgresAdapter, type ColumnDefinitionBuilder, type Kysely } from 'kysely';
import { Migrator, type Migration, type MigrationProvider } from 'kysely/migration';

/** An auto-numbered integer primary key in the dialect's own way (SQLite rowid alias, PostgreSQL identity). */
function idColumn(db: Kysely<unknown>) {
  const pg = db.getExecutor().adapter instanceof PostgresAdapter;
  return (c: ColumnDefinitionBuilder) => (pg ? c.primaryKey().generatedByDefaultAsIdentity() : c.primaryKey().autoIncrement());
}

function blobType(db: Kysely<unknown>): 'bytea' | 'blob' {
  return db.getExecutor().adapter instanceof PostgresAdapter ? 'bytea' : 'blob';
}

export const MIGRATIONS: Record<string, Migration> = {
  '0001-photos-predictions-decisions': {
    async up(db) {
      const blob = db.getExecutor().adapter instanceof PostgresAdapter ? 'bytea' : 'blob';
      await db.schema
        .createTable('photos')
        .addColumn('hash', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('ext', 'varchar(8)', (c) => c.notNull())
        .addColumn('bytes', 'integer', (c) => c.notNull())
        .addColumn('stored_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('signature', blob)
        .execute();
      await db.schema
        .createTable('predictions')
        .addColumn('id', 'integer', idColumn(db))
        .addColumn('logged_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('photo_hash', 'varchar(64)', (c) => c.notNull().references('photos.hash'))
        .addColumn('source', 'varchar(128)')
        .addColumn('file_name', 'varchar(256)')
        .addColumn('model_id', 'varchar(256)', (c) => c.notNull())
        .addColumn('label', 'varchar(128)')
        .addColumn('unknown', 'integer', (c) => c.notNull())
        .addColumn('top', 'varchar(128)', (c) => c.notNull())
        .addColumn('probability', 'double precision', (c) => c.notNull())
        .addColumn('margin', 'double precision', (c) => c.notNull())
        .addColumn('probabilities', 'text', (c) => c.notNull())
        .addColumn('ood', 'text')
        .addColumn('latency_ms', 'double precision', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('predictions_logged_at').on('predictions').column('logged_at').execute();
      await db.schema.createIndex('predictions_photo_hash').on('predictions').column('photo_hash').execute();
      await db.schema
        .createTable('decisions')
        .addColumn('id', 'integer', idColumn(db))
        .addColumn('batch', 'varchar(64)', (c) => c.notNull())
        .addColumn('photo_hash', 'varchar(64)', (c) => c.notNull().references('photos.hash'))
        .addColumn('prediction_id', 'integer')
        .addColumn('action', 'varchar(32)', (c) => c.notNull())
        .addColumn('label', 'varchar(128)', (c) => c.notNull())
        .addColumn('reviewer', 'varchar(64)', (c) => c.notNull())
        .addColumn('decided_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('undone_at', 'varchar(32)')
        .addColumn('undone_by', 'varchar(64)')
        .execute();
      await db.schema.createIndex('decisions_photo_hash').on('decisions').column('photo_hash').execute();
      await db.schema.createIndex('decisions_batch').on('decisions').column('batch').execute();
    },
    async down(db) {
      await db.schema.dropTable('decisions').execute();
      await db.schema.dropTable('predictions').execute();
      await db.schema.dropTable('photos').execute();
    },
  },
  // Photos kept in the database itself (PostgreSQL: replicas share no folder); SQLite keeps files.
  '0002-photo-blobs': {
    async up(db) {
      await db.schema
        .createTable('photo_blobs')
        .addColumn('hash', 'varchar(64)', (c) => c.primaryKey().references('photos.hash').onDelete('cascade'))
        .addColumn('content', blobType(db), (c) => c.notNull())
        .execute();
    },
    async down(db) {
      await db.schema.dropTable('photo_blobs').execute();
    },
  },
  // The model registry: promoted models by content hash with their files, the history of the model
  // in service (the latest row is the one every replica serves), and models a replica refused.
  '0003-model-registry': {
    async up(db) {
      await db.schema
        .createTable('models')
        .addColumn('hash', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('run_id', 'varchar(256)', (c) => c.notNull())
        .addColumn('card', 'text')
        .addColumn('files', 'integer', (c) => c.notNull())
        .addColumn('bytes', 'bigint', (c) => c.notNull())
        .addColumn('stored_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('stored_by', 'varchar(128)', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('model_files')
        .addColumn('model_hash', 'varchar(64)', (c) => c.notNull().references('models.hash').onDelete('cascade'))
        .addColumn('path', 'varchar(512)', (c) => c.notNull())
        .addColumn('sha256', 'varchar(64)', (c) => c.notNull())
        .addColumn('bytes', 'integer', (c) => c.notNull())
        .addColumn('content', blobType(db), (c) => c.notNull())
        .addPrimaryKeyConstraint('model_files_pk', ['model_hash', 'path'])
        .execute();
      await db.schema
        .createTable('promotions')
        .addColumn('id', 'integer', idColumn(db))
        .addColumn('at', 'varchar(32)', (c) => c.notNull())
        .addColumn('action', 'varchar(16)', (c) => c.notNull())
        .addColumn('model_hash', 'varchar(64)', (c) => c.notNull().references('models.hash'))
        .addColumn('run_id', 'varchar(256)', (c) => c.notNull())
        .addColumn('previous_hash', 'varchar(64)')
        .addColumn('actor', 'varchar(128)', (c) => c.notNull())
        .addColumn('note', 'text')
        .execute();
      await db.schema
        .createTable('model_refusals')
        .addColumn('id', 'integer', idColumn(db))
        .addColumn('at', 'varchar(32)', (c) => c.notNull())
        .addColumn('replica', 'varchar(256)', (c) => c.notNull())
        .addColumn('model_hash', 'varchar(64)', (c) => c.notNull())
        .addColumn('run_id', 'varchar(256)')
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('parity', 'text')
        .execute();
      await db.schema.createIndex('model_refusals_model_hash').on('model_refusals').column('model_hash').execute();
    },
    async down(db) {
      await db.schema.dropTable('model_refusals').execute();
      await db.schema.dropTable('promotions').execute();
      await db.schema.dropTable('model_files').execute();
      await db.schema.dropTable('models').execute();
    },
  },
};

const provider: MigrationProvider = { getMigrations: async () => MIGRATIONS };

/** Applies every migration not yet applied; returns the names applied now (empty when up to date). */
export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  const { error, results } = await new Migrator({ db, provider, allowUnorderedMigrations: true }).migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** The migrations already applied to a database, in order. */
export async function appliedMigrations(db: Kysely<any>): Promise<string[]> {
  const all = await new Migrator({ db, provider, allowUnorderedMigrations: true }).getMigrations();
  return all.filter((m) => m.executedAt).map((m) => m.name);
}
