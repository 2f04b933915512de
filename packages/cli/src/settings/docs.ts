// The README's option and environment tables, generated from the settings schema. `pnpm
// settings:docs` rewrites the marked blocks of README.md; settings-docs.test.ts fails when they
// are stale, so the tables cannot drift from the code.
import { COMMAND_SETTINGS, ENV_SETTINGS } from './schema';
import { defaultShown, type Setting } from './setting';

const cell = (t: string) => t.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function flagCell(s: Setting): string {
  if (s.kind === 'boolean' && s.negate && s.default === true) return `\`${s.negate.flag}\``;
  return [s.flag, s.negate?.flag].filter(Boolean).map((f) => `\`${f}\``).join(' / ');
}

function docCell(s: Setting): string {
  const doc = s.kind === 'boolean' && s.negate && s.default === true ? s.negate.doc : s.doc;
  const allowed = s.kind === 'choice' ? ` One of: ${s.choices!.join(', ')}.` : '';
  const perArch = s.perArch ? " An architecture's recipe may replace the default." : '';
  return cell(doc + '.' + allowed + perArch).replace(/\.\./g, '.');
}

/** One table per command: flag, environment variable, default, what it does. */
export function optionsMarkdown(): string {
  const parts: string[] = [];
  for (const [cmd, group] of Object.entries(COMMAND_SETTINGS)) {
    const rows = Object.values(group as Record<string, Setting>).filter((s) => s.flag && s.flag !== '--verbose');
    if (!rows.length) continue;
    parts.push(`#### \`pnpm ${cmd}\``, '', '| flag | default | what it does |', '| --- | --- | --- |');
    for (const s of rows) {
      const d = s.kind === 'boolean' && s.negate && s.default === true ? '' : defaultShown(s);
      parts.push(`| ${flagCell(s)} | ${cell(d)} | ${docCell(s)} |`);
    }
    parts.push('');
  }
  parts.push('Every command also takes `--verbose` (= `PARTS_VERBOSE=1`).');
  return parts.join('\n');
}

/** The environment variables: product ones, then those only tests, benchmarks and kernel work read. */
export function envMarkdown(): string {
  const table = (dev: boolean) => {
    const rows = Object.values(ENV_SETTINGS as Record<string, Setting>).filter((s) => (s.scope === 'dev') === dev && s.env);
    return ['| variable | default | what it does |', '| --- | --- | --- |', ...rows.map((s) => `| \`${s.env}\` | ${cell(defaultShown(s))} | ${docCell(s)} |`)].join('\n');
  };
  return [table(false), '', 'For tests, benchmarks and kernel development:', '', table(true)].join('\n');
}

const BLOCKS: Record<string, () => string> = { options: optionsMarkdown, env: envMarkdown };

/** `text` with each `<!-- settings:NAME -->` … `<!-- /settings:NAME -->` block regenerated. */
export function withGeneratedTables(text: string): string {
  let out = text;
  for (const [name, make] of Object.entries(BLOCKS)) {
    const re = new RegExp(`(<!-- settings:${name} -->\\n)[\\s\\S]*?(\\n<!-- /settings:${name} -->)`);
    if (!re.test(out)) throw new Error(`README.md has no <!-- settings:${name} --> … <!-- /settings:${name} --> block`);
    out = out.replace(re, (_m, a: string, b: string) => `${a}${make()}${b}`);
  }
  return out;
}
