// The upload page in headless Chromium: labels and probabilities of uploaded photos; with a model
// whose ood.json was fitted (the demo fixture of @parts/models' tests), the explanation toggle's
// Grad-CAM overlay and a far-OOD image shown as "Not recognised — closest: ...". With
// PARTS_SCREENSHOTS=<dir> the second test also writes the README's screenshot of the page
// (generated demo photos and images only) as <dir>/upload-page.jpg, and the third the evaluation
// report's first screen as <dir>/report.jpg.
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { initBackend } from '@parts/backend';
import { repoRoot, resolveUserPath } from '@parts/cli';
import { decodeImage, encodeRgbPng, farOodImage, generateDemoDataset } from '@parts/data';
import { loadPredictor, predictDecisions } from '@parts/models';
import { makeTrainedModel, type TrainedFixture } from '../../models/test/trained-model-fixture';
import { EVALUATION_FORMAT, evaluatePredictions, evaluateRun, writeReport, type Evaluation } from '../../evaluate/src/index';
import { promoteEvaluated } from '../../evaluate/src/promote';
import { train } from '../../train/src/index';
import { createServer, type PartsServer } from '../src/index';
import { makeModel, photos, tempDir } from './fixtures';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`browser test skipped: ${CHROMIUM} is missing (apt-get install -y chromium)`);

describe.skipIf(!hasChromium)('upload page in chromium', () => {
  let dir: string;
  let server: PartsServer;
  let browser: Browser;

  beforeAll(async () => {
    await initBackend('cpu', () => {});
    dir = await tempDir();
    await makeModel(path.join(dir, 'model'), { runId: 'tiny-page', imgSize: 32 });
    server = await createServer({ modelDir: path.join(dir, 'model'), port: 0, workers: 0, backend: 'cpu', watchIntervalMs: 0, log: () => {} });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (dir) await fsp.rm(dir, { recursive: true, force: true });
  });

  it('uploads photos and shows the label, probabilities and model', async () => {
    const { big, small } = await photos();
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } }); // phone-sized
    await page.goto(`${server.url}/`);
    await expect.poll(() => page.textContent('#model')).toContain('tiny-page');

    await page.setInputFiles('#file', [big[0]!, small[0]!]);
    await page.waitForSelector('#results .result[data-state="done"] >> nth=1', { timeout: 90_000 });
    const items = await page.$$eval('#results .result', (lis) =>
      lis.map((li) => ({
        name: li.querySelector('.name')?.textContent,
        label: li.querySelector('.label')?.firstChild?.textContent,
        probs: li.querySelectorAll('.prob').length,
        meta: li.querySelector('.meta')?.textContent,
        img: (li.querySelector('img') as unknown as { naturalWidth: number }).naturalWidth,
      })),
    );
    expect(items).toHaveLength(2);
    for (const it of items) {
      expect(['big', 'small']).toContain(it.label);
      expect(it.probs).toBe(2);
      expect(it.meta).toContain('tiny-page');
      expect(it.img).toBeGreaterThan(0); // the preview rendered
    }
    expect(items.map((i) => i.name).sort()).toEqual([path.basename(big[0]!), path.basename(small[0]!)].sort());
    // The page says what the API said.
    const api: any = await (await fetch(`${server.url}/api/predict`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: await fsp.readFile(big[0]!) })).json();
    const shown = items.find((i) => i.name === path.basename(big[0]!))!;
    expect(shown.label).toBe(api.label);
    expect(await page.textContent('#summary')).toBe('2 of 2 classified');

    // A file that is not an image shows the server's error instead of a label.
    const txt = path.join(dir, 'notes.txt');
    await fsp.writeFile(txt, 'not a photo');
    await page.setInputFiles('#file', txt);
    await page.waitForSelector('#results .result[data-state="error"]', { timeout: 90_000 });
    expect(await page.textContent('#results .result[data-state="error"] .error')).toMatch(/not an image/);

    const shot = process.env.SERVE_SCREENSHOT ?? path.join(repoRoot(), '.cache', 'serve-page.png');
    await fsp.mkdir(path.dirname(shot), { recursive: true });
    await page.screenshot({ path: shot, fullPage: true });
    await page.close();
  });
});

