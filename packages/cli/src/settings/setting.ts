// One setting of the settings schema (schema.ts): its type, allowed values, default, check, CLI flag,
// environment name and one-line doc. Everything else — commander options, option resolution, the
// environment reader, the README tables, `pnpm diagnose`'s section — is derived from these fields,
// so a setting is described once.

export type SettingKind = 'int' | 'number' | 'string' | 'path' | 'boolean' | 'choice' | 'list';

export interface Setting<T = unknown> {
  kind: SettingKind;
  /** One line: what it does (README tables, --help). */
  doc: string;
  /** Used when nothing sets it. Undefined: unset is a meaningful value (or the default is computed; see defaultText). */
  default?: T;
  /** How docs and --help show a default that is computed (e.g. "the arch's", "<repo>/runs"). */
  defaultText?: string;
  /** kind 'choice': the allowed values, in the order docs list them. */
  choices?: readonly string[];
  /** Numbers: inclusive (min/max) and exclusive (gt/lt) bounds. */
  min?: number;
  max?: number;
  gt?: number;
  lt?: number;
  /** How the rule reads in an error when the bounds alone would say too little ("a number in (0, 1]: ..."). */
  rule?: string;
  /** Commander flag with its value placeholder, e.g. '--epochs <n>'; '--json' for a boolean switch. */
  flag?: string;
  /** A second flag that turns the setting off: '--no-augment' sets `value` (booleans: false). */
  negate?: { flag: string; value?: T; doc: string };
  /** Environment variable that sets it (read once, through env.ts). */
  env?: string;
  /** Architectures may replace the default in their recipe (ArchSpec.recipe); an explicit value still wins. */
  perArch?: boolean;
  /** A secret (a token): reports such as `pnpm diagnose` say it is set but never show it. */
  secret?: boolean;
  /** Only for tests, benchmarks or development: listed in their own README table. */
  scope?: 'product' | 'dev';
}

/** A setting as a builder returns it: its literal fields (perArch, flag) kept, its value typed T. */
export type Typed<S, T> = Omit<S, 'default' | 'negate'> & Setting<T>;

/** The TypeScript type of a setting's value. */
export type ValueOf<S> = S extends Setting<infer T> ? T : never;

export function int<const S extends Omit<Setting<number>, 'kind'>>(s: S): Typed<S, number> {
  return { ...s, kind: 'int' };
}
export function num<const S extends Omit<Setting<number>, 'kind'>>(s: S): Typed<S, number> {
  return { ...s, kind: 'number' };
}
export function str<const S extends Omit<Setting<string>, 'kind'>>(s: S): Typed<S, string> {
  return { ...s, kind: 'string' };
}
export function pathSetting<const S extends Omit<Setting<string>, 'kind'>>(s: S): Typed<S, string> {
  return { ...s, kind: 'path' };
}
export function bool<const S extends Omit<Setting<boolean>, 'kind'>>(s: S): Typed<S, boolean> {
  return { ...s, kind: 'boolean' };
}
export function list<const S extends Omit<Setting<string[]>, 'kind'>>(s: S): Typed<S, string[]> {
  return { ...s, kind: 'list' };
}
export function choice<const C extends readonly string[], const S extends Omit<Setting<C[number]>, 'kind' | 'choices'>>(choices: C, s: S): Typed<S, C[number]> {
  return { ...s, kind: 'choice', choices };
}

/** "a or b", "a, b or c": how allowed values read in a sentence. */
export function orList(values: readonly string[]): string {
  return values.length <= 1 ? (values[0] ?? '') : `${values.slice(0, -1).join(', ')} or ${values.at(-1)}`;
}

/** The rule a value breaks, as it reads after "must be": "an integer >= 1", "in (0, 10)", "constant or cosine". */
export function ruleText(s: Setting): string {
  if (s.rule) return s.rule;
  switch (s.kind) {
    case 'choice':
      return (s.choices?.length ?? 0) > 2 ? `one of ${s.choices!.join(', ')}` : orList(s.choices ?? []);
    case 'boolean':
      return '0 or 1';
    case 'int': {
      if (s.min !== undefined && s.max !== undefined) return `an integer in ${s.min}..${s.max}`;
      if (s.min !== undefined) return `an integer >= ${s.min}`;
      return 'an integer';
    }
    case 'number': {
      const lo = s.gt !== undefined ? `(${s.gt}` : s.min !== undefined ? `[${s.min}` : undefined;
      const hi = s.lt !== undefined ? `${s.lt})` : s.max !== undefined ? `${s.max}]` : undefined;
      if (lo && hi) return `in ${lo}, ${hi}`;
      if (s.min !== undefined) return `a number >= ${s.min}`;
      if (s.gt !== undefined) return `a number > ${s.gt}`;
      return 'a number';
    }
    default:
      return 'a non-empty value';
  }
}

/** Whether a (typed) value keeps the setting's rule. */
export function isValid(s: Setting, v: unknown): boolean {
  switch (s.kind) {
    case 'int':
    case 'number': {
      if (typeof v !== 'number' || !Number.isFinite(v)) return false;
      if (s.kind === 'int' && !Number.isInteger(v)) return false;
      if (s.min !== undefined && v < s.min) return false;
      if (s.max !== undefined && v > s.max) return false;
      if (s.gt !== undefined && v <= s.gt) return false;
      if (s.lt !== undefined && v >= s.lt) return false;
      return true;
    }
    case 'choice':
      return typeof v === 'string' && (s.choices ?? []).includes(v);
    case 'boolean':
      return typeof v === 'boolean';
    case 'list':
      return Array.isArray(v) && v.every((x) => typeof x === 'string' && x !== '');
    default:
      return typeof v === 'string' && v !== '';
  }
}

const TRUE = new Set(['1', 'true']);
const FALSE = new Set(['0', 'false']);

/**
 * A value typed as text (a flag's argument or an environment variable) as the setting's type.
 * Throws `<name> must be <rule> (got '<text>')`.
 */
export function parseText(s: Setting, name: string, text: string): unknown {
  const t = text.trim();
  let v: unknown;
  if (s.kind === 'int' || s.kind === 'number') v = t === '' ? NaN : Number(t);
  else if (s.kind === 'boolean') v = TRUE.has(t.toLowerCase()) ? true : FALSE.has(t.toLowerCase()) ? false : undefined;
  else if (s.kind === 'list') v = t.split(',').map((x) => x.trim()).filter(Boolean);
  else v = t;
  if (!isValid(s, v)) throw new Error(`${name} must be ${ruleText(s)} (got '${text}')`);
  return v;
}

/** The flag's long name without its placeholder: '--epochs <n>' -> '--epochs'. */
export function flagName(s: Setting): string | undefined {
  return s.flag?.split(/[\s=]/)[0];
}

/** How a default reads in docs and --help. */
export function defaultShown(s: Setting): string {
  if (s.defaultText !== undefined) return s.defaultText;
  if (s.default === undefined) return '';
  if (Array.isArray(s.default)) return s.default.join(',');
  if (typeof s.default === 'boolean') return s.kind === 'boolean' && s.env && !s.flag ? (s.default ? '1' : '0') : String(s.default);
  return String(s.default);
}
