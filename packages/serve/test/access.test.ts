import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@parts/backend';
import { createServer, type PartsServer } from '../src/index';
import { openLogDatabase } from '../src/log/db';
import { createApiKey, revokeApiKey } from '../src/auth/api-keys';
import { addReviewer } from '../src/auth/reviewers';
import { BucketLimiter, LoginThrottle } from '../src/auth/throttle';
import { makeModel, photos, request, tempDir, type Reply } from './fixtures';
import { openAccessDatabase } from '../src/auth/admin';
import { POSTGRES_MISSING, testPostgres } from './postgres';

// Access control through a real server on an ephemeral port, with the keys and accounts in a real
// SQLite database of a temporary data folder.
let dir: string;
let jpeg: Buffer;
const servers: PartsServer[] = [];
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

beforeAll(async () => {
  await initBackend('cpu', () => {});
  dir = await tempDir('access-');
  await makeModel(path.join(dir, 'model'), { runId: 'tiny-access', imgSize: 32 });
  jpeg = await fsp.readFile((await photos()).big[0]!);
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await fsp.rm(dir, { recursive: true, force: true });
});

async function start(dataDir: string, o: Partial<Parameters<typeof createServer>[0]> = {}): Promise<PartsServer> {
  const s = await createServer({ modelDir: path.join(dir, 'model'), port: 0, workers: 0, backend: 'cpu', watchIntervalMs: 0, log: () => {}, predictionLog: { dataDir }, ...o });
  servers.push(s);
  return s;
}

async function withDb<T>(dataDir: string, fn: (db: Awaited<ReturnType<typeof openLogDatabase>>['db']) => Promise<T>): Promise<T> {
  const { db } = await openLogDatabase(dataDir);
  try {
    return await fn(db);
  } finally {
    await db.destroy();
  }
}

const predict = (url: string, headers: Record<string, string> = {}) => request(`${url}/api/predict`, { method: 'POST', headers: { 'content-type': 'image/jpeg', ...headers }, body: jpeg });
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

