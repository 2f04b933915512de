import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeReport } from '../src/report';
import { buildLeaderboard, compareRuns, publishedResult } from '../src/leaderboard';
import type { Leaderboard, ReportRun } from '../src/leaderboard';
import { fakeEvaluation, tempDir, writeJpeg } from './helpers';

async function fixture() {
  const dir = await tempDir();
  const data = path.join(dir, 'data');
  const files = await Promise.all([
    writeJpeg(path.join(data, 'test/big/b1.jpg'), [200, 30, 30]),
    writeJpeg(path.join(data, 'test/big/b2.jpg'), [180, 40, 40]),
    writeJpeg(path.join(data, 'test/small/s1.jpg'), [30, 30, 200]),
    writeJpeg(path.join(data, 'test/small/s2.jpg'), [40, 40, 180]),
  ]);
  const labels = ['big', 'small'];
  // tinyvgg: 3/4 right (s2 called big); vgg16 extract: 4/4.
  const tiny = fakeEvaluation({
    runId: 'r1-tinyvgg-scratch', arch: 'tinyvgg', mode: 'scratch', labels, dataRoot: data,
    items: [[files[0], 'big', [0.9, 0.1]], [files[1], 'big', [0.7, 0.3]], [files[2], 'small', [0.2, 0.8]], [files[3], 'small', [0.85, 0.15]]],
  });
  const vgg = fakeEvaluation({
    runId: 'r2-vgg16-extract', arch: 'vgg16', mode: 'extract', labels, dataRoot: data,
    items: [[files[0], 'big', [0.6, 0.4]], [files[1], 'big', [0.6, 0.4]], [files[2], 'small', [0.4, 0.6]], [files[3], 'small', [0.3, 0.7]]],
  });
  const runs: ReportRun[] = [
    { runId: tiny.runId, runDir: '/runs/r1', status: 'ok', evaluation: tiny, history: { epochs: [1, 2, 3].map((e) => ({ epoch: e, loss: 1 / e, acc: 0.5 + e / 10, valLoss: 1 / e, valAcc: 0.5 })), bestEpoch: 2 } },
    { runId: vgg.runId, runDir: '/runs/r2', status: 'ok', evaluation: vgg },
    { runId: 'r3-resnet50-finetune', runDir: '/runs/r3', arch: 'resnet50', mode: 'finetune', status: 'bad', reason: 'missing metrics.json; missing model/classifier.json' },
    { runId: 'inception-extract', arch: 'inception', mode: 'extract', status: 'skipped', reason: 'ImageNet weights unavailable: offline' },
  ];
  return { dir, runs };
}

describe('leaderboard', () => {
  it('ranks by balanced accuracy, then log loss, then model size', () => {
    expect(compareRuns({ balancedAccuracy: 0.9, logLoss: 1, modelBytes: 9 }, { balancedAccuracy: 0.8, logLoss: 0.1, modelBytes: 1 })).toBeLessThan(0);
    expect(compareRuns({ balancedAccuracy: 0.8, logLoss: 0.2, modelBytes: 9 }, { balancedAccuracy: 0.8, logLoss: 0.1, modelBytes: 1 })).toBeGreaterThan(0);
    expect(compareRuns({ balancedAccuracy: 0.8, logLoss: 0.1, modelBytes: 5 }, { balancedAccuracy: 0.8, logLoss: 0.1, modelBytes: 9 })).toBeLessThan(0);
  });
  it('knows the published accuracies, with aliases', () => {
    expect(publishedResult('inceptionv3', 'finetune')).toMatchObject({ accuracy: 0.71, correct: 15, n: 21 });
    expect(publishedResult('vgg16', 'extract')?.correct).toBe(9);
    expect(publishedResult('tinyvgg', 'extract')).toBeNull();
  });
});

