import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { h5CacheDir, resolveCacheDir } from './cache-dir';
import { WeightsChecksumError, WeightsDownloadError, WeightsUnavailableError } from './errors';
import { md5File } from './md5';
import { createProgressBar, type ProgressReporter } from './progress';

export interface EnsureWeightsOptions {
  /** Official download URL (http or https). */
  url: string;
  /** Expected md5 (hex) of the file, as listed in the Keras source. */
  md5: string;
  /** Name of the cached file; defaults to the last segment of the URL path. */
  fileName?: string;
  /** Cache root; defaults to `resolveCacheDir()`. The file lives in `<cacheDir>/keras-weights/`. */
  cacheDir?: string;
  /** Called per received chunk. When omitted a cli-progress bar is drawn on stderr (TTY only). */
  onProgress?: (received: number, total?: number) => void;
  /** Socket idle timeout in ms (default 30 s): a stalled connection fails instead of hanging. */
  timeoutMs?: number;
  /** Redirects followed before giving up (default 5). */
  maxRedirects?: number;
  /** One-line status messages (start/end of a download). Default: stderr. */
  log?: (message: string) => void;
}

/** Folder where `ensureWeightsFile` keeps (and looks for) `.h5` files for a cache root. */
export function weightsFolder(cacheDir: string = resolveCacheDir()): string {
  return h5CacheDir(cacheDir);
}

/** File name a URL is cached under: the last segment of its path. */
export function fileNameFromUrl(url: string): string {
  const name = decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '');
  if (!name) throw new Error(`cannot derive a file name from URL ${url}; pass fileName`);
  return name;
}

/**
 * Path of a verified copy of the weights file, downloading it into the cache when absent.
 *
 * - A cached file is md5-checked on every call (≈1 s for the largest base); a mismatch throws
 *   `WeightsChecksumError` instead of using or deleting a file the user may have placed by hand.
 * - A download goes to a temp file in the same folder while being hashed, is checked against
 *   Content-Length and the md5, then renamed into place, so the cache never holds a partial or wrong file.
 * - Network failures before any response throw `WeightsUnavailableError` (names file, URL and folder);
 *   HTTP errors, truncated transfers and md5 mismatches throw `WeightsDownloadError`.
 */
export async function ensureWeightsFile(opts: EnsureWeightsOptions): Promise<string> {
  const md5 = opts.md5.trim().toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(md5)) throw new Error(`expected an md5 of 32 hex digits for ${opts.url}, got '${opts.md5}'`);
  const fileName = opts.fileName ?? fileNameFromUrl(opts.url);
  if (fileName.includes('/') || fileName.includes('\\') || fileName === '.' || fileName === '..') {
    throw new Error(`weights fileName must be a plain file name, got '${fileName}'`);
  }
  const folder = weightsFolder(opts.cacheDir ?? resolveCacheDir());
  const dest = path.join(folder, fileName);
  const log = opts.log ?? ((m: string) => console.error(m));

  if (await exists(dest)) {
    const actual = await md5File(dest);
    if (actual !== md5) throw new WeightsChecksumError(dest, md5, actual);
    return dest;
  }

  await fs.mkdir(folder, { recursive: true });
  await removeStaleParts(folder, fileName);
  // Unique temp name in the destination folder: rename() is atomic only within one file system, and two
  // processes downloading at once must not write into the same temp file.
  const tmp = path.join(folder, `.${fileName}.${process.pid}.${randomBytes(4).toString('hex')}.part`);
  const progress: ProgressReporter = opts.onProgress
    ? { update: opts.onProgress, stop() {} }
    : createProgressBar(fileName);
  log(`downloading ${opts.url} -> ${dest}`);
  let done = false;
  try {
    const res = await openResponse(opts.url, {
      timeoutMs: opts.timeoutMs ?? 30_000,
      maxRedirects: opts.maxRedirects ?? 5,
      onNetworkError: (reason) => new WeightsUnavailableError(opts.url, fileName, folder, md5, reason),
    });
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) {
      res.resume();
      throw new WeightsDownloadError(
        opts.url,
        fileName,
        'http',
        `download of ${opts.url} failed: HTTP ${status} ${res.statusMessage ?? ''}`.trimEnd() +
          `; nothing was cached. You can download the file by hand and put it in ${folder}/ as ${fileName} (md5 ${md5}).`,
        md5,
      );
    }
    const lengthHeader = res.headers['content-length'];
    const total = lengthHeader !== undefined && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
    const hash = createHash('md5');
    let received = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        received += chunk.length;
        progress.update(received, total);
        cb(null, chunk);
      },
    });
    try {
      await pipeline(res, meter, createWriteStream(tmp, { flags: 'wx' }));
    } catch (e) {
      throw new WeightsDownloadError(
        opts.url,
        fileName,
        'truncated',
        `download of ${opts.url} broke off after ${received} of ${total ?? 'unknown'} bytes ` +
          `(${(e as Error).message}); nothing was cached`,
        md5,
      );
    }
    if (total !== undefined && received !== total) {
      throw new WeightsDownloadError(
        opts.url,
        fileName,
        'truncated',
        `download of ${opts.url} is truncated: received ${received} of ${total} bytes (Content-Length); nothing was cached`,
        md5,
      );
    }
    const actual = hash.digest('hex');
    if (actual !== md5) {
      throw new WeightsDownloadError(
        opts.url,
        fileName,
        'md5',
        `download of ${opts.url} has md5 ${actual}, expected ${md5}; the file was discarded, nothing was cached`,
        md5,
        actual,
      );
    }
    await fs.rename(tmp, dest);
    done = true;
    log(`downloaded ${fileName} (${(received / (1024 * 1024)).toFixed(1)} MiB, md5 ok)`);
    return dest;
  } finally {
    progress.stop();
    if (!done) await fs.rm(tmp, { force: true });
  }
}

