import { describe, expect, it } from 'vitest';
import { erfc, mcnemar, mcnemarPaired } from '../src/mcnemar';

describe('McNemar', () => {
  it('uses the exact two-sided binomial test for few discordant photos', () => {
    // b = 0, c = 5: 2 * 0.5^5
    expect(mcnemar(0, 5)).toMatchObject({ method: 'exact binomial', p: 0.0625 });
    // b = 1, c = 9: 2 * (1 + 10) / 1024
    expect(mcnemar(1, 9).p).toBeCloseTo(22 / 1024, 12);
    expect(mcnemar(9, 1).p).toBeCloseTo(22 / 1024, 12); // symmetric
    expect(mcnemar(3, 3).p).toBe(1); // capped at 1
    expect(mcnemar(0, 0)).toMatchObject({ method: 'no discordant photos', p: 1 });
  });

  it('uses chi-squared with continuity correction from 25 discordant photos', () => {
    const r = mcnemar(5, 25);
    expect(r.method).toBe('chi-squared with continuity correction');
    expect(r.statistic).toBeCloseTo(361 / 30, 12);
    // chi-squared (1 df) survival at 12.0333 = erfc(sqrt(12.0333 / 2)) = 0.000522575 (Python math.erfc)
    expect(r.p).toBeCloseTo(0.000522, 5);
    expect(erfc(0)).toBeCloseTo(1, 7);
    expect(erfc(1)).toBeCloseTo(0.157299207, 7);
    expect(erfc(-1)).toBeCloseTo(1.842700793, 7);
  });

  it('counts the discordant pairs of two answer lists of the same photos', () => {
    const a = [true, true, false, false, true, false];
    const b = [true, false, true, true, true, true];
    expect(mcnemarPaired(a, b)).toMatchObject({ b: 1, c: 3 });
    expect(() => mcnemarPaired([true], [true, false])).toThrow(/same photos: 1 vs 2/);
    expect(() => mcnemar(-1, 2)).toThrow(RangeError);
  });
});