describe.skipIf(!hasChromium)('upload page: unknown photos and explanations in chromium', () => {
  let dir: string;
  let fx: TrainedFixture;
  let server: PartsServer;
  let browser: Browser;

  beforeAll(async () => {
    await initBackend('cpu', () => {});
    dir = await tempDir('serve-browser-');
    fx = await makeTrainedModel(dir, { runId: 'demo-fixture' });
    server = await createServer({ modelDir: fx.modelDir, port: 0, workers: 0, backend: 'cpu', watchIntervalMs: 0, log: () => {} });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (dir) await fsp.rm(dir, { recursive: true, force: true });
  });

  it('shows the overlay when the toggle is on and a rejected photo as "Not recognised — closest: ..."', async () => {
    const far = path.join(dir, 'checkerboard.png');
    await fsp.writeFile(far, await encodeRgbPng(farOodImage('checkerboard', 1, 320, 240)));
    const known = fx.known[1]!.file; // a big bolt the detector accepts
    const page = await browser.newPage({ viewport: { width: 760, height: 900 }, deviceScaleFactor: 1 });
    await page.goto(`${server.url}/`);
    await expect.poll(() => page.textContent('#model')).toContain('unknown below knn score');

    await page.check('#explain');
    await page.setInputFiles('#file', far);
    await page.waitForSelector('#results .result[data-state="done"]', { timeout: 90_000 });
    await page.setInputFiles('#file', known);
    await page.waitForSelector('#results .result[data-state="done"] >> nth=1', { timeout: 90_000 });
    const items = await page.$$eval('#results .result', (lis) =>
      lis.map((li) => {
        const overlay = li.querySelector('img.overlay') as unknown as { naturalWidth: number; src: string } | null;
        return {
          name: li.querySelector('.name')?.textContent,
          unknown: (li as unknown as { dataset: Record<string, string> }).dataset.unknown,
          label: li.querySelector('.label')?.textContent,
          overlayWidth: overlay?.naturalWidth ?? 0,
          overlaySrc: overlay?.src.slice(0, 22) ?? '',
          caption: li.querySelector('.explain figcaption')?.textContent,
        };
      }),
    );
    const byName = Object.fromEntries(items.map((i) => [i.name, i]));
    const rejected = byName['checkerboard.png']!;
    const accepted = byName[path.basename(known)]!;
    expect(rejected.unknown).toBe('true');
    expect(rejected.label).toMatch(/^Not recognised — closest: (big|small), \d{1,3}%$/);
    expect(accepted.unknown).toBe('false');
    expect(accepted.label).toMatch(/^big\d+\.\d%$/); // label and its percentage
    for (const it of [accepted, rejected]) {
      expect(it.overlaySrc).toBe('data:image/png;base64,');
      expect(it.overlayWidth).toBe(320); // rendered: the photo's width (under the 512 px bound)
      expect(it.caption).toContain('contrast CAM, layer block2_conv2');
    }

    // Without the toggle: no overlay is asked for or shown.
    await page.uncheck('#explain');
    await page.setInputFiles('#file', fx.known[0]!.file);
    await page.waitForSelector('#results .result[data-state="done"] >> nth=2', { timeout: 90_000 });
    expect(await page.$$eval('#results .result:first-child img.overlay', (x) => x.length)).toBe(0);

    const shots = process.env.PARTS_SCREENSHOTS;
    if (shots) {
      // The README's picture: the accepted photo with its overlay and the rejected image.
      await page.click('#clear');
      await page.check('#explain');
      await page.setInputFiles('#file', far);
      await page.waitForSelector('#results .result[data-state="done"]', { timeout: 90_000 });
      await page.setInputFiles('#file', known);
      await page.waitForSelector('#results .result[data-state="done"] >> nth=1', { timeout: 90_000 });
      await page.evaluate(() => new Promise((r) => setTimeout(r, 600))); // the probability bars' transition
      const out = resolveUserPath(shots);
      await fsp.mkdir(out, { recursive: true });
      await page.screenshot({ path: path.join(out, 'upload-page.jpg'), type: 'jpeg', quality: 70, fullPage: true });
    }
    await page.close();
  });
  it('renders an evaluation report of the demo model (writeReport of @parts/evaluate)', async () => {
    // The fixture model evaluated on its demo test split, as `pnpm evaluate` would record it.
    const p = await loadPredictor(fx.modelDir, { enabled: false });
    const items = [];
    for (const cls of p.meta.labels) {
      const folder = path.join(fx.dataDir, 'test', cls);
      for (const f of (await fsp.readdir(folder)).sort()) {
        const file = path.join(folder, f);
        const [d] = await predictDecisions(p, [await decodeImage(file, { size: p.meta.imgSize, fit: p.meta.fit })]);
        items.push({ file, trueLabel: cls, probabilities: p.meta.labels.map((l) => d!.probabilities[l]!) });
      }
    }
    const { meta } = p;
    p.dispose();
    const evaluation: Evaluation = {
      format: EVALUATION_FORMAT,
      runId: meta.runId!,
      runDir: path.dirname(fx.modelDir),
      arch: meta.arch,
      mode: meta.mode,
      split: 'test',
      data: { root: fx.dataDir, sameAsTraining: true, training: { root: fx.dataDir } },
      imgSize: meta.imgSize,
      fit: meta.fit,
      preprocess: meta.preprocess,
      modelBytes: (await Promise.all((await fsp.readdir(fx.modelDir)).map((f) => fsp.stat(path.join(fx.modelDir, f))))).reduce((n, st) => n + st.size, 0),
      backend: 'cpu',
      evaluatedAt: new Date().toISOString(),
      ...evaluatePredictions(meta.labels, items),
    };
    const report = await writeReport(
      [
        { runId: evaluation.runId, runDir: evaluation.runDir, arch: meta.arch, mode: meta.mode, status: 'ok', evaluation },
        { runId: 'inception-finetune', arch: 'inception', mode: 'finetune', status: 'skipped', reason: 'ImageNet weights unavailable: offline' },
      ],
      { outRoot: path.join(dir, 'reports'), title: 'Demo evaluation report' },
    );
    const page = await browser.newPage({ viewport: { width: 1000, height: 900 }, deviceScaleFactor: 1 });
    await page.goto(`file://${path.join(report.dir, 'index.html')}`);
    expect(await page.textContent('body')).toContain(evaluation.runId);
    // Every chart the report links loaded.
    const imgs = await page.$$eval('img', (xs) => xs.map((x) => (x as unknown as { naturalWidth: number }).naturalWidth));
    expect(imgs.length).toBeGreaterThan(0);
    expect(imgs.every((w) => w > 0)).toBe(true);
    const shots = process.env.PARTS_SCREENSHOTS;
    if (shots) {
      const out = resolveUserPath(shots);
      await fsp.mkdir(out, { recursive: true });
      await page.screenshot({ path: path.join(out, 'report.jpg'), type: 'jpeg', quality: 70 });
    }
    await page.close();
  });
});

