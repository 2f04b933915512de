// Files outside the code: cached ImageNet weights, Chromium and fonts, the shared datasets, the promoted model.
import path from 'node:path';
import type { DiagnoseProbes, ModelProbe } from './probes';
import type { Check } from './types';

/**
 * One line for the cache folder and, once any file is cached, one per pretrained architecture's
 * `*_notop.h5` (present and md5-verified, corrupt, or missing).
 */
export async function checkWeights(p: DiagnoseProbes): Promise<Check[]> {
  const names = await p.listDir(p.weightsDir);
  const cached = p.pretrained.filter((w) => names?.includes(w.fileName));
  if (!cached.length) {
    // The usual state of a fresh clone: one line, the files and their URLs in --json.
    return [
      {
        id: 'weights',
        title: 'weights cache',
        verdict: 'info',
        summary: `no ImageNet weights cached yet in ${p.weightsDir}: each is downloaded on its first \`--weights imagenet\` run (needs internet)`,
        fix: `offline: download the ${p.pretrained.length} *_notop.h5 files (URLs: \`pnpm diagnose --json\`) elsewhere and put them there`,
        details: { cacheDir: p.cacheDir, weightsDir: p.weightsDir, exists: names !== null, files: p.pretrained },
      },
    ];
  }
  const checks: Check[] = [
    {
      id: 'weights',
      title: 'weights cache',
      verdict: 'info',
      summary: `${p.weightsDir}${names ? '' : ' (not created yet)'} ($PARTS_CACHE_DIR, else $XDG_CACHE_HOME/parts-classifier, else ~/.cache/parts-classifier)`,
      details: { cacheDir: p.cacheDir, weightsDir: p.weightsDir, exists: names !== null },
    },
  ];
  for (const w of p.pretrained) {
    const file = path.join(p.weightsDir, w.fileName);
    const base = { id: `weights:${w.arch}`, title: `weights ${w.arch}`, details: { file, url: w.url, md5: w.md5 } as Record<string, unknown> };
    if (!names?.includes(w.fileName)) {
      checks.push({
        ...base,
        verdict: 'info',
        summary: `${w.fileName} not cached: downloaded on first \`--weights imagenet\` (needs internet)`,
        fix: `offline: download ${w.url} elsewhere and put it into ${p.weightsDir}/`,
      });
      continue;
    }
    const md5 = await p.md5(file);
    base.details.actualMd5 = md5;
    checks.push(
      md5 === w.md5
        ? { ...base, verdict: 'ok', summary: `${w.fileName} present, md5 verified` }
        : { ...base, verdict: 'warn', summary: `${w.fileName} has md5 ${md5}, expected ${w.md5} (incomplete or another file)`, fix: `delete ${file}; it is downloaded again on next use` },
    );
  }
  return checks;
}

export async function checkBrowserAndFonts(p: DiagnoseProbes): Promise<Check[]> {
  const chromium = '/usr/bin/chromium';
  const font = '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf';
  const [hasChromium, hasFont] = await Promise.all([p.exists(chromium), p.exists(font)]);
  return [
    hasChromium
      ? { id: 'chromium', title: 'Chromium', verdict: 'ok', summary: `${chromium} (the upload page's browser test runs)` }
      : { id: 'chromium', title: 'Chromium', verdict: 'info', summary: `${chromium} missing: the upload page's browser test is skipped`, fix: '`sudo apt-get install chromium` (or `bash scripts/setup.sh` as root)' },
    hasFont
      ? { id: 'fonts', title: 'DejaVu fonts', verdict: 'ok', summary: font }
      : { id: 'fonts', title: 'DejaVu fonts', verdict: 'info', summary: 'system DejaVu fonts missing: charts use the bundled @fontsource/dejavu-sans', fix: '`sudo apt-get install fonts-dejavu-core` (optional)' },
  ];
}

const IMAGE = /\.(jpe?g|png|webp)$/i;

