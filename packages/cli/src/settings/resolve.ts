// Option resolution from the schema: an explicit value wins over a layer of overrides (an
// architecture's recipe), which wins over the setting's default; then every value is checked
// against its setting's rule, and the error names the flag of each bad one.
import { flagName, isValid, ruleText, type Setting, type ValueOf } from './setting';

export type Values<G extends Record<string, Setting<any>>> = { [K in keyof G]: ValueOf<G[K]> };

/** The defaults of a group (settings without one are left out). */
export function settingDefaults<G extends Record<string, Setting<any>>>(group: G): Partial<Values<G>> {
  const out: Record<string, unknown> = {};
  for (const [k, s] of Object.entries(group)) if (s.default !== undefined) out[k] = s.default;
  return out as Partial<Values<G>>;
}

/** Drops undefined values, so a layer only sets what it names. */
export function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** `<flag> must be <rule> (got <value>)` for each set value of `values` that breaks its setting's rule. */
export function settingErrors(group: Record<string, Setting<any>>, values: Record<string, unknown>): string[] {
  const bad: string[] = [];
  for (const [k, s] of Object.entries(group)) {
    const v = values[k];
    if (v === undefined || isValid(s, v)) continue;
    bad.push(`${flagName(s) ?? s.env ?? k} must be ${ruleText(s)} (got ${Array.isArray(v) ? v.join(',') : String(v)})`);
  }
  return bad;
}

/**
 * Defaults, then each layer in order (later wins), then `given`; checked against the schema.
 * Throws one error with a line per bad option.
 */
export function resolveSettings<G extends Record<string, Setting<any>>>(group: G, given: Record<string, unknown>, ...layers: object[]): Partial<Values<G>> {
  const merged: Record<string, unknown> = { ...settingDefaults(group) };
  for (const l of [...layers, given]) Object.assign(merged, definedOnly(l as Record<string, unknown>));
  const bad = settingErrors(group, merged);
  if (bad.length) throw new Error(bad.join('\n'));
  return merged as Partial<Values<G>>;
}
