// pnpm predict: the prediction contract per file (known / unknown / no ood.json / options), the
// --explain files, and the CLI's JSON and text lines. Model: the demo fixture of @parts/models' tests.
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@parts/backend';
import { repoRoot } from '@parts/cli';
import { decodePhoto, encodeRgbPng, farOodImage } from '@parts/data';
import { loadPredictor, OOD_JSON } from '@parts/models';
import { makeTrainedModel, type TrainedFixture } from '../../models/test/trained-model-fixture';
import { formatPredictionLine, predictFiles, type FilePrediction } from '../src/index';

let tmp: string;
let fx: TrainedFixture;
let known: string;
let far: string;

beforeAll(async () => {
  await initBackend('cpu', () => {});
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'predict-test-'));
  fx = await makeTrainedModel(tmp);
  known = fx.known[1]!.file; // a big-bolt test photo the fixture's detector accepts
  far = path.join(tmp, 'checkerboard.png');
  await fs.writeFile(far, await encodeRgbPng(farOodImage('checkerboard', 1, 200, 150)));
});

afterAll(async () => {
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

async function run(modelDir: string, files: string[], o: Parameters<typeof loadPredictor>[1] = {}, explainDir?: string): Promise<FilePrediction[]> {
  const p = await loadPredictor(modelDir, o);
  const out: FilePrediction[] = [];
  try {
    for await (const r of predictFiles(p, files, { explainDir })) out.push(r);
  } finally {
    p.dispose();
  }
  return out;
}

/** Width, height and colour type (0 grey, 2 RGB) from a PNG's IHDR. */
async function pngHeader(file: string): Promise<{ width: number; height: number; colorType: number }> {
  const b = await fs.readFile(file);
  expect(b.subarray(1, 4).toString('ascii')).toBe('PNG');
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20), colorType: b[25]! };
}

function expectContract(r: FilePrediction) {
  expect(r.error).toBeUndefined();
  const ps = r.probabilities!;
  expect(Object.keys(ps)).toEqual(['big', 'small']);
  expect(ps.big! + ps.small!).toBeCloseTo(1, 5);
  expect(r.probability).toBe(Math.max(...Object.values(ps)));
  expect(ps[r.top!]).toBe(r.probability);
  expect(r.label).toBe(r.unknown ? null : r.top);
}

