// Admission of model work: every request that runs the model (a prediction, the Grad-CAM of a
// stored photo) takes one of the server's admission places (the engine's slots + the queue limit)
// or is refused with 503 busy, so no route can pile work onto the model past that bound.
import { HttpError } from '../errors';
import type { HandlerContext } from './context';

/** Takes an admission place, or throws 503 busy (Retry-After: 1) when all are taken; call the result once to give it back. */
export function admit(ctx: HandlerContext): () => void {
  const { counters, limits } = ctx;
  if (counters.active >= ctx.admitLimit()) {
    counters.rejectedBusy++;
    throw new HttpError(503, 'busy', `server is busy (${counters.active} requests in progress, queue limit ${limits.queueLimit}); retry shortly`, {
      'Retry-After': '1',
    });
  }
  counters.active++;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    counters.active--;
  };
}
