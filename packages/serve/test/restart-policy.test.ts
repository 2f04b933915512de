// Replacing dead worker threads: exponential back-off capped at maxDelayMs, given up after maxFailures.
import { describe, expect, it } from 'vitest';
import { DEFAULT_RESTART, restartDelayMs, restartPolicy, restartsExhausted } from '../src/restart-policy';

describe('restart policy', () => {
  it('fills what is not overridden from the defaults', () => {
    expect(restartPolicy()).toEqual(DEFAULT_RESTART);
    expect(restartPolicy({ maxFailures: 1 })).toEqual({ ...DEFAULT_RESTART, maxFailures: 1 });
  });

  it('doubles the wait after each consecutive failure, up to the cap', () => {
    const p = { maxFailures: 9, initialDelayMs: 100, maxDelayMs: 700 };
    expect([1, 2, 3, 4, 5].map((n) => restartDelayMs(p, n))).toEqual([100, 200, 400, 700, 700]);
  });

  it('gives up only once the failures exceed maxFailures', () => {
    const p = restartPolicy({ maxFailures: 2 });
    expect([1, 2, 3].map((n) => restartsExhausted(p, n))).toEqual([false, false, true]);
  });
});