interface OpenOptions {
  timeoutMs: number;
  maxRedirects: number;
  onNetworkError: (reason: string) => Error;
}

/** GET `url` following redirects; resolves with the first non-redirect response (any status). */
async function openResponse(url: string, opts: OpenOptions): Promise<http.IncomingMessage> {
  let current = new URL(url);
  for (let hop = 0; ; hop++) {
    const res = await getOnce(current, opts);
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (![301, 302, 303, 307, 308].includes(status) || !location) return res;
    res.resume(); // drain the redirect body so the socket is released
    if (hop >= opts.maxRedirects) {
      throw new Error(`download of ${url} failed: more than ${opts.maxRedirects} redirects`);
    }
    current = new URL(location, current);
  }
}

function getOnce(url: URL, opts: OpenOptions): Promise<http.IncomingMessage> {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return Promise.reject(new Error(`unsupported protocol in weights URL ${url.href} (http or https only)`));
  }
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    let responded = false;
    const req = client.get(
      url,
      // identity: Content-Length must describe the bytes we hash
      { headers: { 'user-agent': 'parts-classifier', 'accept-encoding': 'identity' } },
      (res) => {
        responded = true;
        resolve(res);
      },
    );
    req.setTimeout(opts.timeoutMs, () => {
      const err = new Error(`no data for ${opts.timeoutMs} ms`) as NodeJS.ErrnoException;
      err.code = 'ETIMEDOUT';
      req.destroy(err);
    });
    // After a response, errors surface through the response stream (pipeline); before it, the host is
    // unreachable for our purposes (DNS, refused, reset, timeout, TLS) and the user needs the manual route.
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (!responded) reject(opts.onNetworkError(e.code ? `${e.code}: ${e.message}` : e.message));
    });
  });
}

/** Temp files of this download older than this were left by a killed process. */
const STALE_PART_MS = 24 * 3600 * 1000;

/** Removes `.<fileName>.*.part` files left by killed downloads (a VGG16 part is up to 58 MB). */
async function removeStaleParts(folder: string, fileName: string): Promise<void> {
  const now = Date.now();
  for (const entry of await fs.readdir(folder)) {
    if (!entry.startsWith(`.${fileName}.`) || !entry.endsWith('.part')) continue;
    const full = path.join(folder, entry);
    const stat = await fs.stat(full).catch(() => undefined);
    if (stat && now - stat.mtimeMs > STALE_PART_MS) await fs.rm(full, { force: true });
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    return (await fs.stat(file)).isFile();
  } catch {
    return false;
  }
}
