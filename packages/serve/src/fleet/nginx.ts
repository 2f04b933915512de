// nginx in front of serve replicas, run unprivileged from a temporary prefix: the site is the
// repository's example (deploy/nginx/parts-serve.conf) with its upstream `server` lines and its
// `listen` line replaced, so what the fleet test exercises is the example itself; the main
// configuration around it only moves nginx's pid, logs and temporary files into the prefix.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '@parts/cli';
import { accepts, findExecutable, spawnGroup, waitUntil, type GroupProcess } from './processes';

/** The example site configuration: upstream of replicas, limits, timeouts, retries, forwarded headers. */
export const NGINX_EXAMPLE = path.join(repoRoot(), 'deploy', 'nginx', 'parts-serve.conf');

/** Where nginx is: on PATH, else Debian's /usr/sbin/nginx; null when not installed (apt-get install nginx). */
export function findNginx(): string | null {
  return findExecutable('nginx', ['/usr/sbin/nginx']);
}

const UPSTREAM_SERVER = /^([ \t]*)server[ \t]+\S+?:\d+([^;\n]*);[ \t]*\n/gm;
const LISTEN = /^([ \t]*)listen[ \t]+[^;\n]+;/gm;

/**
 * The example site with `replicas` (host:port each) as its upstream servers, keeping the first
 * example line's parameters (max_fails, fail_timeout), and `listen` as its one listen address.
 */
export function siteConfig(example: string, o: { listen: string; replicas: string[] }): string {
  if (o.replicas.length === 0) throw new Error('siteConfig: at least one replica');
  const servers = [...example.matchAll(UPSTREAM_SERVER)];
  const listens = [...example.matchAll(LISTEN)];
  if (servers.length === 0) throw new Error(`${NGINX_EXAMPLE}: no upstream 'server host:port ...;' line to replace`);
  if (listens.length !== 1) throw new Error(`${NGINX_EXAMPLE}: expected one 'listen' line, found ${listens.length}`);
  const [, indent, params] = servers[0]!;
  const lines = o.replicas.map((r) => `${indent}server ${r}${params};\n`).join('');
  let first = true;
  return example
    .replace(UPSTREAM_SERVER, () => {
      const out = first ? lines : '';
      first = false;
      return out;
    })
    .replace(LISTEN, (_m, ind: string) => `${ind}listen ${o.listen};`);
}

/**
 * The main configuration: foreground, one worker, pid, logs and temporary files under `prefix`, and
 * the site included. `exposeUpstream` adds a response header X-Upstream-Addr naming the replica that
 * answered (for tests; it tells clients internal addresses, so not in production).
 */
export function mainConfig(prefix: string, siteFile: string, o: { exposeUpstream?: boolean } = {}): string {
  const p = (f: string) => path.join(prefix, f);
  return [
    'daemon off;',
    'worker_processes 1;',
    `pid ${p('nginx.pid')};`,
    `error_log ${p('error.log')} warn;`,
    'events { worker_connections 1024; }',
    'http {',
    '  log_format upstream \'$remote_addr "$request" $status $body_bytes_sent upstream=$upstream_addr upstream_status=$upstream_status $request_time\';',
    `  access_log ${p('access.log')} upstream;`,
    `  client_body_temp_path ${p('client_body')};`,
    `  proxy_temp_path ${p('proxy')};`,
    `  fastcgi_temp_path ${p('fastcgi')};`,
    `  uwsgi_temp_path ${p('uwsgi')};`,
    `  scgi_temp_path ${p('scgi')};`,
    ...(o.exposeUpstream ? ['  add_header X-Upstream-Addr $upstream_addr always;'] : []),
    `  include ${siteFile};`,
    '}',
    '',
  ].join('\n');
}

export interface NginxHandle {
  url: string;
  port: number;
  prefix: string;
  process: GroupProcess;
  /** Lines of the access log (request, status, upstream tried). */
  accessLog(): Promise<string[]>;
  stop(): Promise<void>;
}

/** Starts nginx on 127.0.0.1:`port` in front of `replicas`, from the files it writes into `prefix`. */
export async function startNginx(o: { prefix: string; port: number; replicas: string[]; exposeUpstream?: boolean; binary?: string }): Promise<NginxHandle> {
  const bin = o.binary ?? findNginx();
  if (!bin) throw new Error('nginx is not installed (Debian: apt-get install nginx)');
  await fsp.mkdir(o.prefix, { recursive: true });
  // As root the master runs its worker as `nobody`, which must reach the temporary-file folders.
  if (process.getuid?.() === 0) await fsp.chmod(o.prefix, 0o755);
  const site = path.join(o.prefix, 'parts-serve.conf');
  const main = path.join(o.prefix, 'nginx.conf');
  await fsp.writeFile(site, siteConfig(await fsp.readFile(NGINX_EXAMPLE, 'utf8'), { listen: `127.0.0.1:${o.port}`, replicas: o.replicas }));
  await fsp.writeFile(main, mainConfig(o.prefix, site, { exposeUpstream: o.exposeUpstream }));
  const proc = spawnGroup('nginx', bin, ['-p', o.prefix, '-c', main, '-e', path.join(o.prefix, 'error.log')]);
  const output = async () => `${proc.output()}${await fsp.readFile(path.join(o.prefix, 'error.log'), 'utf8').catch(() => '')}`;
  try {
    await waitUntil(`nginx listening on 127.0.0.1:${o.port}`, () => accepts('127.0.0.1', o.port), { proc, timeoutMs: 60_000 });
  } catch (e) {
    await proc.stop(2000);
    throw new Error(`${(e as Error).message}\n${await output()}`);
  }
  return {
    url: `http://127.0.0.1:${o.port}`,
    port: o.port,
    prefix: o.prefix,
    process: proc,
    accessLog: async () => (await fsp.readFile(path.join(o.prefix, 'access.log'), 'utf8').catch(() => '')).split('\n').filter(Boolean),
    // SIGTERM is nginx's fast shutdown (SIGQUIT would wait for open connections).
    stop: () => proc.stop(10_000),
  };
}
