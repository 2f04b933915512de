// The one reader of environment variables. Every variable the code uses is declared in
// ENV_SETTINGS (schema.ts) and parsed here by its setting's type, with an error that names the
// variable, the rule and the bad value. A process's environment is parsed once: the result is kept
// until one of the declared variables changes (tests that set a variable see it at once).
import { ENV_SETTINGS, type EnvName } from './schema';
import { parseText, ruleText, type Setting, type ValueOf } from './setting';

export type RawEnv = Readonly<Record<string, string | undefined>>;

/** The parsed value of each declared variable; undefined where it is unset (or set to ''). */
export type EnvValues = { [K in EnvName]: ValueOf<(typeof ENV_SETTINGS)[K]> | undefined };

const NAMES = Object.keys(ENV_SETTINGS) as EnvName[];
let cached: { key: string; values: EnvValues } | null = null;

/** The process's environment as it is now (the one place that touches process.env). */
export function processEnv(): RawEnv {
  return process.env;
}

function snapshotKey(raw: RawEnv): string {
  return NAMES.map((n) => raw[n] ?? '\u0000').join('\u0001');
}

/**
 * Parses every declared variable of `raw` (default: the process's environment). Throws one error
 * listing every bad value: `PARTS_WASM_THREADS must be an integer >= 1 (got 'x')`.
 */
export function readEnv(raw: RawEnv = processEnv()): EnvValues {
  const key = snapshotKey(raw);
  if (raw === process.env && cached?.key === key) return cached.values;
  const values = {} as Record<string, unknown>;
  const bad: string[] = [];
  for (const name of NAMES) {
    const text = raw[name];
    if (text === undefined || text.trim() === '') continue;
    try {
      values[name] = parseText(ENV_SETTINGS[name] as Setting, name, text);
    } catch (e) {
      bad.push((e as Error).message);
    }
  }
  if (bad.length) throw new Error(bad.join('\n'));
  if (raw === process.env) cached = { key, values: values as EnvValues };
  return values as EnvValues;
}

/** One variable's parsed value, or its setting's default (undefined when it has none). */
export function envSetting<K extends EnvName>(name: K, raw: RawEnv = processEnv()): ValueOf<(typeof ENV_SETTINGS)[K]> | undefined {
  const v = readEnv(raw)[name];
  if (v !== undefined) return v;
  return (ENV_SETTINGS[name] as Setting).default as ValueOf<(typeof ENV_SETTINGS)[K]> | undefined;
}

/** Sets (or, with undefined, removes) a declared variable for this process and the children it starts. */
export function setEnvSetting(name: EnvName, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else {
    parseText(ENV_SETTINGS[name] as Setting, name, value);
    process.env[name] = value;
  }
}

export interface EnvReportRow {
  name: string;
  value: string;
  status: 'set' | 'default' | 'invalid';
  detail: string;
}

/**
 * The variables in force, for `pnpm diagnose`: each declared PARTS_* variable that is set (with its
 * parsed value, or why it is invalid), and PARTS_* variables that nothing reads (likely typos).
 */
export function envReport(raw: RawEnv = processEnv()): { rows: EnvReportRow[]; unknown: string[] } {
  const rows: EnvReportRow[] = [];
  for (const name of NAMES) {
    const text = raw[name];
    if (text === undefined || text.trim() === '' || !name.startsWith('PARTS_')) continue;
    const s = ENV_SETTINGS[name] as Setting;
    try {
      const v = parseText(s, name, text);
      rows.push({ name, value: s.secret ? '(set, not shown)' : Array.isArray(v) ? v.join(',') : String(v), status: 'set', detail: s.doc });
    } catch {
      rows.push({ name, value: s.secret ? '(set, not shown)' : text, status: 'invalid', detail: `must be ${ruleText(s)}` });
    }
  }
  const unknown = Object.keys(raw).filter((n) => n.startsWith('PARTS_') && !(n in ENV_SETTINGS));
  return { rows, unknown };
}
