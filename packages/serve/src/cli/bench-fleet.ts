import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import autocannon from 'autocannon';
import { addSettingOptions, BENCH_FLEET_SETTINGS, missingModelError, repoRoot, resolveUserPath, runCli, servedModelDir } from '@parts/cli';
import { findNginx, groupCpuSeconds, startFleet, type Fleet } from '../fleet/index';

/**
 * `pnpm bench:fleet`: throughput of one `pnpm serve` replica and of N replicas, each fleet behind
 * nginx (deploy/nginx/parts-serve.conf) on loopback, measured alternately in one run (1, N, 1, N, ...)
 * so a change of the machine's load falls on both sides alike; and the one replica without nginx,
 * for nginx's own cost. The machine's load average is
 * printed beside each measurement, and the CPU time the replicas and nginx spent per answered
 * request (from /proc): on a machine with fewer cores than replicas times their threads, more
 * replicas only share the same cores, and on a machine shared with other work, more processes also
 * take a larger share of it, which requests/s alone would credit to the fleet.
 */

const program = addSettingOptions(
  new Command('bench:fleet').description('Throughput of 1 and N serve replicas behind nginx, side by side in one run'),
  BENCH_FLEET_SETTINGS,
  { defaults: { model: servedModelDir(), image: path.resolve(repoRoot(), '../shared/datasets/parts/test/big/m12_bolt_03.jpg') } },
);

interface Options {
  model: string; image: string; replicas: number; duration: number; connections: number; rounds: number;
  workers?: number; engine: string; threads?: number; backend: string;
}

interface Measurement {
  replicas: number;
  /** Straight to the one replica, without nginx (nginx's own cost). */
  direct: boolean;
  requestsPerS: number;
  p50Ms: number;
  p99Ms: number;
  ok: number;
  failed: number;
  load1Before: number;
  load1After: number;
  /** CPU time of the replicas and nginx per answered request, ms: what the load cost, whatever share of the machine it got. */
  cpuMsPerRequest: number;
}

/** CPU seconds used so far by the fleet's replicas and nginx. */
async function fleetCpu(f: Fleet): Promise<number> {
  const groups = [...f.replicas.map((r) => r.process().pid), ...(f.nginx ? [f.nginx.process.pid] : [])];
  let s = 0;
  for (const g of groups) s += await groupCpuSeconds(g);
  return s;
}

runCli(
  program,
  async (o: Options) => {
    const modelDir = resolveUserPath(o.model);
    const missing = missingModelError(modelDir, 'model to serve');
    if (missing) throw missing;
    if (!findNginx()) throw new Error('nginx is not installed (Debian: apt-get install nginx; scripts/setup.sh does it as root)');
    const image = await fsp.readFile(resolveUserPath(o.image));
    const serveArgs = [
      '--watch-ms', '0', '--queue', '1024', '--engine', o.engine, '--backend', o.backend,
      ...(o.workers !== undefined ? ['--workers', String(o.workers)] : []),
      ...(o.threads !== undefined ? ['--threads', String(o.threads)] : []),
    ];
    const results: Measurement[] = [];
    let engineLine = '';
    for (let round = 0; round < o.rounds; round++) {
      for (const [n, direct] of [[1, true], [1, false], [o.replicas, false]] as const) {
        console.error(`bench:fleet: round ${round + 1}/${o.rounds}: ${n} replica(s) ${direct ? 'without nginx' : 'behind nginx'}, ${o.connections} connections for ${o.duration}s`);
        const fleet = await startFleet({ modelDir, replicas: n, log: false, serveArgs, nginx: !direct });
        try {
          engineLine ||= /^engine: (.*)$/m.exec(fleet.replicas[0]!.process().output())?.[1] ?? '';
          const load1Before = os.loadavg()[0]!;
          const cpuBefore = await fleetCpu(fleet);
          const r = await autocannon({ url: `${fleet.url}/api/predict`, method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: image, connections: o.connections, duration: o.duration });
          results.push({ replicas: n, direct, requestsPerS: r.requests.average, p50Ms: r.latency.p50, p99Ms: r.latency.p99, ok: r['2xx'], failed: r.non2xx + r.errors, load1Before, load1After: os.loadavg()[0]!, cpuMsPerRequest: ((await fleetCpu(fleet)) - cpuBefore) * 1000 / r['2xx'] });
        } finally {
          await fleet.stop();
        }
      }
    }

    const f = (x: number, d = 1) => x.toFixed(d).padStart(9);
    console.log(`model      ${modelDir}`);
    console.log(`image      ${resolveUserPath(o.image)} (${image.length} bytes)`);
    console.log(`machine    ${os.availableParallelism()} cores; each replica: ${serveArgs.join(' ')}, log off; engine: ${engineLine}`);
    console.log(`load       ${o.connections} connections, ${o.duration}s per measurement, ${o.rounds} round(s) in this order`);
    console.log('');
    console.log('replicas           requests/s  p50 ms    p99 ms    2xx/failed  CPU ms/request  load avg 1 min before -> after');
    for (const m of results) {
      console.log(`${`${m.replicas} ${m.direct ? 'direct' : 'nginx'}`.padStart(16)} ${f(m.requestsPerS)} ${f(m.p50Ms, 0)} ${f(m.p99Ms, 0)} ${`${m.ok}/${m.failed}`.padStart(12)} ${f(m.cpuMsPerRequest).padStart(15)}   ${m.load1Before.toFixed(2)} -> ${m.load1After.toFixed(2)}`);
    }
    const mean = (n: number, direct = false) => {
      const v = results.filter((m) => m.replicas === n && m.direct === direct);
      return v.reduce((a, m) => a + m.requestsPerS, 0) / v.length;
    };
    console.log('');
    console.log(`mean requests/s behind nginx: 1 replica ${mean(1).toFixed(1)}, ${o.replicas} replicas ${mean(o.replicas).toFixed(1)}: ${(mean(o.replicas) / mean(1)).toFixed(2)} x`);
    const cpu = (n: number, direct = false) => {
      const v = results.filter((m) => m.replicas === n && m.direct === direct);
      return v.reduce((a, m) => a + m.cpuMsPerRequest, 0) / v.length;
    };
    console.log(`CPU ms per request (replicas + nginx): 1 direct ${cpu(1, true).toFixed(1)}, 1 behind nginx ${cpu(1).toFixed(1)}, ${o.replicas} behind nginx ${cpu(o.replicas).toFixed(1)}`);
    console.log(`nginx's cost, 1 replica: ${mean(1, true).toFixed(1)} requests/s direct, ${mean(1).toFixed(1)} behind nginx: ${(mean(1) / mean(1, true)).toFixed(2)} x`);
    return results.some((m) => m.failed > 0) ? 1 : 0;
  },
  { errorPrefix: 'bench:fleet' },
);
