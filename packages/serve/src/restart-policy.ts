/**
 * How the engine replaces a dead worker thread: the n-th consecutive failure (a death, or a
 * replacement that did not start) waits initialDelayMs * 2^(n-1), at most maxDelayMs, before the
 * next start. After maxFailures in a row the slot is given up (until a new model is promoted, or
 * the process is restarted). A prediction answered by the slot resets the count, so a worker that
 * crashes now and then is always replaced but one that dies on every request is not restarted for ever.
 */

export interface RestartPolicy {
  maxFailures: number;
  initialDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RESTART: RestartPolicy = { maxFailures: 5, initialDelayMs: 500, maxDelayMs: 10_000 };

/** The policy with `overrides` applied over DEFAULT_RESTART. */
export function restartPolicy(overrides: Partial<RestartPolicy> = {}): RestartPolicy {
  return { ...DEFAULT_RESTART, ...overrides };
}

/** True once `failures` consecutive failures exceed the policy: the slot is given up. */
export function restartsExhausted(policy: RestartPolicy, failures: number): boolean {
  return failures > policy.maxFailures;
}

/** How long to wait before the next start after `failures` (>= 1) consecutive failures. */
export function restartDelayMs(policy: RestartPolicy, failures: number): number {
  return Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** (failures - 1));
}
