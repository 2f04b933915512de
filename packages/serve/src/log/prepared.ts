// A query of the builder compiled once and run as a prepared SQLite statement. Kysely compiles and
// better-sqlite3 prepares a query on every execution, which costs more than the insert itself on
// the prediction log's hot path; this keeps the query written once with the builder (so the SQL is
// the same that Kysely runs on either dialect) and runs it synchronously from a statement prepared
// at open. Parameters are named by the fields of the row object: the query is built once on
// marker values and the compiled parameter list says which field goes where.
import type Database from 'better-sqlite3';
import type { Compilable } from 'kysely';

const MARK = '\u0000param:';

export class PreparedQuery<Row extends Record<string, unknown>> {
  private readonly stmt: Database.Statement;
  private readonly order: (keyof Row & string)[];

  /**
   * `build` receives a row whose every field is a marker and must put each field into the query
   * exactly where its value goes (values, where clauses); a parameter that is not a marker (a
   * constant the query builds in) is refused, so nothing is bound from the wrong place.
   */
  constructor(sqlite: Database.Database, fields: readonly (keyof Row & string)[], build: (row: Row) => Compilable<unknown>) {
    const markers = Object.fromEntries(fields.map((f) => [f, `${MARK}${f}`])) as unknown as Row;
    const compiled = build(markers).compile();
    this.order = compiled.parameters.map((p, i) => {
      const f = typeof p === 'string' && p.startsWith(MARK) ? (p.slice(MARK.length) as keyof Row & string) : undefined;
      if (!f || !fields.includes(f)) throw new Error(`prepared query: parameter ${i + 1} of "${compiled.sql}" is not one of the fields ${fields.join(', ')}`);
      return f;
    });
    this.stmt = sqlite.prepare(compiled.sql);
  }

  private params(row: Row): unknown[] {
    return this.order.map((f) => row[f]);
  }

  run(row: Row): Database.RunResult {
    return this.stmt.run(...this.params(row));
  }
}