describe('predictFiles', () => {
  it('accepts a known photo and rejects a generated far-OOD image, with the OOD score and threshold', async () => {
    const [k, f] = await run(fx.modelDir, [known, far]);
    for (const r of [k!, f!]) expectContract(r);
    expect(k!).toMatchObject({ label: 'big', unknown: false, top: 'big', ood: { method: 'knn' } });
    expect(k!.ood!.score).toBeGreaterThanOrEqual(k!.ood!.threshold);
    expect(f!.unknown).toBe(true);
    expect(f!.label).toBeNull();
    expect(f!.ood!.score).toBeLessThan(f!.ood!.threshold);
    expect(formatPredictionLine(f!)).toMatch(new RegExp(`\\tunknown \\(closest: ${f!.top}, \\d\\.\\d{3}\\)\\t`));
    expect(formatPredictionLine(k!)).toMatch(/\tbig\tbig=/);
  });

  it('--unknown-threshold replaces the stored threshold; --no-unknown ignores ood.json', async () => {
    const [stored] = await run(fx.modelDir, [far]);
    const [low] = await run(fx.modelDir, [far], { threshold: stored!.ood!.score - 1e-6 });
    expect(low).toMatchObject({ unknown: false, label: low!.top, ood: { threshold: stored!.ood!.score - 1e-6 } });
    const [high] = await run(fx.modelDir, [known], { threshold: 2 }); // knn cosine scores are <= 1
    expect(high!.unknown).toBe(true);
    const [off] = await run(fx.modelDir, [far], { enabled: false });
    expect(off).toMatchObject({ unknown: false, label: off!.top, ood: null });
    // uncalibrated: the model's own softmax (T = 1), not the stored temperature's (set to 2.5 here)
    const warm = path.join(tmp, 'warm');
    await fs.cp(fx.modelDir, warm, { recursive: true });
    const ood = JSON.parse(await fs.readFile(path.join(warm, OOD_JSON), 'utf8'));
    await fs.writeFile(path.join(warm, OOD_JSON), JSON.stringify({ ...ood, temperature: 2.5 }));
    const [calibrated, plain] = [(await run(warm, [known]))[0]!, (await run(warm, [known], { enabled: false }))[0]!];
    expect(plain.probability).not.toBeCloseTo(calibrated.probability!, 3);
    // binary softmax: p_T = sigmoid(logit(p) / T)
    const logit = Math.log(plain.probability! / (1 - plain.probability!));
    expect(calibrated.probability).toBeCloseTo(1 / (1 + Math.exp(-logit / 2.5)), 4);
  });

  it('a model without ood.json is never unknown and uses T = 1', async () => {
    const bare = path.join(tmp, 'bare');
    await fs.cp(fx.modelDir, bare, { recursive: true });
    await fs.rm(path.join(bare, OOD_JSON));
    const p = await loadPredictor(bare);
    expect(p.ood).toMatchObject({ active: false, temperature: 1 });
    p.dispose();
    const [f] = await run(bare, [far]);
    const [off] = await run(fx.modelDir, [far], { enabled: false });
    expect(f).toMatchObject({ unknown: false, label: f!.top, ood: null, probabilities: off!.probabilities });
    await expect(loadPredictor(bare, { threshold: 0.5 })).rejects.toThrow(path.join(bare, OOD_JSON));
  });

  it('a corrupt ood.json fails naming the file, unless unknown detection is off', async () => {
    const bad = path.join(tmp, 'corrupt');
    await fs.cp(fx.modelDir, bad, { recursive: true });
    await fs.writeFile(path.join(bad, OOD_JSON), '{"format": "parts-ood/1", "method": ');
    await expect(loadPredictor(bad)).rejects.toThrow(`${path.join(bad, OOD_JSON)}: not valid JSON`);
    const [r] = await run(bad, [known], { enabled: false });
    expect(r).toMatchObject({ label: 'big', unknown: false, ood: null });
  });

  it('--explain writes a heatmap and an overlay at the photo size, named after the photo', async () => {
    const dir = path.join(tmp, 'explain');
    const [k, f] = await run(fx.modelDir, [known, far], {}, dir);
    const name = path.basename(known, path.extname(known));
    expect(k).toMatchObject({ heatmap: path.join(dir, `${name}.heatmap.png`), overlay: path.join(dir, `${name}.overlay.png`), layer: 'block2_conv2' });
    expect(f).toMatchObject({ heatmap: path.join(dir, 'checkerboard.heatmap.png'), overlay: path.join(dir, 'checkerboard.overlay.png') });
    const photo = await decodePhoto(await fs.readFile(known));
    expect([photo.width, photo.height]).toEqual([320, 240]);
    for (const [file, w, h] of [[k!.heatmap!, 320, 240], [k!.overlay!, 320, 240], [f!.heatmap!, 200, 150], [f!.overlay!, 200, 150]] as const) {
      expect(await pngHeader(file)).toMatchObject({ width: w, height: h });
    }
  });
});

describe('pnpm predict (CLI)', () => {
  const tsx = path.join(repoRoot(), 'node_modules', '.bin', 'tsx');
  const cli = path.join(repoRoot(), 'packages', 'train', 'src', 'cli', 'predict.ts');
  const exec = (args: string[]) =>
    promisify(execFile)(tsx, [cli, '--backend', 'cpu', ...args]).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );

  it('--json lines carry the contract and the --explain paths; text lines say unknown (closest: ...)', async () => {
    const dir = path.join(tmp, 'cli-explain');
    const j = await exec(['--model', fx.modelDir, '--json', '--explain', dir, known, far]);
    expect(j.code).toBe(0);
    const lines = j.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.file, l.label, l.unknown])).toEqual([[known, 'big', false], [far, null, true]]);
    for (const l of lines) {
      expect(Object.keys(l).sort()).toEqual(['file', 'heatmap', 'label', 'layer', 'ood', 'overlay', 'probabilities', 'probability', 'top', 'unknown']);
      expect(Object.keys(l.ood).sort()).toEqual(['method', 'score', 'threshold']);
      await fs.access(l.overlay);
    }
    const t = await exec(['--model', fx.modelDir, far]);
    expect(t.stdout).toMatch(new RegExp(`^${far}\\tunknown \\(closest: (big|small), \\d\\.\\d{3}\\)\\tbig=`));
  });

  it('a corrupt ood.json stops with an error naming the file; --no-unknown classifies', async () => {
    const bad = path.join(tmp, 'corrupt-cli');
    await fs.cp(fx.modelDir, bad, { recursive: true });
    await fs.writeFile(path.join(bad, OOD_JSON), '{"format": "parts-ood/0"}');
    const e = await exec(['--model', bad, '--json', known]);
    expect(e.code).toBe(1);
    expect(e.stderr).toContain(`${path.join(bad, OOD_JSON)}: field "format"`);
    const ok = await exec(['--model', bad, '--json', '--no-unknown', known]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ label: 'big', unknown: false, ood: null });
  });
});