describe('writeReport', () => {
  it('writes index.html, report.md and leaderboard.json with the leaderboard and the bad/skipped runs', async () => {
    const { dir, runs } = await fixture();
    const out = path.join(dir, 'reports');
    const res = await writeReport(runs, { outRoot: out, date: new Date(2025, 0, 2, 3, 4, 5) });
    expect(res.dir).toBe(path.join(out, '20250102-030405'));
    expect((await fs.readdir(out)).filter((n) => n.startsWith('.'))).toEqual([]); // no temp folder left

    const lb: Leaderboard = JSON.parse(await fs.readFile(path.join(res.dir, 'leaderboard.json'), 'utf8'));
    expect(lb.best).toBe('r2-vgg16-extract'); // 4/4 beats 3/4
    expect(lb.entries.map((e) => [e.runId, e.rank, e.status])).toEqual([
      ['r2-vgg16-extract', 1, 'ok'],
      ['r1-tinyvgg-scratch', 2, 'ok'],
      ['r3-resnet50-finetune', null, 'bad'],
      ['inception-extract', null, 'skipped'],
    ]);
    expect(lb.entries[0].published?.accuracy).toBe(0.43);
    expect(lb.entries[1].accuracyInterval!.low).toBeGreaterThan(0);
    expect(lb.sameTestSetAsStudy.same).toBe(false);
    expect(lb.sameTestSetAsStudy.explanation).toMatch(/4 images/);

    const html = await fs.readFile(path.join(res.dir, 'index.html'), 'utf8');
    expect(html).toContain('r2-vgg16-extract');
    expect(html).toContain('missing metrics.json');
    expect(html).toContain('ImageNet weights unavailable: offline');
    expect(html).toContain('study (n=21)');
    // Self-contained: pictures are data URIs, no relative file references.
    const srcs = [...html.matchAll(/<img[^>]*src="([^"]+)"/g)].map((m) => m[1]);
    // leaderboard + 2×(confusion, ROC) + 1 learning curve + 1 misclassified thumbnail
    expect(srcs.length).toBe(7);
    expect(srcs.every((s) => s.startsWith('data:image/'))).toBe(true);
    expect(html).toMatch(/true <b>small<\/b>, predicted <b>big<\/b> \(p=0\.850\)/);

    const md = await fs.readFile(path.join(res.dir, 'report.md'), 'utf8');
    expect(md).toContain('| 1 | r2-vgg16-extract | vgg16 | extract | 100.0% (4/4)');
    expect(md).toContain('| bad | r3-resnet50-finetune |');
    expect(md).toContain('| skipped | inception-extract |');
    for (const m of md.matchAll(/!\[[^\]]*\]\(([^)]+)\)/g)) {
      expect((await fs.stat(path.join(res.dir, m[1]))).size).toBeGreaterThan(100);
    }
    expect(res.warnings).toEqual([]);
  });

  it('lists runs skipped for the same reason once, with every run it applies to', async () => {
    const { dir, runs } = await fixture();
    const offline = 'ImageNet weights unavailable: offline';
    const skipped: ReportRun[] = ['vgg16', 'resnet50', 'inception'].flatMap((arch) =>
      (['extract', 'finetune'] as const).map((mode) => ({ runId: `${arch}-${mode}`, arch, mode, status: 'skipped' as const, reason: offline })),
    );
    const res = await writeReport([...runs.filter((r) => r.status === 'ok' || r.status === 'bad'), ...skipped], { outRoot: path.join(dir, 'reports') });
    const md = await fs.readFile(path.join(res.dir, 'report.md'), 'utf8');
    const html = await fs.readFile(path.join(res.dir, 'index.html'), 'utf8');
    expect(md.split(offline).length - 1).toBe(1);
    expect(html.split(offline).length - 1).toBe(1);
    expect(md).toContain(`| skipped | ${skipped.map((s) => s.runId).join(', ')} | ${offline} |`);
    expect(md).toContain('| bad | r3-resnet50-finetune |');
  });

  it('still writes a report when nothing could be evaluated, and a second report gets its own folder', async () => {
    const { dir, runs } = await fixture();
    const out = path.join(dir, 'reports');
    const date = new Date(2025, 0, 2, 3, 4, 5);
    const bad = runs.filter((r) => r.status !== 'ok');
    const a = await writeReport(bad, { outRoot: out, date });
    const b = await writeReport(bad, { outRoot: out, date });
    expect(a.dir).not.toBe(b.dir);
    expect(a.leaderboard.best).toBeNull();
    expect(await fs.readFile(path.join(a.dir, 'index.html'), 'utf8')).toContain('No run could be evaluated');
  });

  it('warns when runs were evaluated on different test sets', async () => {
    const { dir, runs } = await fixture();
    runs[1].evaluation!.data = { ...runs[1].evaluation!.data, root: '/elsewhere' };
    const res = await writeReport(runs, { outRoot: path.join(dir, 'reports') });
    expect(res.leaderboard.testSets).toHaveLength(2);
    expect(await fs.readFile(path.join(res.dir, 'report.md'), 'utf8')).toMatch(/evaluated on 2 different test sets/);
  });

  it('lists a missing thumbnail as a warning instead of failing', async () => {
    const { dir, runs } = await fixture();
    const ev = runs[0].evaluation!;
    ev.predictions = ev.predictions.map((p) => ({ ...p, file: p.file.replace('s2.jpg', 'gone.jpg') }));
    const res = await writeReport([runs[0]], { outRoot: path.join(dir, 'reports') });
    expect(res.warnings.join()).toMatch(/gone\.jpg/);
  });
});

it('buildLeaderboard keeps a run with status ok but no evaluation as bad', () => {
  const lb = buildLeaderboard([{ runId: 'x', status: 'ok' }]);
  expect(lb.entries[0]).toMatchObject({ status: 'bad', reason: 'no evaluation', rank: null });
});
