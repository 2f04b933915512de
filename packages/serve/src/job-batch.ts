/**
 * Which queued jobs one free slot takes at once. Plain jobs are batched together (up to maxBatch
 * images in one predict call); a job that asks for explanations (Grad-CAM, one backward pass per
 * image) runs alone, and a plain batch stops at the first job that asks for them (FIFO order kept).
 */
import type { RawImage } from '@parts/data';
import type { ExplainRequest } from './model-work';

export interface BatchableJob {
  images: RawImage[];
  explain?: ExplainRequest;
}

/** Removes and returns the jobs the next slot runs together, from the head of `queue` (non-empty). */
export function takeBatch<J extends BatchableJob>(queue: J[], maxBatch: number): J[] {
  const first = queue.shift();
  if (!first) return [];
  const batch: J[] = [first];
  let n = first.images.length;
  while (!first.explain && queue.length > 0 && !queue[0]!.explain && n + queue[0]!.images.length <= maxBatch) {
    const j = queue.shift()!;
    n += j.images.length;
    batch.push(j);
  }
  return batch;
}
