// The example nginx and Prometheus configurations and what the fleet module makes of them: nginx
// accepts the example as the fleet writes it (`nginx -t`), its body limit is the server's, its
// upstream lines and listen are replaced as asked; promtool accepts the example Prometheus
// configuration and the generated one. The nginx and promtool checks skip, saying why, when the
// binaries are absent (Debian packages `nginx` and `prometheus`).
import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, SERVE_SETTINGS } from '@parts/cli';
import { ALERT_RULES, findExecutable, findNginx, mainConfig, NGINX_EXAMPLE, prometheusConfig, siteConfig } from '../src/fleet/index';
import { tempDir } from './fixtures';

const run = promisify(execFile);
const nginx = findNginx();
const promtool = findExecutable('promtool', ['/usr/bin/promtool']);
if (!nginx) console.warn('fleet-config.test: nginx not installed (apt-get install nginx): skipping `nginx -t` of the example');
if (!promtool) console.warn('fleet-config.test: promtool not installed (apt-get install prometheus): skipping `promtool check config`');

let example: string;
let dir: string;

beforeAll(async () => {
  example = await fsp.readFile(NGINX_EXAMPLE, 'utf8');
  dir = await tempDir('fleet-config-');
});
afterAll(() => fsp.rm(dir, { recursive: true, force: true }));

/** A directive's arguments in an nginx configuration, every occurrence (comments dropped). */
function directive(conf: string, name: string): string[] {
  const text = conf.replace(/#.*$/gm, '');
  return [...text.matchAll(new RegExp(`^\\s*${name}\\s+([^;]*);`, 'gm'))].map((m) => m[1]!.trim());
}

describe('deploy/nginx/parts-serve.conf', () => {
  it('limits request bodies to what pnpm serve accepts by default (--max-bytes)', () => {
    const [size] = directive(example, 'client_max_body_size');
    const m = /^(\d+)([kKmM]?)$/.exec(size ?? '');
    expect(m, `client_max_body_size ${size}`).not.toBeNull();
    const bytes = Number(m![1]) * ({ '': 1, k: 1024, m: 1024 * 1024 }[m![2]!.toLowerCase()] ?? NaN);
    expect(bytes).toBe(SERVE_SETTINGS.maxBytes.default);
  });

  it('never repeats a POST a replica may have answered, and forwards the client address and scheme', () => {
    const next = directive(example, 'proxy_next_upstream');
    expect(next).toHaveLength(1);
    expect(next[0]!.split(/\s+/)).toEqual(expect.arrayContaining(['error', 'timeout']));
    expect(next[0]).not.toMatch(/non_idempotent/);
    expect(directive(example, 'proxy_set_header')).toEqual(expect.arrayContaining(['X-Forwarded-For $proxy_add_x_forwarded_for', 'X-Forwarded-Proto $scheme']));
  });

  it('becomes the fleet site: one upstream line per replica with the example parameters, the listen address replaced', () => {
    const site = siteConfig(example, { listen: '127.0.0.1:9999', replicas: ['127.0.0.1:1', '127.0.0.1:2'] });
    expect(directive(site, 'server').filter((s) => !s.startsWith('{'))).toEqual(['127.0.0.1:1 max_fails=1 fail_timeout=5s', '127.0.0.1:2 max_fails=1 fail_timeout=5s']);
    expect(directive(site, 'listen')).toEqual(['127.0.0.1:9999']);
    // Everything else is the example's.
    const rest = (c: string) => c.split('\n').filter((l) => !/^\s*(server\s+\S+:\d+|listen)\s/.test(l));
    expect(rest(site)).toEqual(rest(example));
    expect(() => siteConfig('server { listen 1; }', { listen: 'x', replicas: ['a:1'] })).toThrow(/no upstream 'server host:port/);
    expect(() => siteConfig(example, { listen: 'x', replicas: [] })).toThrow(/at least one replica/);
  });

  it.skipIf(!nginx)('passes `nginx -t` as the fleet writes it', async () => {
    const prefix = path.join(dir, 'nginx');
    await fsp.mkdir(prefix, { recursive: true });
    const site = path.join(prefix, 'site.conf');
    const main = path.join(prefix, 'nginx.conf');
    await fsp.writeFile(site, siteConfig(example, { listen: '127.0.0.1:9999', replicas: ['127.0.0.1:8081', '127.0.0.1:8082', '127.0.0.1:8083'] }));
    await fsp.writeFile(main, mainConfig(prefix, site, { exposeUpstream: true }));
    const { stderr } = await run(nginx!, ['-t', '-p', prefix, '-c', main, '-e', path.join(prefix, 'error.log')]);
    expect(stderr).toMatch(/syntax is ok/);
    expect(stderr).toMatch(/test is successful/);
  });
});

describe('Prometheus configuration', () => {
  it('lists every replica as a target of one job, with the example alert rules', () => {
    const yml = prometheusConfig({ targets: ['127.0.0.1:1', '127.0.0.1:2'], scrapeIntervalS: 1, ruleFiles: [ALERT_RULES] });
    expect(yml).toContain('- targets: ["127.0.0.1:1", "127.0.0.1:2"]');
    expect(yml).toContain('scrape_interval: 1s');
    expect(yml).toContain(JSON.stringify(ALERT_RULES));
  });

  it.skipIf(!promtool)('passes `promtool check config`: the example and the generated one', async () => {
    const ex = await run(promtool!, ['check', 'config', 'prometheus.yml'], { cwd: path.join(repoRoot(), 'deploy', 'prometheus') });
    expect(ex.stdout).toMatch(/SUCCESS: prometheus.yml is valid/);
    expect(ex.stdout).toMatch(/SUCCESS: \d+ rules found/);
    const file = path.join(dir, 'prometheus.yml');
    await fsp.writeFile(file, prometheusConfig({ targets: ['127.0.0.1:8081', '127.0.0.1:8082'], scrapeIntervalS: 1, ruleFiles: [ALERT_RULES] }));
    const gen = await run(promtool!, ['check', 'config', file]);
    expect(gen.stdout).toMatch(/is valid prometheus config file syntax/);
  });
});
