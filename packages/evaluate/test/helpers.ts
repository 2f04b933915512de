// Test fixtures: tiny image files and evaluations built from chosen probabilities.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { EVALUATION_FORMAT, evaluatePredictions } from '../src/evaluation-record';
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