describe('API keys', () => {
  let dataDir: string;
  let s: PartsServer;
  beforeAll(async () => {
    dataDir = path.join(dir, 'data-keys');
    s = await start(dataDir, { access: { metricsToken: 'scrape-token-0123456789' } });
  });

  it('records a review decision made with a key under the key, not under the name the body claims', async () => {
    const d = path.join(dir, 'data-keys-review');
    const t = await start(d);
    const key = await withDb(d, (db) => createApiKey(db, 'line 3'));
    const answered = await predict(t.url, bearer(key.key));
    expect(answered.status).toBe(200);
    const r = await request(`${t.url}/api/review/decide`, {
      method: 'POST',
      headers: { ...bearer(key.key), 'content-type': 'application/json', 'x-parts-review': '1' },
      body: JSON.stringify({ ids: [Number(answered.headers['x-prediction-log'])], action: 'confirm', reviewer: 'ann' }),
    });
    expect(r.status).toBe(200);
    expect(await withDb(d, (db) => db.selectFrom('decisions').select('reviewer').execute())).toEqual([{ reviewer: 'key@line 3' }]);
  });

  it('without keys /api/* answers on loopback as before; once a key exists it needs one (401), a revoked one is 403', async () => {
    expect((await request(`${s.url}/api/model`)).status).toBe(200);
    // Not when a local proxy forwards the request from elsewhere.
    const forwarded = await request(`${s.url}/api/model`, { headers: { 'x-forwarded-for': '203.0.113.9' } });
    expect([forwarded.status, forwarded.json.code]).toEqual([401, 'auth-required']);
    expect((await request(`${s.url}/api/review/queue`, { headers: { forwarded: 'for=203.0.113.9' } })).status).toBe(403);
    expect((await request(`${s.url}/api/review/queue`)).status).toBe(200);
    const made = await withDb(dataDir, (db) => createApiKey(db, 'line 1'));
    const other = await withDb(dataDir, (db) => createApiKey(db, 'line 2'));
    expect(made.key).toMatch(/^parts_[A-Za-z0-9_-]{43}$/);

    const none = await request(`${s.url}/api/model`);
    expect([none.status, (none.json as { code: string }).code]).toEqual([401, 'key-required']);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
    const noneP = await predict(s.url);
    expect(noneP.status).toBe(401);
    const wrong = await request(`${s.url}/api/model`, { headers: bearer('parts_' + 'x'.repeat(43)) });
    expect([wrong.status, (wrong.json as { code: string }).code]).toEqual([401, 'bad-key']);

    expect((await request(`${s.url}/api/model`, { headers: bearer(made.key) })).status).toBe(200);
    expect((await request(`${s.url}/api/stats`, { headers: { 'x-api-key': made.key } })).status).toBe(200);
    expect((await predict(s.url, bearer(made.key))).status).toBe(200);

    await withDb(dataDir, (db) => revokeApiKey(db, 'line 1'));
    const revoked = await predict(s.url, bearer(made.key));
    expect([revoked.status, (revoked.json as { code: string }).code]).toEqual([403, 'key-revoked']);
    expect((revoked.json as { error: string }).error).toMatch(/line 1.*revoked/);
    // Revoking by id works too; the other key was untouched until then.
    expect((await predict(s.url, bearer(other.key))).status).toBe(200);
    await withDb(dataDir, (db) => revokeApiKey(db, String(other.id)));
    expect((await predict(s.url, bearer(other.key))).status).toBe(403);
    // Health stays open.
    expect((await request(`${s.url}/healthz`)).status).toBe(200);
    expect((await request(`${s.url}/readyz`)).status).toBe(200);
  });

  it('stores only the SHA-256 of a key: the row holds no copy of it', async () => {
    const made = await withDb(dataDir, (db) => createApiKey(db, 'hashed'));
    const row = await withDb(dataDir, (db) => db.selectFrom('api_keys').selectAll().where('name', '=', 'hashed').executeTakeFirstOrThrow());
    expect(row.key_hash).toBe(sha256(made.key));
    expect(Object.values(row).some((v) => typeof v === 'string' && v.includes(made.key.slice(10)))).toBe(false);
    expect(row.prefix).toBe(made.key.slice(0, 10));
    // Another key of the same name is refused with the name in the message.
    await expect(withDb(dataDir, (db) => createApiKey(db, 'hashed'))).rejects.toThrow(/"hashed" already exists/);
  });

  it('/metrics: loopback, the metrics token or a key; a forwarded request without them is 401', async () => {
    expect((await request(`${s.url}/metrics`)).status).toBe(200);
    const forwarded = { 'x-forwarded-for': '203.0.113.7' };
    const r = await request(`${s.url}/metrics`, { headers: forwarded });
    expect([r.status, (r.json as { code: string }).code]).toEqual([401, 'auth-required']);
    expect((await request(`${s.url}/metrics`, { headers: { ...forwarded, ...bearer('scrape-token-0123456789') } })).status).toBe(200);
    const k = await withDb(dataDir, (db) => createApiKey(db, 'prometheus'));
    expect((await request(`${s.url}/metrics`, { headers: { ...forwarded, ...bearer(k.key) } })).status).toBe(200);
    expect((await request(`${s.url}/metrics`, { headers: { ...forwarded, ...bearer('not-the-token') } })).status).toBe(401);
  });

  it('limits each key to its rate: 429 with Retry-After past the burst, other keys unaffected', async () => {
    const limited = await start(path.join(dir, 'data-rate'), { access: { keyRatePerMinute: 1, keyBurst: 3 } });
    const [a, b] = await withDb(path.join(dir, 'data-rate'), async (db) => [await createApiKey(db, 'a'), await createApiKey(db, 'b')]);
    const codes: number[] = [];
    let last: Reply | undefined;
    for (let i = 0; i < 4; i++) {
      last = await request(`${limited.url}/api/model`, { headers: bearer(a.key) });
      codes.push(last.status);
    }
    expect(codes).toEqual([200, 200, 200, 429]);
    const wait = Number(last!.headers['retry-after']);
    expect(Number.isInteger(wait) && wait >= 1 && wait <= 60).toBe(true);
    expect((last!.json as { error: string }).error).toMatch(/API key "a"/);
    expect((await request(`${limited.url}/api/model`, { headers: bearer(b.key) })).status).toBe(200);
  });
});

function setCookies(r: Reply): string[] {
  const h = r.headers['set-cookie'];
  return h === undefined ? [] : Array.isArray(h) ? h : [h];
}