// The review loop in Chromium, on a real served model: a small Tiny VGG trained here on generated
// demo photos and promoted into a served folder. Photos uploaded on the upload page are logged,
// appear in the review queue, are labelled with the keyboard (a new class, undo, confirm, correct);
// a photo taken with Chromium's fake camera is labelled straight away; the retrain button runs the
// real `pnpm retrain` (the served model's fast recipe: 32 px, 3 epochs) on a dataset version of the
// base photos plus the reviewed ones; the page shows its decision, promoted or refused with the
// reason, and the server answers with the model that decision left in service.
describe.skipIf(!hasChromium)('review page in chromium', () => {
  let dir: string;
  let server: PartsServer;
  let browser: Browser;
  let dataDir: string;
  let target: string;
  let runs: string;
  let firstRunId: string;

  beforeAll(async () => {
    await initBackend('cpu', () => {});
    dir = await tempDir('serve-review-');
    dataDir = path.join(dir, 'var');
    target = path.join(dir, 'serve', 'model');
    runs = path.join(dir, 'runs');
    const versions = path.join(dir, 'datasets', 'versions');
    const base = path.join(dir, 'demo');
    await generateDemoDataset(base, { seed: 5, width: 160, height: 120, trainPerClass: 12, testPerClass: 6 });
    const first = await train({ data: base, arch: 'tinyvgg', mode: 'scratch', imgSize: 32, epochs: 3, seed: 42, out: runs, backend: 'wasm', quiet: true });
    const promoted = await promoteEvaluated(first.runDir, await evaluateRun(first.runDir, { robustness: 'off', gradcam: false, log: () => {} }), { target });
    expect(promoted.promoted, promoted.message).toBe(true);
    firstRunId = first.runId;
    server = await createServer({
      modelDir: target, port: 0, workers: 0, backend: 'cpu', watchIntervalMs: 200, log: () => {},
      // The capture step labels a photo by the log id its answer carries: on a loaded machine the
      // commit may take longer than the 1 s an answer waits by default.
      predictionLog: { dataDir, answerWaitMs: 600_000 },
      // `pnpm retrain` as the page's button runs it, with its folders inside this test's folder.
      retrainCommand: ['pnpm', '--silent', 'retrain', '--data-dir', dataDir, '--target', target, '--root', versions, '--runs', runs, '--backend', 'wasm'],
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
        '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (dir) await fsp.rm(dir, { recursive: true, force: true });
  });

  it('upload -> queue -> label with the keyboard, undo; capture from the webcam; retrain', async () => {
    const { listReviewedPhotos } = await import('../src/log/review-store');
    const { big, small } = await photos();
    const page = await browser.newPage({ viewport: { width: 900, height: 1000 } });
    await page.goto(`${server.url}/`);
    await page.setInputFiles('#file', [big[0]!, small[0]!]);
    await page.waitForSelector('#results .result[data-state="done"] >> nth=1', { timeout: 90_000 });

    await page.goto(`${server.url}/review`);
    await page.fill('#reviewer', 'ann');
    await page.waitForSelector('#queue-list li >> nth=1', { timeout: 90_000 });
    expect(await page.textContent('#about')).toContain('10% of the places go to confident answers');
    expect(await page.textContent('#logstate')).toMatch(/2 photos waiting · log: 2 recorded, 0 failed/);
    expect(await page.textContent('#current .answer')).toMatch(/^(big|small) \d+\.\d%$/);
    // The Grad-CAM of the current photo, as the API gives it (an overlay, or why there is none).
    await expect.poll(() => page.textContent('#current .overlay'), { timeout: 90_000 }).not.toMatch(/Loading/);
    const firstIds = await page.getAttribute('#current', 'data-ids');
    const hash = (await (await fetch(`${server.url}/api/review/queue`)).json() as any).groups[0].items[0].hash;
    const ex = ((await (await fetch(`${server.url}/api/review/explain?hash=${hash}`)).json()) as any).explanation;
    if (ex.overlay) expect(await page.getAttribute('#current .overlay img', 'src')).toBe(ex.overlay);
    else expect(await page.textContent('#current .overlay')).toBe(`No overlay: ${ex.error}`);

    // New class with the keyboard: a, type, Enter.
    await page.click('h1');
    await page.keyboard.press('a');
    await page.keyboard.type('nut');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.textContent('#toast')).toMatch(/Labelled 1 photo as nut/);
    await expect.poll(async () => (await listReviewedPhotos(dataDir)).map((p) => [p.label, p.reviewer])).toEqual([['nut', 'ann']]);
    expect(await page.$$eval('#queue-list li', (l) => l.length)).toBe(1);
    // Undo (u) puts it back; confirm (c) labels it with the model's answer.
    await page.keyboard.press('u');
    await expect.poll(() => page.textContent('#toast')).toMatch(/Undone: 1 decision/);
    await expect.poll(() => page.$$eval('#queue-list li', (l) => l.length)).toBe(2);
    expect(await listReviewedPhotos(dataDir)).toEqual([]);
    expect(await page.getAttribute('#current', 'data-ids')).toBe(firstIds);
    await page.keyboard.press('c');
    await expect.poll(async () => (await listReviewedPhotos(dataDir)).map((p) => p.label)).toEqual([expect.stringMatching(/^(big|small)$/)]);
    const [confirmed] = await listReviewedPhotos(dataDir);
    // Number keys correct to a class: the other photo becomes 'small' (wait for its own decision, since
    // the confirm may have labelled the first one 'small' already), the confirmed one keeps its label.
    await page.keyboard.press('2');
    await expect.poll(async () => (await listReviewedPhotos(dataDir)).length).toBe(2);
    const reviewed = await listReviewedPhotos(dataDir);
    expect(reviewed.find((p) => p.hash === confirmed!.hash)?.label).toBe(confirmed!.label);
    expect(reviewed.find((p) => p.hash !== confirmed!.hash)?.label).toBe('small');

    // Capture: the phone-camera input, and the webcam (Chromium's fake camera) labelled at once.
    expect(await page.getAttribute('#capture-file', 'capture')).toBe('environment');
    await page.click('#webcam');
    await expect.poll(() => page.$eval('#video', (v) => (v as unknown as { videoWidth: number }).videoWidth), { timeout: 30_000 }).toBeGreaterThan(0);
    await page.selectOption('#capture-label', 'big');
    await page.click('#snap');
    await expect.poll(() => page.textContent('#capture-status'), { timeout: 90_000 }).toMatch(/labelled big/);
    const captured = (await listReviewedPhotos(dataDir)).filter((p) => p.source === 'capture');
    expect(captured.map((p) => [p.label, p.reviewer])).toEqual([['big', 'ann']]);
    expect((await fsp.stat(captured[0]!.file)).size).toBeGreaterThan(1000);
    // Filed into the queue instead (no class chosen).
    await page.selectOption('#capture-label', '');
    await page.setInputFiles('#capture-file', small[1]!);
    await expect.poll(() => page.textContent('#capture-status'), { timeout: 90_000 }).toMatch(/filed into the review queue/);
    await expect.poll(() => page.$$eval('#queue-list li', (l) => l.length)).toBe(1);

    // Retrain: the real `pnpm retrain`, once; the page shows its progress, then its decision.
    await page.click('#retrain');
    // While it runs the button is disabled (one job at a time; the POST's answer disables it).
    await expect.poll(() => page.isDisabled('#retrain')).toBe(true);
    await expect.poll(() => page.textContent('#job'), { timeout: 590_000, interval: 1000 }).toMatch(/Retrain (succeeded|failed|cancelled)/);
    const job = await page.textContent('#job');
    expect(job).toMatch(/Retrain succeeded/);
    const reports = (await fsp.readdir(runs)).filter((r) => existsSync(path.join(runs, r, 'retrain.json')));
    expect(reports).toHaveLength(1);
    const report = JSON.parse(await fsp.readFile(path.join(runs, reports[0]!, 'retrain.json'), 'utf8'));
    // Trained on the base photos plus the reviewed ones (2 from the queue, 1 from the webcam).
    expect(report.version.number).toBe(1);
    expect(report.photos.length).toBeGreaterThan(0);
    const candidate: string = report.candidate.runId;
    if (report.promoted) {
      // Promoted: the page says so, and the server answers with the candidate (hot swap).
      expect(job).toContain(`promoted ${candidate}`);
      await expect.poll(async () => ((await (await fetch(`${server.url}/api/model`)).json()) as any).id, { timeout: 120_000 }).toBe(candidate);
    } else {
      // Refused: the page shows why, and the model in service stays.
      expect(job).toContain('not promoted:');
      expect(job).toContain(report.decision.reasons[0].slice(0, 40));
      expect(((await (await fetch(`${server.url}/api/model`)).json()) as any).id).toBe(firstRunId);
    }
    const served = report.promoted ? candidate : firstRunId;
    console.log(`review loop: retrain ${report.promoted ? 'promoted' : 'refused'} ${candidate} (${report.message.slice(0, 200)}); train ${report.seconds.train.toFixed(0)} s, total ${report.seconds.total.toFixed(0)} s`);
    // Served: an upload on the upload page is answered by that model.
    const upload = await browser.newPage({ viewport: { width: 900, height: 1000 } });
    await upload.goto(`${server.url}/`);
    await expect.poll(() => upload.textContent('#model')).toContain(served);
    await upload.setInputFiles('#file', big[2]!);
    await upload.waitForSelector('#results .result[data-state="done"]', { timeout: 90_000 });
    expect(await upload.textContent('#results .result .meta')).toContain(served);
    await upload.close();
    // The job's end still shows after a reload.
    await page.reload();
    await expect.poll(() => page.textContent('#job')).toMatch(/Retrain succeeded/);
    expect(await page.textContent('#job')).toContain(report.promoted ? `promoted ${candidate}` : 'not promoted:');
    await page.close();
  });
});
