// The settings schema and what derives from it: the environment reader, option resolution, the
// commander options, the generated README tables, and the rule that code reads the environment only
// through the schema.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import {
  addSettingOptions,
  COMMAND_SETTINGS,
  ENV_SETTINGS,
  envReport,
  envSetting,
  readEnv,
  repoRoot,
  resolveSettings,
  settingValues,
  TRAIN_SETTINGS,
  withGeneratedTables,
} from '../src/index';
import { flagName, type Setting } from '../src/settings/setting';

const root = repoRoot();

describe('environment variables', () => {
  it('parses each declared variable by its type; unset and empty read as the default', () => {
    const env = readEnv({ PARTS_WASM_THREADS: '3', PARTS_WASM_SIMD_KERNELS: '0', PARTS_CACHE_DIR: '', PARTS_WASM_FILTER_GRAD: 'loop' });
    expect(env.PARTS_WASM_THREADS).toBe(3);
    expect(env.PARTS_WASM_SIMD_KERNELS).toBe(false);
    expect(env.PARTS_CACHE_DIR).toBeUndefined();
    expect(envSetting('PARTS_WASM_FILTER_GRAD', { PARTS_WASM_FILTER_GRAD: 'loop' })).toBe('loop');
    expect(envSetting('PARTS_WASM_FILTER_GRAD', {})).toBe('gemm');
    expect(envSetting('PARTS_WEBGPU_KERNELS', {})).toBe('all');
  });

  it('names every bad variable, its rule and its value in one error', () => {
    expect(() => readEnv({ PARTS_WASM_THREADS: 'two', PARTS_WASM_FILTER_GRAD: 'fast', PARTS_VERBOSE: 'maybe' })).toThrow(
      /PARTS_VERBOSE must be 0 or 1 \(got 'maybe'\)\nPARTS_WASM_THREADS must be an integer >= 1 \(got 'two'\)\nPARTS_WASM_FILTER_GRAD must be one of gemm, xnnpack, loop \(got 'fast'\)/,
    );
  });

  it('sees a change of the process environment at once (tests set variables between calls)', () => {
    const saved = process.env.PARTS_WASM_THREADS;
    try {
      process.env.PARTS_WASM_THREADS = '5';
      expect(envSetting('PARTS_WASM_THREADS')).toBe(5);
      process.env.PARTS_WASM_THREADS = '6';
      expect(envSetting('PARTS_WASM_THREADS')).toBe(6);
    } finally {
      if (saved === undefined) delete process.env.PARTS_WASM_THREADS;
      else process.env.PARTS_WASM_THREADS = saved;
    }
  });

  it("diagnose's report lists the PARTS_ variables in force, the invalid ones and the unknown ones", () => {
    const r = envReport({ PARTS_WASM_THREADS: '2', PARTS_FAST: 'x', PARTS_WASM_THRAEDS: '4', HOME: '/root' });
    expect(r.rows).toEqual([
      expect.objectContaining({ name: 'PARTS_WASM_THREADS', value: '2', status: 'set' }),
      expect.objectContaining({ name: 'PARTS_FAST', status: 'invalid', detail: 'must be 0 or 1' }),
    ]);
    expect(r.unknown).toEqual(['PARTS_WASM_THRAEDS']);
  });

  it('says a secret is set without showing it', () => {
    const r = envReport({ PARTS_METRICS_TOKEN: 'scrape-token-0123456789' });
    expect(r.rows).toEqual([expect.objectContaining({ name: 'PARTS_METRICS_TOKEN', value: '(set, not shown)', status: 'set' })]);
    expect(JSON.stringify(r)).not.toContain('scrape-token');
  });
});

describe('option resolution', () => {
  it('explicit > layers in order > default, and each bad value is named by its flag', () => {
    const r = resolveSettings(TRAIN_SETTINGS, { lr: 0.5 }, { epochs: 7, lr: 0.1 }, { epochs: 9 });
    expect(r.lr).toBe(0.5);
    expect(r.epochs).toBe(9);
    expect(r.batchSize).toBe(16);
    expect(() => resolveSettings(TRAIN_SETTINGS, { epochs: 0, lrSchedule: 'step', acceptRate: 1.5 })).toThrow(
      /--epochs must be an integer >= 1 \(got 0\)\n--lr-schedule must be constant or cosine \(got step\)\n--accept-rate must be a number in \(0, 1\]/,
    );
  });
});