/** The login form's token and its cookie, from GET /login. */
async function loginForm(url: string): Promise<{ csrf: string; cookie: string }> {
  const page = await request(`${url}/login`);
  expect(page.status).toBe(200);
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.text)![1]!;
  const setCookie = setCookies(page).find((c) => c.startsWith('parts_login='))!;
  expect(setCookie).toMatch(/HttpOnly/);
  expect(setCookie).toMatch(/SameSite=Strict/);
  return { csrf, cookie: setCookie.split(';')[0]! };
}

function login(url: string, form: { csrf: string; cookie: string }, username: string, password: string, headers: Record<string, string> = {}): Promise<Reply> {
  const body = new URLSearchParams({ csrf: form.csrf, next: '/review', username, password }).toString();
  return request(`${url}/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: form.cookie, ...headers }, body });
}

const sessionCookie = (r: Reply) => setCookies(r).find((c) => c.startsWith('parts_session='));

describe('reviewer accounts', () => {
  const PASSWORD = 'correct horse battery';
  let dataDir: string;
  let s: PartsServer;
  beforeAll(async () => {
    dataDir = path.join(dir, 'data-users');
    // The first wait a minute (default 1 s): a slow machine cannot outlast it between two tries.
    s = await start(dataDir, { access: { loginThrottle: { baseDelayMs: 60_000 } } });
    await withDb(dataDir, (db) => addReviewer(db, 'ann', PASSWORD));
  });

  it('sends the review page to /login, refuses its API, and lets a reviewer in after signing in', async () => {
    const page = await request(`${s.url}/review`);
    expect([page.status, page.headers.location]).toEqual([303, '/login?next=%2Freview']);
    const queue = await request(`${s.url}/api/review/queue`);
    expect([queue.status, (queue.json as { code: string }).code]).toEqual([401, 'login-required']);
    // The upload page needs a login too (no --open-page).
    expect((await request(`${s.url}/`)).headers.location).toBe('/login?next=%2F');

    const ok = await login(s.url, await loginForm(s.url), 'ann', PASSWORD);
    expect([ok.status, ok.headers.location]).toEqual([303, '/review']);
    const set = sessionCookie(ok)!;
    expect(set).toMatch(/HttpOnly/);
    expect(set).toMatch(/SameSite=Strict/);
    expect(set).not.toMatch(/Secure/); // plain HTTP, no trusted proxy
    const cookie = set.split(';')[0]!;
    const token = cookie.split('=')[1]!;
    // Stored hashed, with an expiry.
    const rows = await withDb(dataDir, (db) => db.selectFrom('sessions').selectAll().execute());
    expect(rows.map((r) => r.token_hash)).toContain(sha256(token));
    expect(rows.some((r) => r.token_hash === token)).toBe(false);
    expect(Date.parse(rows.find((r) => r.token_hash === sha256(token))!.expires_at)).toBeGreaterThan(Date.now());

    const signedIn = await request(`${s.url}/review`, { headers: { cookie } });
    expect(signedIn.status).toBe(200);
    expect(signedIn.text).toMatch(/Signed in as <b>ann<\/b>/);
    expect((await request(`${s.url}/api/review/queue`, { headers: { cookie } })).status).toBe(200);
  });

  it('refuses cross-site requests: a form post with the session cookie, a login form from another site, a sign-out without the token', async () => {
    const cookie = sessionCookie(await login(s.url, await loginForm(s.url), 'ann', PASSWORD))!.split(';')[0]!;
    const csrf = /name="csrf-token" content="([^"]+)"/.exec((await request(`${s.url}/review`, { headers: { cookie } })).text)![1]!;
    // Something to decide on.
    const answered = await predict(s.url);
    expect(answered.status).toBe(200);
    const id = Number(answered.headers['x-prediction-log']);

    const form = await request(`${s.url}/api/review/decide`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', origin: 'http://evil.example', 'sec-fetch-site': 'cross-site' },
      body: `ids=${id}&action=confirm&reviewer=mallory`,
    });
    expect([form.status, (form.json as { code: string }).code]).toEqual([403, 'csrf']);
    const noToken = await request(`${s.url}/api/review/decide`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/json', 'x-parts-review': '1' },
      body: JSON.stringify({ ids: [id], action: 'confirm', reviewer: 'mallory' }),
    });
    expect([noToken.status, (noToken.json as { code: string }).code]).toEqual([403, 'csrf']);
    const crossLogin = await login(s.url, { csrf: 'forged', cookie: '' }, 'ann', PASSWORD, { origin: 'http://evil.example' });
    expect(crossLogin.status).toBe(403);
    const forgedLogin = await login(s.url, { csrf: 'forged', cookie: 'parts_login=other' }, 'ann', PASSWORD);
    expect([forgedLogin.status, sessionCookie(forgedLogin)]).toEqual([403, undefined]);
    const logout = await request(`${s.url}/logout`, { method: 'POST', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: '' });
    expect(logout.status).toBe(403);
    expect(await withDb(dataDir, (db) => db.selectFrom('decisions').select('id').execute())).toEqual([]);

    // The page's own request: the session's token in X-CSRF-Token; the decision goes under the account's name.
    const good = await request(`${s.url}/api/review/decide`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/json', 'x-csrf-token': csrf, origin: s.url },
      body: JSON.stringify({ ids: [id], action: 'confirm', reviewer: 'mallory' }),
    });
    expect(good.status).toBe(200);
    const decisions = await withDb(dataDir, (db) => db.selectFrom('decisions').select(['reviewer']).execute());
    expect(decisions.map((d) => d.reviewer)).toEqual(['ann']);

    // Signing out with the token ends the session in the database.
    const out = await request(`${s.url}/logout`, { method: 'POST', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: `csrf=${csrf}` });
    expect([out.status, out.headers.location]).toEqual([303, '/login']);
    expect((await request(`${s.url}/api/review/queue`, { headers: { cookie } })).status).toBe(401);
  });

  it('20 wrong passwords in a row: after 5 further tries get 429 with Retry-After, even with the right password', async () => {
    const form = await loginForm(s.url);
    const replies: Reply[] = [];
    for (let i = 0; i < 20; i++) replies.push(await login(s.url, form, 'ann', `wrong password ${i}`));
    expect(replies.map((r) => r.status)).toEqual([...Array(5).fill(401), ...Array(15).fill(429)]);
    for (const r of replies.slice(5)) {
      const wait = Number(r.headers['retry-after']);
      expect(wait >= 1 && wait <= 60).toBe(true);
      expect(r.text).toMatch(/Too many wrong passwords/);
    }
    const right = await login(s.url, form, 'ann', PASSWORD);
    expect(right.status).toBe(429);
    expect(Number(right.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(sessionCookie(right)).toBeUndefined();
  });

  it('20 wrong passwords sent at once: only the first 5 are checked, the rest get 429', async () => {
    const d = path.join(dir, 'data-users-burst');
    const t = await start(d, { access: { loginThrottle: { baseDelayMs: 60_000 } } });
    await withDb(d, (db) => addReviewer(db, 'dan', PASSWORD));
    const form = await loginForm(t.url);
    const codes = (await Promise.all(Array.from({ length: 20 }, (_, i) => login(t.url, form, 'dan', `wrong password ${i}`)))).map((r) => r.status);
    expect(codes.filter((c) => c === 401)).toHaveLength(5);
    expect(codes.filter((c) => c === 429)).toHaveLength(15);
  });

  it('throttles a client address that tries many accounts', async () => {
    const t = await start(path.join(dir, 'data-users-2'), { access: { loginThrottle: { baseDelayMs: 60_000 } } });
    await withDb(path.join(dir, 'data-users-2'), (db) => addReviewer(db, 'bob', PASSWORD));
    const form = await loginForm(t.url);
    const codes: number[] = [];
    for (let i = 0; i < 22; i++) codes.push((await login(t.url, form, `guess${i}`, 'wrong password')).status);
    expect(codes.slice(0, 4)).toEqual([401, 401, 401, 401]);
    expect(codes.slice(20)).toEqual([429, 429]);
  });

  it('sets Secure on the session cookie when a trusted proxy says the client used https', async () => {
    const d = path.join(dir, 'data-users-tls');
    const t = await start(d, { access: { trustProxy: 'loopback' } });
    await withDb(d, (db) => addReviewer(db, 'cat', PASSWORD));
    const proxied = { 'x-forwarded-for': '198.51.100.4', 'x-forwarded-proto': 'https' };
    const form = await loginForm(t.url);
    const r = await login(t.url, form, 'cat', PASSWORD, proxied);
    expect(r.status).toBe(303);
    expect(sessionCookie(r)).toMatch(/; Secure/);
    // The same header from an untrusted peer is not believed.
    const plain = await start(path.join(dir, 'data-users-tls-2'));
    await withDb(path.join(dir, 'data-users-tls-2'), (db) => addReviewer(db, 'cat', PASSWORD));
    const r2 = await login(plain.url, await loginForm(plain.url), 'cat', PASSWORD, proxied);
    expect(sessionCookie(r2)).not.toMatch(/Secure/);
  });
});

describe.skipIf(POSTGRES_MISSING)('on a shared PostgreSQL database (serve --db)', () => {
  it('keys made there (pnpm keys --db) are the ones the server asks for, and a revocation reaches it', async () => {
    const url = await (await testPostgres()).newDatabase();
    const d = path.join(dir, 'data-pg-keys');
    const { db } = await openAccessDatabase(d, url);
    let key: string;
    try {
      key = (await createApiKey(db, 'line-2')).key;
    } finally {
      await db.destroy();
    }
    // No key in the data folder's own SQLite file: what counts is the shared database.
    const t = await start(d, { predictionLog: { dataDir: d, db: url } });
    expect((await predict(t.url)).status).toBe(401);
    expect((await predict(t.url, { authorization: `Bearer ${key}` })).status).toBe(200);
    const again = await openAccessDatabase(d, url);
    try {
      await revokeApiKey(again.db, 'line-2');
    } finally {
      await again.db.destroy();
    }
    expect((await predict(t.url, { authorization: `Bearer ${key}` })).status).toBe(403);
  });
});

describe('behind a trusted proxy', () => {
  it('a direct request from the proxy\'s own address is local; one it forwards is the named client\'s', async () => {
    const d = path.join(dir, 'data-proxy');
    const t = await start(d, { access: { trustProxy: 'loopback' } });
    // A Prometheus beside nginx scrapes directly: no forwarding headers.
    expect((await request(`${t.url}/metrics`)).status).toBe(200);
    // nginx forwarding a client of another machine: not local.
    expect((await request(`${t.url}/metrics`, { headers: { 'x-forwarded-for': '198.51.100.4' } })).status).toBe(401);
    // nginx forwarding a client of this machine: local.
    expect((await request(`${t.url}/metrics`, { headers: { 'x-forwarded-for': '127.0.0.1' } })).status).toBe(200);
  });
});

describe('the upload page', () => {
  it('--open-page: anyone may use the page and predict, while the rest of /api/* keeps needing a key', async () => {
    const d = path.join(dir, 'data-open');
    const s = await start(d, { access: { openPage: true } });
    await withDb(d, (db) => createApiKey(db, 'cam'));
    expect((await request(`${s.url}/`)).status).toBe(200);
    expect((await predict(s.url)).status).toBe(200);
    expect((await request(`${s.url}/api/model`)).status).toBe(200);
    expect((await request(`${s.url}/api/stats`)).status).toBe(401);
  });

  it('without --open-page and with keys but no accounts the page is 401', async () => {
    const d = path.join(dir, 'data-closed');
    const s = await start(d);
    await withDb(d, (db) => createApiKey(db, 'cam'));
    expect((await request(`${s.url}/`)).status).toBe(401);
  });
});

describe('listening beyond loopback', () => {
  it('is refused without keys or accounts, with what to do', async () => {
    const logged: string[] = [];
    await expect(start(path.join(dir, 'data-bind-1'), { host: '0.0.0.0', log: (m) => logged.push(m) })).rejects.toThrow(
      /refusing to listen on 0\.0\.0\.0: no API keys and no reviewer accounts.*pnpm keys add.*--insecure-no-auth/,
    );
  });

  it('refuses a metrics token shorter than 16 characters and a --trust-proxy that is no address', async () => {
    await expect(start(path.join(dir, 'data-bind-0'), { access: { metricsToken: 'short' } })).rejects.toThrow(/metrics token must have at least 16 characters/);
    await expect(start(path.join(dir, 'data-bind-0'), { access: { trustProxy: 'proxy.example' } })).rejects.toThrow(/--trust-proxy: "proxy.example" is not an IP address/);
  });

  it('is allowed with --insecure-no-auth, with a warning saying why it is dangerous', async () => {
    const logged: string[] = [];
    const s = await start(path.join(dir, 'data-bind-2'), { host: '0.0.0.0', log: (m) => logged.push(m), access: { insecureNoAuth: true } });
    expect(s.host).toBe('0.0.0.0');
    expect(logged.join('\n')).toMatch(/WARNING \(--insecure-no-auth\).*Anyone who can reach this address can send photos/);
  });

  it('still warns with --insecure-no-auth once reviewer accounts exist but no keys (the API stays open)', async () => {
    const d = path.join(dir, 'data-bind-4');
    await withDb(d, (db) => addReviewer(db, 'eve', 'correct horse battery'));
    const logged: string[] = [];
    await start(d, { host: '0.0.0.0', log: (m) => logged.push(m), access: { insecureNoAuth: true } });
    expect(logged.join('\n')).toMatch(/WARNING \(--insecure-no-auth\): listening on 0\.0\.0\.0 with no API keys\. /);
  });

  const external = Object.values(os.networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
  it('is allowed once a key exists, and then a request from another machine needs the key', async () => {
    const d = path.join(dir, 'data-bind-3');
    const key = await withDb(d, (db) => createApiKey(db, 'remote'));
    const logged: string[] = [];
    const s = await start(d, { host: '0.0.0.0', log: (m) => logged.push(m) });
    expect(logged.join('\n')).not.toMatch(/WARNING/);
    if (!external) return;
    const url = `http://${external}:${s.port}`;
    expect((await request(`${url}/api/model`)).status).toBe(401);
    expect((await request(`${url}/api/model`, { headers: bearer(key.key) })).status).toBe(200);
    expect((await request(`${url}/metrics`)).status).toBe(401);
    expect((await request(`${url}/healthz`)).status).toBe(200);
  });
});

