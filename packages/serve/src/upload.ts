import type { IncomingMessage } from 'node:http';
import busboy from 'busboy';
import { HttpError } from './errors';

/**
 * Reads the image(s) of a predict request into memory, never more than maxBytes: a
 * Content-Length above the limit is refused before reading, and a body that grows past it
 * while streaming (chunked, or a lying length) is cut off at the limit.
 */

export interface Upload {
  /** Client file name (multipart), or undefined for a raw body. */
  filename?: string;
  /** Declared media type. */
  type: string;
  data: Buffer;
  /** How error messages name this upload: `field 'image' file 'x.jpg'` or `request body`. */
  label: string;
}

export interface UploadLimits {
  maxBytes: number;
  maxFiles: number;
}

export const IMAGE_FIELD = 'image';

function tooLarge(maxBytes: number): HttpError {
  return new HttpError(413, 'too-large', `request body exceeds the limit of ${maxBytes} bytes (--max-bytes)`);
}

/** Whether a declared part type may hold an image (browsers send octet-stream for unknown files). */
function mayBeImage(type: string): boolean {
  const t = type.toLowerCase();
  return t === '' || t.startsWith('image/') || t === 'application/octet-stream';
}

/** `fields`, when given, receives the multipart request's text fields (at most 32, 64 KiB each). */
export function readUploads(req: IncomingMessage, limits: UploadLimits, fields?: Record<string, string>): Promise<Upload[]> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limits.maxBytes) return Promise.reject(tooLarge(limits.maxBytes));
  const contentType = (req.headers['content-type'] ?? '').toLowerCase();
  const mediaType = contentType.split(';')[0]!.trim();
  if (mediaType === 'multipart/form-data') return readMultipart(req, limits, fields);
  if (mediaType.startsWith('image/')) return readRaw(req, limits.maxBytes, mediaType).then((u) => [u]);
  return Promise.reject(
    new HttpError(
      415,
      'unsupported-media-type',
      `content type ${mediaType ? `'${mediaType}'` : '(none)'} is not accepted: send multipart/form-data with field '${IMAGE_FIELD}', or the image itself with an image/* content type`,
    ),
  );
}

function readRaw(req: IncomingMessage, maxBytes: number, type: string): Promise<Upload> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > maxBytes) {
        cleanup();
        reject(tooLarge(maxBytes));
        return;
      }
      chunks.push(c);
    };
    const onEnd = () => {
      cleanup();
      const data = Buffer.concat(chunks, size);
      if (data.length === 0) reject(new HttpError(400, 'empty', 'request body is empty: send the image bytes'));
      else resolve({ type, data, label: 'request body' });
    };
    const onError = (e: Error) => {
      cleanup();
      reject(new HttpError(400, 'aborted', `request body could not be read: ${e.message}`));
    };
    const cleanup = () => {
      req.off('data', onData).off('end', onEnd).off('error', onError);
      req.pause();
    };
    req.on('data', onData).on('end', onEnd).on('error', onError);
  });
}

function readMultipart(req: IncomingMessage, limits: UploadLimits, fields?: Record<string, string>): Promise<Upload[]> {
  return new Promise((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({
        headers: req.headers,
        limits: { fileSize: limits.maxBytes, files: limits.maxFiles, fields: 32, parts: limits.maxFiles + 32, fieldSize: 64 * 1024 },
      });
    } catch (e) {
      reject(new HttpError(400, 'bad-multipart', `malformed multipart request: ${(e as Error).message}`));
      return;
    }
    const uploads: Upload[] = [];
    let total = 0;
    let settled = false;
    let pendingFiles = 0;
    let busboyDone = false;

    const fail = (err: HttpError) => {
      if (settled) return;
      settled = true;
      req.off('data', countBytes);
      req.unpipe(bb);
      bb.removeAllListeners();
      bb.on('error', () => {}); // a destroyed parser may still emit; nothing listens any more
      bb.destroy();
      req.pause();
      reject(err);
    };
    const maybeFinish = () => {
      if (settled || !busboyDone || pendingFiles > 0) return;
      settled = true;
      if (uploads.length === 0) {
        reject(new HttpError(400, 'empty', `no file in field '${IMAGE_FIELD}': send one or more images as multipart field '${IMAGE_FIELD}'`));
      } else {
        resolve(uploads);
      }
    };
    // The whole body counts against maxBytes, not just each file.
    const countBytes = (c: Buffer) => {
      total += c.length;
      if (total > limits.maxBytes) fail(tooLarge(limits.maxBytes));
    };

    bb.on('file', (field, stream, info) => {
      // Destroying the parser destroys the open file stream with an error; never unhandled.
      stream.on('error', () => {});
      const label = `field '${field}' file '${info.filename ?? ''}'`;
      if (field !== IMAGE_FIELD) {
        stream.resume();
        fail(new HttpError(400, 'unexpected-field', `unexpected file in field '${field}': images go in field '${IMAGE_FIELD}'`));
        return;
      }
      if (!mayBeImage(info.mimeType)) {
        stream.resume();
        fail(new HttpError(415, 'unsupported-media-type', `${label} has type '${info.mimeType}', which is not an image`));
        return;
      }
      pendingFiles++;
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('limit', () => fail(tooLarge(limits.maxBytes)));
      stream.on('error', (e: Error) => fail(new HttpError(400, 'bad-multipart', `${label}: ${e.message}`)));
      stream.on('end', () => {
        pendingFiles--;
        if (settled) return;
        const data = Buffer.concat(chunks);
        if (data.length === 0) {
          fail(new HttpError(400, 'empty', `${label} is empty`));
          return;
        }
        uploads.push({ filename: info.filename, type: info.mimeType, data, label });
        maybeFinish();
      });
    });
    bb.on('field', (name, value) => {
      if (fields) fields[name] = value;
    });
    bb.on('filesLimit', () => fail(new HttpError(413, 'too-many-files', `more than ${limits.maxFiles} files in one request`)));
    bb.on('partsLimit', () => fail(new HttpError(413, 'too-many-parts', 'too many multipart parts')));
    bb.on('fieldsLimit', () => fail(new HttpError(413, 'too-many-parts', 'too many multipart fields')));
    bb.on('error', (e: Error) => fail(new HttpError(400, 'bad-multipart', `malformed multipart request: ${e.message}`)));
    bb.on('close', () => {
      busboyDone = true;
      maybeFinish();
    });
    req.on('data', countBytes);
    req.on('error', (e: Error) => fail(new HttpError(400, 'aborted', `request body could not be read: ${e.message}`)));
    req.pipe(bb);
  });
}
