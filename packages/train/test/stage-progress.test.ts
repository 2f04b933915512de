import { describe, expect, it } from 'vitest';
import { stageProgress } from '../src/progress';

// A clock the test moves by hand: the lines depend on elapsed time, never on the machine's speed.
function fakeClock() {
  let t = 1000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('stageProgress', () => {
  it('prints nothing for a stage that ends within the interval', () => {
    const lines: string[] = [];
    const clock = fakeClock();
    const p = stageProgress((l) => lines.push(l), { everyMs: 5000, now: clock.now });
    for (let i = 1; i <= 40; i++) {
      clock.advance(100);
      p('reading', i, 40);
    }
    expect(lines).toEqual([]);
  });

  it('reports a long stage at most once per interval, then its end', () => {
    const lines: string[] = [];
    const clock = fakeClock();
    const p = stageProgress((l) => lines.push(l), { everyMs: 5000, now: clock.now });
    p('grouping', 1, 1000);
    for (let i = 2; i <= 1000; i++) {
      clock.advance(20); // 20 s in all
      p('grouping', i, 1000);
    }
    expect(lines[0]).toBe('data: grouping 251/1000 photos (5 s)');
    expect(lines).toHaveLength(4); // at 5, 10 and 15 s, then the end at 20 s
    expect(lines[2]).toBe('data: grouping 751/1000 photos (15 s)');
    expect(lines[3]).toBe('data: grouping 1000/1000 photos in 20 s');
  });

  it('times each stage on its own', () => {
    const lines: string[] = [];
    const clock = fakeClock();
    const p = stageProgress((l) => lines.push(l), { everyMs: 5000, now: clock.now });
    p('reading', 1, 2);
    clock.advance(6000);
    p('reading', 2, 2); // a slow stage: its end is reported
    p('checking', 1, 2); // the next stage starts its own clock
    clock.advance(1000);
    p('checking', 2, 2);
    expect(lines).toEqual(['data: reading 2/2 photos in 6 s']);
  });

  it('names the unit it counts', () => {
    const lines: string[] = [];
    const clock = fakeClock();
    const p = stageProgress((l) => lines.push(l), { everyMs: 5000, now: clock.now });
    p('comparing', 10, 100, 'pairs');
    clock.advance(5000);
    p('comparing', 40, 100, 'pairs');
    expect(lines).toEqual(['data: comparing 40/100 pairs (5 s)']);
  });
});
