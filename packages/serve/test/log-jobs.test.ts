import { spawn } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@parts/backend';
import { createServer } from '../src/index';
import { JobBusyError, JobRunner, parseProgress, type JobState } from '../src/log/jobs';
import { makeModel, request, tempDir } from './fixtures';

// The retrain job runner with real child processes: a small node script that reports progress,
// then waits for a file the test creates (so no step depends on timing).
let dir: string;
let script: string;

beforeAll(async () => {
  dir = await tempDir('log-jobs-');
  script = path.join(dir, 'job.mjs');
  await fsp.writeFile(
    script,
    `import { existsSync } from 'node:fs';
const [go, code] = process.argv.slice(2);
console.log('progress 0.25 reading photos');
console.error('a line on stderr');
while (!existsSync(go)) await new Promise((r) => setTimeout(r, 20));
console.log(JSON.stringify({ progress: 1, message: 'done' }));
process.exit(Number(code));
`,
  );
});
afterAll(() => fsp.rm(dir, { recursive: true, force: true }));

async function until<T>(f: () => Promise<T | null | undefined | false>): Promise<T> {
  for (;;) {
    const v = await f();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
}

const readJob = async (file: string): Promise<JobState | null> => {
  try {
    return JSON.parse(await fsp.readFile(file, 'utf8')) as JobState;
  } catch {
    return null;
  }
};

describe('job runner', () => {
  it('runs one job at a time, reports progress in its job file, and records the end', async () => {
    const dataDir = path.join(dir, 'ok');
    const go = path.join(dir, 'go-ok');
    const runner = new JobRunner({ dataDir, name: 'retrain', command: [process.execPath, script, go, '0'], writeEveryMs: 10 });
    const started = await runner.start();
    expect(started.state).toBe('running');
    expect(started.pid).toBeGreaterThan(0);
    await expect(runner.start()).rejects.toBeInstanceOf(JobBusyError);
    // Another runner on the same folder (a reloaded page, a restarted server) sees it running too.
    const second = new JobRunner({ dataDir, name: 'retrain', command: [process.execPath, script, go, '0'] });
    await expect(second.start()).rejects.toBeInstanceOf(JobBusyError);
    const mid = await until(async () => {
      const j = await readJob(runner.file);
      return j?.progress.fraction === 0.25 ? j : null;
    });
    expect(mid).toMatchObject({ state: 'running', progress: { fraction: 0.25, message: 'reading photos' } });
    await fsp.writeFile(go, '');
    const end = await runner.wait();
    expect(end).toMatchObject({ state: 'succeeded', exitCode: 0, error: null, progress: { fraction: 1, message: 'done' } });
    const onDisk = await readJob(runner.file);
    expect(onDisk).toMatchObject({ id: started.id, state: 'succeeded' });
    expect(onDisk!.output).toEqual(expect.arrayContaining(['progress 0.25 reading photos', 'a line on stderr']));
    expect((await fsp.readdir(path.dirname(runner.file))).filter((f) => f.includes('.tmp-'))).toEqual([]);
    // A new job may start once the last one ended.
    await fsp.rm(go);
    const again = await runner.start();
    expect(again.id).not.toBe(started.id);
    await fsp.writeFile(go, '');
    expect((await runner.wait())!.state).toBe('succeeded');
  });

  it('records a failed job with its exit status, and a command that cannot start', async () => {
    const go = path.join(dir, 'go-fail');
    await fsp.writeFile(go, '');
    const runner = new JobRunner({ dataDir: path.join(dir, 'fail'), name: 'retrain', command: [process.execPath, script, go, '3'] });
    await runner.start();
    expect(await runner.wait()).toMatchObject({ state: 'failed', exitCode: 3, error: 'exited with status 3' });
    const missing = new JobRunner({ dataDir: path.join(dir, 'missing'), name: 'retrain', command: [path.join(dir, 'no-such-command')] });
    await missing.start();
    expect((await missing.wait())!.state).toBe('failed');
    expect((await missing.wait())!.error).toMatch(/could not start|exited/);
  });

  it('marks a job whose process is gone (server stopped while it ran) as interrupted', async () => {
    const dataDir = path.join(dir, 'lost');
    const dead = spawn(process.execPath, ['-e', '']);
    const pid = dead.pid!;
    await new Promise((r) => dead.on('close', r));
    const file = path.join(dataDir, 'jobs', 'retrain.json');
    await fsp.mkdir(path.dirname(file), { recursive: true });
    await fsp.writeFile(file, JSON.stringify({ id: 'x', name: 'retrain', command: ['x'], state: 'running', pid, startedAt: 't', endedAt: null, exitCode: null, signal: null, progress: { fraction: 0.5, message: null }, output: [], error: null }));
    const j = await new JobRunner({ dataDir, name: 'retrain', command: ['x'] }).current();
    expect(j).toMatchObject({ state: 'failed', error: expect.stringMatching(/interrupted/) });
    expect((await readJob(file))!.state).toBe('failed');
  });

  it('parses progress lines', () => {
    expect(parseProgress('progress 0.5 training')).toEqual({ fraction: 0.5, message: 'training' });
    expect(parseProgress('PROGRESS 2')).toEqual({ fraction: 1, message: null });
    expect(parseProgress('{"progress":0.1,"message":"m"}')).toEqual({ fraction: 0.1, message: 'm' });
    expect(parseProgress('epoch 3 loss 0.2')).toBeNull();
  });
});

describe('retrain through the review API', () => {
  it('starts the configured command once (409 while it runs) and shows its state to a fresh page load', async () => {
    await initBackend('cpu', () => {});
    await makeModel(path.join(dir, 'model'), { runId: 'tiny-job', imgSize: 32 });
    const go = path.join(dir, 'go-api');
    const dataDir = path.join(dir, 'api-data');
    const s = await createServer({
      modelDir: path.join(dir, 'model'), port: 0, workers: 0, backend: 'cpu', watchIntervalMs: 0, log: () => {},
      predictionLog: { dataDir }, retrainCommand: [process.execPath, script, go, '0'],
    });
    try {
      const headers = { 'content-type': 'application/json', 'x-parts-review': '1' };
      expect((await request(`${s.url}/api/review/retrain`)).json).toEqual({ job: null });
      const r = await request(`${s.url}/api/review/retrain`, { method: 'POST', headers, body: '{}' });
      expect([r.status, r.json.job.state]).toEqual([202, 'running']);
      const busy = await request(`${s.url}/api/review/retrain`, { method: 'POST', headers, body: '{}' });
      expect([busy.status, busy.json.code]).toEqual([409, 'job-running']);
      await until(async () => (await request(`${s.url}/api/review/retrain`)).json.job.progress.fraction === 0.25);
      await fsp.writeFile(go, '');
      const done = await until(async () => {
        const j = (await request(`${s.url}/api/review/retrain`)).json.job;
        return j.state !== 'running' ? j : null;
      });
      expect(done).toMatchObject({ state: 'succeeded', progress: { fraction: 1 } });
      expect(existsSync(path.join(dataDir, 'jobs', 'retrain.json'))).toBe(true);
    } finally {
      await s.close();
    }
  });
});

describe('a retrain running when the server closes', () => {
  it('is stopped with its whole process group and recorded as cancelled', async () => {
    await initBackend('cpu', () => {});
    await makeModel(path.join(dir, 'model-close'), { runId: 'tiny-close', imgSize: 32 });
    // The job starts a grandchild (as pnpm starts tsx starts node) and both wait for ever.
    const job = path.join(dir, 'job-tree.mjs');
    const pids = path.join(dir, 'job-tree.pids');
    await fsp.writeFile(
      job,
      `import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
const kid = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
writeFileSync(process.argv[2], process.pid + ' ' + kid.pid);
console.log('progress 0.1 training');
setInterval(() => {}, 1000);
`,
    );
    const dataDir = path.join(dir, 'close-data');
    const s = await createServer({
      modelDir: path.join(dir, 'model-close'), port: 0, workers: 0, backend: 'cpu', watchIntervalMs: 0, log: () => {},
      predictionLog: { dataDir }, retrainCommand: [process.execPath, job, pids],
    });
    let closed = false;
    try {
      const headers = { 'content-type': 'application/json', 'x-parts-review': '1' };
      const r = await request(`${s.url}/api/review/retrain`, { method: 'POST', headers, body: '{}' });
      expect(r.status).toBe(202);
      const [leader, grandchild] = (await until(async () => (await fsp.readFile(pids, 'utf8').catch(() => '')).trim() || null)).split(' ').map(Number);
      expect([alive(leader!), alive(grandchild!)]).toEqual([true, true]);
      await s.close();
      closed = true;
      const recorded = await readJob(path.join(dataDir, 'jobs', 'retrain.json'));
      expect(recorded).toMatchObject({ state: 'cancelled', error: 'cancelled: the server stopped while it ran', pid: leader });
      expect(recorded!.endedAt).toBeTruthy();
      // Nothing of the job is left running.
      await until(async () => !alive(leader!) && !alive(grandchild!));
    } finally {
      if (!closed) await s.close();
    }
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
