import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { generateDemoDataset, listDataset } from '../src/index';
import { tempDir } from './fixtures';

const small = { trainPerClass: 3, testPerClass: 2, width: 160, height: 120 };

function filesUnder(root: string): string[] {
  return readdirSync(root, { recursive: true, encoding: 'utf8' })
    .filter((f) => statSync(path.join(root, f)).isFile())
    .sort();
}

/** Pixels much darker than the paper (the part), counted on a grayscale copy. */
async function darkArea(file: string): Promise<number> {
  const { data } = await sharp(file).grayscale().raw().toBuffer({ resolveWithObject: true });
  const sorted = Uint8Array.from(data).sort();
  const paper = sorted[sorted.length >> 1];
  return data.reduce((n, v) => n + (v < paper * 0.5 ? 1 : 0), 0);
}

describe('generateDemoDataset', () => {
  it('is deterministic: same seed, same bytes; another seed, other bytes', async () => {
    const a = await generateDemoDataset(path.join(tempDir(), 'a'), { seed: 11, ...small });
    const b = await generateDemoDataset(path.join(tempDir(), 'b'), { seed: 11, ...small });
    const c = await generateDemoDataset(path.join(tempDir(), 'c'), { seed: 12, ...small });
    const files = filesUnder(a.root);
    expect(filesUnder(b.root)).toEqual(files);
    for (const f of files) expect(readFileSync(path.join(b.root, f)).equals(readFileSync(path.join(a.root, f))), f).toBe(true);
    const same = files.filter((f) => f.endsWith('.jpg') && existsIn(c.root, f) && readFileSync(path.join(c.root, f)).equals(readFileSync(path.join(a.root, f))));
    expect(same).toEqual([]);
  });

  it('writes the default layout and counts: 40 big / 20 small, 2/3 train, 640x480', async () => {
    // CPU time of this process (sharp's threads included), not the wall clock: other processes on a
    // shared machine do not count.
    const started = process.cpuUsage();
    const r = await generateDemoDataset(path.join(tempDir(), 'default'));
    const used = process.cpuUsage(started);
    const seconds = (used.user + used.system) / 1e6;
    expect(r.classes).toEqual(['big', 'small']);
    expect(r.count).toBe(60);
    const idx = await listDataset(r.root);
    expect(idx.classes).toEqual(['big', 'small']);
    expect(idx.splitSource).toEqual({ train: 'folder', val: 'none', test: 'folder' });
    const count = (split: 'train' | 'test', label: number) => idx.splits[split].filter((s) => s.label === label).length;
    expect([count('train', 0), count('test', 0), count('train', 1), count('test', 1)]).toEqual([27, 13, 13, 7]);
    const meta = await sharp(idx.splits.train[0].file).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 640, 480]);
    // A few seconds of CPU normally.
    expect(seconds).toBeLessThan(30);
  });

  it('draws the big part clearly larger than the small one', async () => {
    const r = await generateDemoDataset(path.join(tempDir(), 'sizes'), { seed: 3, trainPerClass: 6, testPerClass: 1, width: 320, height: 240 });
    const idx = await listDataset(r.root);
    const areas = await Promise.all(idx.splits.train.map(async (s) => ({ label: s.label, area: await darkArea(s.file) })));
    const big = areas.filter((a) => a.label === 0).map((a) => a.area);
    const smallAreas = areas.filter((a) => a.label === 1).map((a) => a.area);
    expect(Math.min(...smallAreas)).toBeGreaterThan(0);
    expect(Math.min(...big)).toBeGreaterThan(2 * Math.max(...smallAreas));
  });

  it('is idempotent, replaces its own output when options change, and leaves no temp folders', async () => {
    const parent = tempDir();
    const out = path.join(parent, 'demo');
    await generateDemoDataset(out, { seed: 1, ...small });
    const file = path.join(out, 'train/big/big_001.jpg');
    const mtime = statSync(file).mtimeMs;
    await generateDemoDataset(out, { seed: 1, ...small });
    expect(statSync(file).mtimeMs).toBe(mtime);

    const before = readFileSync(file);
    const r = await generateDemoDataset(out, { seed: 2, ...small, trainPerClass: 4 });
    expect(readFileSync(file).equals(before)).toBe(false);
    expect(filesUnder(path.join(out, 'train/big'))).toHaveLength(4);
    expect(r.count).toBe(12);
    expect(readdirSync(parent)).toEqual(['demo']);
  });

  it('refuses to overwrite a folder it did not create', async () => {
    const out = path.join(tempDir(), 'mine');
    mkdirSync(out);
    writeFileSync(path.join(out, 'precious.txt'), 'keep me');
    await expect(generateDemoDataset(out, small)).rejects.toThrow(`refusing to overwrite ${out}`);
    expect(readFileSync(path.join(out, 'precious.txt'), 'utf8')).toBe('keep me');
  });

  it('validates its options', async () => {
    await expect(generateDemoDataset(path.join(tempDir(), 'x'), { width: 10 })).rejects.toThrow(/width must be an integer in \[32, 8192\]/);
    await expect(generateDemoDataset(path.join(tempDir(), 'x'), { trainPerClass: 0 })).rejects.toThrow(/trainPerClass must be a positive integer/);
  });
});

function existsIn(root: string, f: string): boolean {
  try {
    return statSync(path.join(root, f)).isFile();
  } catch {
    return false;
  }
}
