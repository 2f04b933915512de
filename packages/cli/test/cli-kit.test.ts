import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from 'commander';
import { int, intAtLeast, num, numAtLeast, positiveInt, repoRoot, servedModelDir } from '../src/index';

describe('cli-kit argument parsers', () => {
  it('int takes any integer and names the bad value', () => {
    expect(int('-3')).toBe(-3);
    expect(int('0')).toBe(0);
    expect(() => int('1.5')).toThrow(new InvalidArgumentError("expected an integer, got '1.5'"));
    expect(() => int('x')).toThrow(InvalidArgumentError);
  });

  it('positiveInt refuses values below 1', () => {
    expect(positiveInt('1')).toBe(1);
    expect(() => positiveInt('0')).toThrow("expected a positive integer, got '0'");
    expect(() => positiveInt('2.5')).toThrow('positive integer');
  });

  it('num takes finite numbers only', () => {
    expect(num('0.25')).toBe(0.25);
    expect(num('-1e-3')).toBe(-0.001);
    expect(() => num('abc')).toThrow("expected a number, got 'abc'");
    expect(() => num('Infinity')).toThrow(InvalidArgumentError);
  });

  it('intAtLeast / numAtLeast enforce the lower bound', () => {
    expect(intAtLeast(0)('0')).toBe(0);
    expect(() => intAtLeast(1)('0')).toThrow("expected an integer >= 1, got '0'");
    expect(() => intAtLeast(0)('0.5')).toThrow('expected an integer >= 0');
    expect(numAtLeast(1)('1.5')).toBe(1.5);
    expect(() => numAtLeast(1)('0.9')).toThrow("expected a number >= 1, got '0.9'");
  });
});

describe('workspace paths', () => {
  it('servedModelDir is packages/serve/model in the repo', () => {
    expect(servedModelDir()).toBe(path.join(repoRoot(), 'packages', 'serve', 'model'));
  });
});