/** The shared real-photo datasets (`../shared/datasets` beside the repository): images per split. */
export async function checkDatasets(p: DiagnoseProbes): Promise<Check> {
  const dir = path.resolve(p.root, '..', 'shared', 'datasets');
  const names = (await p.listDir(dir))?.filter((n) => !n.startsWith('.') && !/\.(md|txt|json)$/i.test(n)).sort();
  if (!names?.length) {
    return { id: 'datasets', title: 'shared datasets', verdict: 'info', summary: `${dir} not found: the accuracy gate is skipped; \`pnpm study\` uses the demo data`, fix: 'optional: `pnpm dataset:demo` makes the demo dataset; real photos go into ../shared/datasets/<name>/{train,test}/<class>/' };
  }
  const summary: string[] = [];
  const details: Record<string, Record<string, number>> = {};
  for (const name of names) {
    const counts: Record<string, number> = {};
    for (const split of ['train', 'val', 'test']) {
      const classes = await p.listDir(path.join(dir, name, split));
      if (!classes) continue;
      let n = 0;
      for (const c of classes) n += ((await p.listDir(path.join(dir, name, split, c))) ?? []).filter((f) => IMAGE.test(f)).length;
      counts[split] = n;
    }
    details[name] = counts;
    summary.push(`${name} (${Object.entries(counts).map(([s, n]) => `${s} ${n}`).join(', ') || 'no splits'})`);
  }
  const empty = Object.entries(details).filter(([, c]) => !Object.values(c).some((n) => n > 0));
  return {
    id: 'datasets',
    title: 'shared datasets',
    verdict: empty.length ? 'warn' : 'ok',
    summary: `${dir}: ${summary.join('; ')}`,
    fix: empty.length ? `no images in ${empty.map(([n]) => n).join(', ')}: expected <name>/{train,test}/<class>/<image>; \`pnpm data:check --data DIR\` says more` : undefined,
    details: { dir, datasets: details },
  };
}

/**
 * The promoted model (packages/serve/model): id and labels, whether it loads, its unknown-photo detector,
 * and its parity record re-checked on this machine (a failure is what `pnpm serve` would refuse it for).
 */
export async function checkPromotedModel(p: DiagnoseProbes): Promise<Check> {
  const base = { id: 'model', title: 'promoted model' };
  if (!(await p.exists(p.modelDir))) {
    return {
      ...base,
      verdict: 'info',
      summary: `none yet (${p.modelDir}): \`pnpm serve\` and \`pnpm predict\` need one`,
      fix: 'run `pnpm study`, or `pnpm train` then `pnpm evaluate --promote`',
      details: { dir: p.modelDir, present: false },
    };
  }
  let m: ModelProbe;
  try {
    m = await p.loadModel(p.modelDir);
  } catch (e) {
    return {
      ...base,
      verdict: 'warn',
      summary: `${p.modelDir} does not load: ${(e as Error).message.split('\n')[0]}`,
      fix: '`pnpm promote --rollback` restores the previous one; or promote again: `pnpm evaluate --promote --force`',
      details: { dir: p.modelDir, present: true, error: (e as Error).message },
    };
  }
  const parts = [`${m.id} (${m.arch}/${m.mode}), labels: ${m.labels.join(', ')}; loads`];
  if (m.unknown) {
    parts.push(m.unknown.active
      ? `answers unknown by ${m.unknown.method} at threshold ${m.unknown.threshold.toPrecision(4)} (temperature ${m.unknown.temperature.toFixed(2)})`
      : `unknown: ${m.unknown.reason}`);
  }
  if (m.parity === null) parts.push('no parity record (promoted before records were kept): not checked');
  else if (m.parity) {
    parts.push(m.parity.ok
      ? `parity ok on ${m.parity.backend} (${m.parity.photos} photos, max |Δp| ${m.parity.maxAbsDiff.toExponential(1)} ≤ ${m.parity.tolerance})`
      : `parity FAILS on ${m.parity.backend}: ${m.parity.reason}`);
  }
  const details = { dir: p.modelDir, present: true, ...m };
  if (m.parity && !m.parity.ok) {
    return {
      ...base,
      verdict: 'warn',
      summary: parts.join('; '),
      fix: '`pnpm serve` refuses this model: promote the evaluated run again (`pnpm evaluate --promote --force`) or `pnpm promote --rollback`',
      details,
    };
  }
  return { ...base, verdict: 'ok', summary: parts.join('; '), details };
}
