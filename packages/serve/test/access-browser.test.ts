// Signing in and working as a reviewer in headless Chromium, on a server with an API key and a
// reviewer account: /review sends the browser to /login; after signing in, the upload page's
// predictions and the review page's decisions carry the session's CSRF token (the server refuses
// them otherwise), decisions are recorded under the account's name, and signing out ends it.
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { initBackend } from '@parts/backend';
import { createServer, type PartsServer } from '../src/index';
import { openLogDatabase } from '../src/log/db';
import { createApiKey } from '../src/auth/api-keys';
import { addReviewer } from '../src/auth/reviewers';
import { listReviewedPhotos } from '../src/log/review-store';
import { makeModel, photos, tempDir } from './fixtures';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);

describe.skipIf(!hasChromium)('signing in in chromium', () => {
  let dir: string;
  let dataDir: string;
  let server: PartsServer;
  let browser: Browser;

  beforeAll(async () => {
    await initBackend('cpu', () => {});
    dir = await tempDir('access-browser-');
    dataDir = path.join(dir, 'data');
    await makeModel(path.join(dir, 'model'), { runId: 'tiny-login', imgSize: 32 });
    const { db } = await openLogDatabase(dataDir);
    await createApiKey(db, 'camera');
    await addReviewer(db, 'ann', 'correct horse battery');
    await db.destroy();
    server = await createServer({ modelDir: path.join(dir, 'model'), port: 0, workers: 0, backend: 'cpu', watchIntervalMs: 0, log: () => {}, predictionLog: { dataDir } });
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

  it('login, upload, confirm under the account name, sign out', async () => {
    const { big } = await photos();
    const page = await browser.newPage({ viewport: { width: 900, height: 1000 } });
    await page.goto(`${server.url}/review`);
    expect(new URL(page.url()).pathname).toBe('/login');
    await page.fill('#username', 'ann');
    await page.fill('#password', 'wrong password');
    await page.click('button[type=submit]');
    expect(await page.textContent('.error')).toMatch(/Wrong name or password/);
    await page.fill('#username', 'ann');
    await page.fill('#password', 'correct horse battery');
    await page.click('button[type=submit]');
    expect(new URL(page.url()).pathname).toBe('/review');
    expect(await page.inputValue('#reviewer')).toBe('ann');
    expect(await page.isDisabled('#reviewer')).toBe(true);

    // The upload page's POST /api/predict with the session (and its CSRF token).
    await page.goto(`${server.url}/`);
    await page.setInputFiles('#file', [big[0]!]);
    await page.waitForSelector('#results .result[data-state="done"]', { timeout: 90_000 });
    expect(await page.textContent('#results .result .label')).toMatch(/big|small/);

    await page.goto(`${server.url}/review`);
    await page.waitForSelector('#queue-list li', { timeout: 90_000 });
    await page.click('h1');
    await page.keyboard.press('c');
    await expect.poll(() => page.textContent('#toast'), { timeout: 30_000 }).toMatch(/Labelled 1 photo as/);
    await expect.poll(async () => (await listReviewedPhotos(dataDir)).map((p) => p.reviewer)).toEqual(['ann']);

    await page.click('text=Sign out');
    expect(new URL(page.url()).pathname).toBe('/login');
    await page.goto(`${server.url}/review`);
    expect(new URL(page.url()).pathname).toBe('/login');
  });
});
