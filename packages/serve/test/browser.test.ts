import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { initBackend } from '@parts/backend';
import { repoRoot } from '@parts/cli';
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
