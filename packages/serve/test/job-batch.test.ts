// Which queued jobs one free slot takes: plain jobs together up to maxBatch images, explanation jobs alone.
import { describe, expect, it } from 'vitest';
import type { RawImage } from '@parts/data';
import { takeBatch } from '../src/job-batch';

const img = (): RawImage => ({ data: new Uint8Array(3), width: 1, height: 1 });
const job = (name: string, n: number, explain = false) => ({ name, images: Array.from({ length: n }, img), ...(explain ? { explain: { bytes: [], maxSide: 1, maxPixels: 1 } } : {}) });

describe('takeBatch', () => {
  it('takes plain jobs from the head while their images fit in maxBatch, keeping the rest queued in order', () => {
    const q = [job('a', 2), job('b', 3), job('c', 4), job('d', 1)];
    expect(takeBatch(q, 6).map((j) => j.name)).toEqual(['a', 'b']);
    expect(q.map((j) => j.name)).toEqual(['c', 'd']);
  });

  it('runs a job asking for explanations alone', () => {
    const q = [job('x', 1, true), job('a', 1)];
    expect(takeBatch(q, 16).map((j) => j.name)).toEqual(['x']);
    expect(q.map((j) => j.name)).toEqual(['a']);
  });

  it('stops a plain batch at the first explanation job (FIFO order kept)', () => {
    const q = [job('a', 1), job('x', 1, true), job('b', 1)];
    expect(takeBatch(q, 16).map((j) => j.name)).toEqual(['a']);
    expect(q.map((j) => j.name)).toEqual(['x', 'b']);
  });

  it('takes a first job larger than maxBatch on its own, and nothing from an empty queue', () => {
    const q = [job('big', 20), job('a', 1)];
    expect(takeBatch(q, 16).map((j) => j.name)).toEqual(['big']);
    expect(takeBatch([], 16)).toEqual([]);
  });
});
