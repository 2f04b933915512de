// Test fixtures: tiny image files and evaluations built from chosen probabilities.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { EVALUATION_FORMAT, EVALUATION_JSON, evaluatePredictions } from '../src/evaluation-record';
import type { Evaluation } from '../src/evaluation-record';

export async function tempDir(prefix = 'parts-eval-'): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), prefix));
}

/** A solid-colour JPEG (so thumbnails have something to read). */
export async function writeJpeg(file: string, rgb: [number, number, number], w = 40, h = 30): Promise<string> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await sharp({ create: { width: w, height: h, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } }).jpeg().toFile(file);
  return file;
}

export interface FakeEvalInput {
  runId: string;
  arch: string;
  mode: string;
  labels: string[];
  /** [file, true label, probabilities] */
  items: [string, string, number[]][];
  modelBytes?: number;
  dataRoot?: string;
}

export function fakeEvaluation(f: FakeEvalInput): Evaluation {
  const r = evaluatePredictions(
    f.labels,
    f.items.map(([file, trueLabel, probabilities]) => ({ file, trueLabel, probabilities })),
  );
  return {
    format: EVALUATION_FORMAT,
    runId: f.runId,
    runDir: `/runs/${f.runId}`,
    arch: f.arch,
    mode: f.mode as Evaluation['mode'],
    split: 'test',
    data: { root: f.dataRoot ?? '/data', sameAsTraining: true, training: { root: f.dataRoot ?? '/data', fingerprint: 'abc' } },
    imgSize: 32,
    fit: 'cover',
    preprocess: 'rescale01',
    modelBytes: f.modelBytes ?? 1000,
    backend: 'cpu',
    evaluatedAt: '2025-01-01T00:00:00.000Z',
    ...r,
  };
}

/**
 * A run folder with a (fake) saved model, trained on `dataRoot` (default /data), and its own
 * test evaluation in evaluation.json with `right` of 4 images correct.
 */
export async function fakeRun(
  root: string,
  runId: string,
  right: number,
  opts: { confident?: number; weightBytes?: number; dataRoot?: string } = {},
): Promise<{ dir: string; ev: Evaluation }> {
  const labels = ['big', 'small'];
  const dataRoot = opts.dataRoot ?? '/data';
  const dir = path.join(root, 'runs', runId);
  await fs.mkdir(path.join(dir, 'model'), { recursive: true });
  const c = opts.confident ?? 0.8;
  const items: [string, string, number[]][] = [0, 1, 2, 3].map((i) => {
    const truth = i < 2 ? 'big' : 'small';
    const ok = i < right;
    const pBig = (truth === 'big') === ok ? c : 1 - c;
    return [`/img/${i}.jpg`, truth, [pBig, 1 - pBig]];
  });
  const ev = fakeEvaluation({ runId, arch: 'tinyvgg', mode: 'scratch', labels, items, modelBytes: 0, dataRoot });
  ev.runDir = dir;
  await fs.writeFile(path.join(dir, 'model', 'model.json'), JSON.stringify({ runId }));
  await fs.writeFile(path.join(dir, 'model', 'weights.bin'), Buffer.alloc(opts.weightBytes ?? 100));
  await fs.writeFile(
    path.join(dir, 'model', 'classifier.json'),
    JSON.stringify({ format: 'parts-classifier/1', arch: 'tinyvgg', mode: 'scratch', labels, imgSize: 32, fit: 'cover', preprocess: 'rescale01', outputActivation: 'sigmoid', runId }),
  );
  await fs.writeFile(path.join(dir, 'config.json'), JSON.stringify({ runId, createdAt: '2025-01-01T00:00:00Z', data: { root: dataRoot, fingerprint: `fp-${runId}`, classes: labels }, backend: { name: 'cpu' } }));
  await fs.writeFile(path.join(dir, EVALUATION_JSON), JSON.stringify(ev));
  return { dir, ev };
}

/** The same evaluation as if taken of another split, or of another dataset (sameAsTraining false). */
export function otherScope(ev: Evaluation, change: { split?: Evaluation['split']; dataRoot?: string }): Evaluation {
  const data = change.dataRoot ? { ...ev.data, root: change.dataRoot, sameAsTraining: false } : ev.data;
  return { ...ev, split: change.split ?? ev.split, data };
}