describe('the throttles on a clock of their own', () => {
  it('login: 5 wrong passwords for an account, then waits doubling from 1 s up to the cap; a right one clears it', () => {
    let now = 0;
    const t = new LoginThrottle({}, () => now);
    for (let i = 0; i < 4; i++) t.failed('Ann', '10.0.0.1');
    expect(t.waitS('ann', '10.0.0.2')).toBe(0);
    t.failed('ann', '10.0.0.1');
    // Per account, from any address; the name's case does not matter.
    expect([t.waitS('ANN', '10.0.0.9'), t.waitS('bob', '10.0.0.9')]).toEqual([1, 0]);
    const waits: number[] = [];
    for (let i = 0; i < 12; i++) {
      now += t.waitS('ann', '10.0.0.1') * 1000;
      t.failed('ann', '10.0.0.1');
      waits.push(t.waitS('ann', '10.0.0.1'));
    }
    expect(waits.slice(0, 5)).toEqual([2, 4, 8, 16, 32]);
    expect(Math.max(...waits)).toBe(900);
    t.succeeded('ann', '10.0.0.1');
    expect(t.waitS('ann', '10.0.0.1')).toBe(0);
  });

  it('login: 20 wrong passwords from one address for any accounts', () => {
    const t = new LoginThrottle({}, () => 0);
    for (let i = 0; i < 19; i++) t.failed(`user${i}`, '10.0.0.1');
    expect(t.waitS('someone', '10.0.0.1')).toBe(0);
    t.failed('user19', '10.0.0.1');
    expect([t.waitS('someone', '10.0.0.1'), t.waitS('someone', '10.0.0.2')]).toEqual([1, 0]);
  });

  it('key buckets: the burst, then one per 60/rate seconds, with the wait in Retry-After', () => {
    let now = 0;
    const b = new BucketLimiter(30, 2, () => now);
    b.take('k', 'key');
    b.take('k', 'key');
    let err: unknown;
    try {
      b.take('k', 'key');
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ status: 429, headers: { 'Retry-After': '2' } });
    b.take('other', 'key');
    now += 2000;
    expect(() => b.take('k', 'key')).not.toThrow();
    expect(() => b.take('k', 'key')).toThrow(/more than 30 requests per minute/);
  });
});
