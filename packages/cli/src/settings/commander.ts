// Commander options built from the settings schema: the flag, its doc with the default, the parser
// (which names the flag and the rule in its error), allowed values and the negating `--no-x` flag
// all come from one Setting, so --help, the README table and the checks say the same.
import { InvalidArgumentError, Option, type Command } from 'commander';
import { defaultShown, flagName, parseText, type Setting } from './setting';

export interface SettingOptionsConfig {
  /** Only these settings (default: every one with a flag). */
  only?: readonly string[];
  /**
   * 'full' (default): a flag's value is checked against the whole rule as it is parsed, and defaults
   * fill in unset options. 'type': only its type is parsed and no defaults are set, for a command
   * whose options are resolved and checked later (resolveSettings: architecture recipes in between).
   */
  check?: 'full' | 'type';
  /** Defaults computed at run time (e.g. a folder in the repository), by setting name. */
  defaults?: Record<string, unknown>;
  /** Extra allowed spellings of a choice (e.g. mode aliases), by setting name. */
  extraChoices?: Record<string, readonly string[]>;
  /** A parser of its own for a setting whose text needs more than its type (e.g. a grid of cells). */
  parsers?: Record<string, (text: string) => unknown>;
  /** Help text that replaces the schema's doc for this command (e.g. lists built from a registry). */
  docs?: Record<string, string>;
}

/** The doc with the default as the schema shows it (used where commander shows no default of its own). */
function helpText(s: Setting, doc: string, check: 'full' | 'type'): string {
  const shown = defaultShown(s);
  if (s.kind === 'boolean' && s.default === false && !s.defaultText) return doc;
  if (!shown) return doc;
  return `${doc} (default ${shown}${s.perArch && check === 'type' ? ", or the arch's recipe" : ''})`;
}

/** Adds one commander option per setting of `group` (in the group's order) to `cmd`. */
export function addSettingOptions(cmd: Command, group: Record<string, Setting<any>>, cfg: SettingOptionsConfig = {}): Command {
  const check = cfg.check ?? 'full';
  for (const [name, s] of Object.entries(group)) {
    if (!s.flag || (cfg.only && !cfg.only.includes(name))) continue;
    if (name === 'verbose') continue; // runCli adds --verbose to every CLI
    const flag = flagName(s)!;
    const doc = cfg.docs?.[name] ?? s.doc;
    const runtimeDefault = cfg.defaults?.[name];
    if (s.kind === 'boolean') {
      // A switch that is on by default shows only its --no-x flag, as commander has it.
      if (s.negate && s.default === true) cmd.addOption(new Option(s.negate.flag, s.negate.doc));
      else {
        // Off by default: unset reads as undefined (falsy), as commander has it.
        cmd.addOption(new Option(s.flag, helpText(s, doc, check)));
        if (s.negate) cmd.addOption(new Option(s.negate.flag, s.negate.doc));
      }
      continue;
    }
    const dflt = runtimeDefault ?? (check === 'full' ? s.default : undefined);
    // With a default commander shows it itself: "(default: …)".
    const o = new Option(s.flag, cfg.docs?.[name] || dflt !== undefined ? doc : helpText(s, doc, check));
    const own = cfg.parsers?.[name];
    if (s.kind === 'choice') {
      o.choices([...(s.choices ?? []), ...(cfg.extraChoices?.[name] ?? [])]);
    } else if (own) {
      o.argParser((text: string) => {
        try {
          return own(text);
        } catch (e) {
          throw new InvalidArgumentError((e as Error).message);
        }
      });
    } else if (s.kind === 'list' && Array.isArray(s.default)) {
      // Repeatable: each use adds one value.
      o.argParser((text: string, prev: unknown) => [...((prev as string[] | undefined) ?? []), text]);
    } else if (s.kind !== 'string' && s.kind !== 'path') {
      const rule: Setting = check === 'type' ? { ...s, min: undefined, max: undefined, gt: undefined, lt: undefined, rule: undefined } : s;
      o.argParser((text: string) => {
        try {
          return parseText(rule, flag, text);
        } catch (e) {
          throw new InvalidArgumentError((e as Error).message);
        }
      });
    }
    if (dflt !== undefined) o.default(dflt, runtimeDefault !== undefined ? undefined : defaultShown(s) || undefined);
    cmd.addOption(o);
    if (s.negate) cmd.addOption(new Option(s.negate.flag, s.negate.doc));
  }
  return cmd;
}

/**
 * The options commander parsed, with each negating flag turned into its value: `--no-augment`
 * (commander's false) reads as 'none'.
 */
export function settingValues<T extends Record<string, unknown>>(opts: T, group: Record<string, Setting<any>>): T {
  const out: Record<string, unknown> = { ...opts };
  for (const [name, s] of Object.entries(group)) {
    if (s.negate && s.kind !== 'boolean' && out[name] === false) out[name] = s.negate.value;
  }
  return out as T;
}
