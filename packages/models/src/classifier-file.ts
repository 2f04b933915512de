// The one reader and writer-side check of classifier.json, the file beside model.json in every saved
// model folder (a run's model/, the served model). Training, predict, evaluate, promote and serve all
// read it through here, so they apply the same checks and report the same errors.
//
// Extending the format: add an optional field to ClassifierMeta (a section with its own `format`
// string, e.g. `{ format: 'parts-xyz/1', ... }`) and check it in validateClassifierMeta only when
// present. Files without the section stay valid; readers keep every field they do not know.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { LIGHT_NORM_NAMES } from '@parts/cli';
import type { ClassifierMeta } from './types';

export const CLASSIFIER_JSON = 'classifier.json';
export const CLASSIFIER_FORMAT = 'parts-classifier/1';

const PREPROCESS = ['rescale01', 'caffe', 'tf', 'none'];

/**
 * Checks a parsed classifier.json; throws one error naming `where` (the file, or the folder being
 * saved) and every field that is wrong.
 */
export function validateClassifierMeta(meta: unknown, where: string): ClassifierMeta {
  const m = meta as Partial<ClassifierMeta> | null | undefined;
  const problems: string[] = [];
  if (typeof m !== 'object' || m === null || Array.isArray(m)) {
    throw new Error(`invalid classifier metadata (${where}): expected a JSON object`);
  }
  if (m.format !== CLASSIFIER_FORMAT) problems.push(`format must be '${CLASSIFIER_FORMAT}' (got ${JSON.stringify(m.format)})`);
  if (!Array.isArray(m.labels) || m.labels.length < 2) problems.push('labels must list at least 2 classes');
  if (!Number.isInteger(m.imgSize) || (m.imgSize as number) < 8) problems.push(`imgSize must be an integer >= 8 (got ${m.imgSize})`);
  if (m.fit !== 'cover' && m.fit !== 'contain') problems.push(`fit must be 'cover' or 'contain' (got ${JSON.stringify(m.fit)})`);
  if (!PREPROCESS.includes(m.preprocess as string)) problems.push(`preprocess is unknown: ${JSON.stringify(m.preprocess)}`);
  if (m.lightNorm !== undefined && !(LIGHT_NORM_NAMES as readonly string[]).includes(m.lightNorm)) problems.push(`lightNorm must be one of ${LIGHT_NORM_NAMES.join(', ')} (got ${JSON.stringify(m.lightNorm)})`);
  if (m.outputActivation !== 'sigmoid' && m.outputActivation !== 'softmax') problems.push('outputActivation must be sigmoid or softmax');
  if (m.outputActivation === 'sigmoid' && m.labels?.length !== 2) problems.push('a sigmoid output needs exactly 2 labels');
  if (problems.length) throw new Error(`invalid classifier metadata (${where}): ${problems.join('; ')}`);
  return m as ClassifierMeta;
}

/** Reads and checks one classifier.json file. */
export async function readClassifierFile(file: string): Promise<ClassifierMeta> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read ${file}: ${(e as Error).message}`);
  }
  return validateClassifierMeta(parsed, file);
}

/** The text written as classifier.json (checked first). */
export function classifierFileText(meta: ClassifierMeta, where: string): string {
  validateClassifierMeta(meta, where);
  return JSON.stringify(meta, null, 2);
}

/** Finds the model folder: `dir` itself, or `dir/model` for a run folder. */
export async function resolveModelDir(dir: string): Promise<string> {
  for (const candidate of [dir, path.join(dir, 'model')]) {
    try {
      await fs.access(path.join(candidate, CLASSIFIER_JSON));
      return candidate;
    } catch {
      /* try the next */
    }
  }
  throw new Error(`no classifier in ${dir}: expected ${CLASSIFIER_JSON} there or in ${path.join(dir, 'model')}`);
}

/** Reads the classifier.json of a model folder or of a run folder's model/. */
export async function readClassifierMeta(dir: string): Promise<ClassifierMeta> {
  return readClassifierFile(path.join(await resolveModelDir(dir), CLASSIFIER_JSON));
}
