// Which explanation method points at the part? For a trained model and photos of dark parts on light
// paper (folders <dir>/<class>/<image> or files), computes each method's map of every class of every
// photo and its darkness focus (darknessFocus: heat-weighted mean darkness over the photo's mean
// darkness; 1 = a uniform map), and prints per method: the share of maps at >= DARKNESS_FOCUS_MIN for
// the predicted class, for the true class and for every class, the range per true class, and the time.
//   pnpm exec tsx packages/evaluate/src/bench-explain.ts --model RUN_OR_MODEL_DIR [--backend wasm]
//     [--methods grad-cam@block4_relu,contrast@block3b_relu,occlusion] [--max-side 512] [--json FILE] [--alias M5_bolt=small] PATHS...
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend, type BackendName } from '@parts/backend';
import { decodeImage, decodePhoto, downscaleRgb, type RawImage } from '@parts/data';
import { darkPixelWeight, DARK_WEIGHT_MIN_RATIO, darknessFocus, DARKNESS_FOCUS_MIN, gradCamForInput, inputMapToPhoto, loadClassifier, type CamMethod } from '@parts/models';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    model: { type: 'string' },
    backend: { type: 'string', default: 'wasm' },
    methods: { type: 'string' },
    'max-side': { type: 'string', default: '512' },
    json: { type: 'string' },
    alias: { type: 'string', multiple: true },
  },
});
if (!values.model) throw new Error('--model DIR is required');
if (!positionals.length) throw new Error('give photo folders (<dir>/<class>/<image>) or files');
await initBackend(values.backend as BackendName, () => {});
const c = await loadClassifier(values.model);
const { labels } = c.meta;

async function listPhotos(p: string): Promise<{ file: string; label: string }[]> {
  const st = await fs.stat(p);
  if (st.isFile()) return [{ file: p, label: path.basename(path.dirname(p)) }];
  const out: { file: string; label: string }[] = [];
  for (const e of (await fs.readdir(p, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    const f = path.join(p, e.name);
    if (e.isDirectory()) out.push(...(await listPhotos(f)));
    else if (/\.(jpe?g|png)$/i.test(e.name)) out.push({ file: f, label: path.basename(p) });
  }
  return out;
}
// --alias FOLDER=LABEL: photos in a folder named FOLDER are of class LABEL (e.g. M5_bolt=small).
const aliases = new Map((values.alias ?? []).map((a) => a.split('=') as [string, string]));
const photos = (await Promise.all(positionals.map(listPhotos))).flat().map((p) => ({ ...p, label: aliases.get(p.label) ?? p.label }));
const methods = (values.methods ?? 'grad-cam@block4_relu,hirescam@block3b_relu,contrast@block4_relu,contrast@block3b_relu,occlusion').split(',').map((m) => {
  // method[@layer][:patch] (patch: occlusion's patch side as a share of the input side)
  const [spec, patch] = m.split(':');
  const [method, layer] = spec.split('@');
  return { name: m, method: method as CamMethod, layer, occlusion: patch ? { patch: Number(patch) } : undefined };
});

interface Row {
  file: string;
  label: string;
  predicted: string;
  /** darkness focus per class, in label order (NaN: no evidence) */
  focus: number[];
  /** darkPixelWeight ratio per class: the map's mean over the part pixels (luma below half the median) over its mean; vignetted edges do not count */
  part: number[];
}
const results: Record<string, { rows: Row[]; seconds: number }> = {};
const decoded: { input: RawImage; photo: RawImage; file: string; label: string }[] = [];
for (const p of photos) {
  const bytes = await fs.readFile(p.file);
  decoded.push({ ...p, input: await decodeImage(bytes, { size: c.meta.imgSize, fit: c.meta.fit }), photo: await downscaleRgb(await decodePhoto(bytes), Number(values['max-side'])) });
}
const pass = (v: number) => v >= DARKNESS_FOCUS_MIN;
const fmt = (xs: number[]) => {
  const ok = xs.filter((x) => !Number.isNaN(x));
  return ok.length ? `${Math.min(...ok).toFixed(2)}–${Math.max(...ok).toFixed(2)}${ok.length < xs.length ? ` (${xs.length - ok.length} no evidence)` : ''}` : 'no evidence';
};
const header = `model ${values.model} (${c.meta.arch} ${c.meta.imgSize} px ${c.meta.fit}), ${photos.length} photos; pass = focus >= ${DARKNESS_FOCUS_MIN}`;
function report(name: string, r: { rows: Row[]; seconds: number }): void {
  const n = r.rows.length;
  const pred = r.rows.filter((x) => pass(x.focus[labels.indexOf(x.predicted)])).length;
  const tru = r.rows.filter((x) => labels.includes(x.label) && pass(x.focus[labels.indexOf(x.label)])).length;
  const all = r.rows.reduce((s, x) => s + x.focus.filter(pass).length, 0);
  const byClass = labels
    .map((l) => `${l} photos: ${labels.map((k, j) => `map ${k} ${fmt(r.rows.filter((x) => x.label === l).map((x) => x.focus[j]))}`).join(', ')}`)
    .join('; ');
  const predPart = r.rows.filter((x) => x.part[labels.indexOf(x.predicted)] > DARK_WEIGHT_MIN_RATIO).length;
  console.log(`${name}: predicted ${pred}/${n} (part pixels > ${DARK_WEIGHT_MIN_RATIO}x the map mean: ${predPart}/${n}), true ${tru}/${n}, every class ${all}/${n * labels.length}; ${(r.seconds / n / labels.length).toFixed(2)} s per map\n  ${byClass}`);
}
console.log(header);
for (const m of methods) {
  await gradCamForInput(c, decoded[0].input, { method: m.method, layer: m.layer, occlusion: m.occlusion }); // warm-up
  const rows: Row[] = [];
  const t0 = performance.now();
  for (const d of decoded) {
    const focus: number[] = [];
    const part: number[] = [];
    let predicted = '';
    for (let k = 0; k < labels.length; k++) {
      const cam = await gradCamForInput(c, d.input, { method: m.method, layer: m.layer, occlusion: m.occlusion, classIndex: k, photo: { width: d.photo.width, height: d.photo.height } });
      predicted = labels[cam.probabilities.indexOf(Math.max(...cam.probabilities))];
      const heat = inputMapToPhoto(cam.inputMap, c.meta.fit, d.photo.width, d.photo.height);
      focus.push(darknessFocus(heat, d.photo));
      part.push(darkPixelWeight(heat, d.photo).ratio);
    }
    rows.push({ file: path.basename(d.file), label: d.label, predicted, focus, part });
  }
  results[m.name] = { rows, seconds: (performance.now() - t0) / 1000 };
  report(m.name, results[m.name]);
  if (values.json) await fs.writeFile(values.json, JSON.stringify({ model: values.model, labels, results }, null, 2));
}