describe('commander options from the schema', () => {
  const parse = (args: string[], check: 'full' | 'type' = 'full') => {
    const cmd = addSettingOptions(new Command('serve').exitOverride().configureOutput({ writeErr: () => {} }), COMMAND_SETTINGS.serve, { check });
    cmd.parse(['node', 'x', ...args]);
    return settingValues(cmd.opts(), COMMAND_SETTINGS.serve);
  };

  it('fills in defaults and parses by type', () => {
    const o = parse(['--port', '0', '--no-unknown']);
    expect(o).toMatchObject({ port: 0, host: '127.0.0.1', queue: 16, unknown: false, backend: 'auto' });
    expect(parse([]).unknown).toBe(true);
  });

  it('refuses a value outside the rule with the flag in the message', () => {
    expect(() => parse(['--port', '-1'])).toThrow(/--port must be an integer in 0\.\.65535 \(got '-1'\)/);
    expect(() => parse(['--backend', 'gpu'])).toThrow(/Allowed choices are auto, tensorflow, webgpu, wasm, cpu/);
  });

  it("'type' checks only the type and leaves defaults to resolution (recipes come in between)", () => {
    const cmd = addSettingOptions(new Command('train').exitOverride().configureOutput({ writeErr: () => {} }), TRAIN_SETTINGS, { check: 'type' });
    cmd.parse(['node', 'x', '--epochs', '-3', '--no-augment']);
    const o = settingValues(cmd.opts(), TRAIN_SETTINGS);
    expect(o.epochs).toBe(-3);
    expect(o.lr).toBeUndefined();
    expect(o.augment).toBe('none');
    expect(() => cmd.parse(['node', 'x', '--epochs', 'many'])).toThrow(/--epochs must be an integer \(got 'many'\)/);
  });
});

describe('the schema', () => {
  it('has one flag per name within a command, and every env name matches its key', () => {
    for (const [cmd, group] of Object.entries(COMMAND_SETTINGS)) {
      const flags = Object.values(group as Record<string, Setting>).flatMap((s) => [flagName(s), s.negate?.flag]).filter(Boolean);
      expect(new Set(flags).size, cmd).toBe(flags.length);
    }
    for (const [name, s] of Object.entries(ENV_SETTINGS)) expect((s as Setting).env).toBe(name);
  });

  it("the README's option and environment tables are the generated ones (pnpm settings:docs)", () => {
    const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
    expect(withGeneratedTables(readme) === readme, 'README.md settings tables are stale: run `pnpm settings:docs`').toBe(true);
  });

  const sources = (dir: string): string[] =>
    readdirSync(dir).flatMap((n) => {
      const p = path.join(dir, n);
      if (n === 'node_modules' || n === 'test') return [];
      return statSync(p).isDirectory() ? sources(p) : /\.(ts|mjs)$/.test(n) ? [p] : [];
    });
  const code = sources(path.join(root, 'packages')).map((f) => ({ f: path.relative(root, f), text: readFileSync(f, 'utf8') }));

  it('no product code reads process.env outside the settings module', () => {
    const readers = code.filter(({ f, text }) => !f.startsWith(path.join('packages', 'cli', 'src', 'settings')) && /process\.env\b/.test(text)).map(({ f }) => f);
    expect(readers).toEqual([]);
  });

  it('every PARTS_ variable the code or scripts name is declared', () => {
    const scripts = ['scripts', '.ci'].flatMap((d) => {
      try {
        return sources(path.join(root, d)).concat(readdirSync(path.join(root, d)).filter((n) => /\.sh$|^run$/.test(n)).map((n) => path.join(root, d, n)));
      } catch {
        return [];
      }
    });
    const named = new Set([...code.map((c) => c.text), ...scripts.map((f) => readFileSync(f, 'utf8'))].flatMap((t) => t.match(/\bPARTS_[A-Z0-9_]+/g) ?? []));
    const undeclared = [...named].filter((n) => !(n in ENV_SETTINGS));
    expect(undeclared).toEqual([]);
  });
});
