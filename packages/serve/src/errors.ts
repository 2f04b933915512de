/** An error that maps to one HTTP status with a JSON body `{ status, code, error }`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export interface ErrorBody {
  status: number;
  code: string;
  error: string;
}

/** Status for each DecodeError code of @parts/data's decodeImage. */
const DECODE_STATUS: Record<string, number> = {
  unsupported: 415,
  corrupt: 400,
  'too-large': 413,
  empty: 400,
};

/**
 * Turns a DecodeError of @parts/data (whose message already names the upload) into an
 * HttpError. Any other error is reported as a corrupt image (400).
 */
export function decodeFailure(err: unknown): HttpError {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e?.code === 'string' && e.code in DECODE_STATUS ? e.code : 'corrupt';
  const message = typeof e?.message === 'string' ? e.message : String(err);
  return new HttpError(DECODE_STATUS[code]!, code, message);
}
