/**
 * The weights file could not be fetched because the network is unreachable (DNS failure, connection
 * refused/reset before a response, timeout). The message tells the user where to put the file by hand.
 */
export class WeightsUnavailableError extends Error {
  override name = 'WeightsUnavailableError';
  constructor(
    readonly url: string,
    /** File name expected in `folder`. */
    readonly file: string,
    /** Folder in which a hand-downloaded copy is picked up. */
    readonly folder: string,
    readonly md5: string,
    readonly reason: string,
  ) {
    super(
      `cannot download weights file '${file}' from ${url} (${reason}). ` +
        `If this machine is offline, download that URL elsewhere and put the file in ${folder}/ ` +
        `(expected md5 ${md5}), set PARTS_CACHE_DIR to the cache folder that holds it, ` +
        `or train without pretrained weights (--weights none). \`pnpm diagnose\` shows which weights files are cached and where.`,
    );
  }
}

/**
 * A download reached the server but did not produce the expected file (HTTP error, truncated transfer,
 * wrong md5). Nothing is left in the cache when this is thrown.
 */
export class WeightsDownloadError extends Error {
  override name = 'WeightsDownloadError';
  constructor(
    readonly url: string,
    readonly file: string,
    readonly kind: 'http' | 'truncated' | 'md5' | 'io',
    message: string,
    readonly expectedMd5?: string,
    readonly actualMd5?: string,
  ) {
    super(message);
  }
}

/** A cached weights file exists but its md5 differs from the expected one; it is never used silently. */
export class WeightsChecksumError extends Error {
  override name = 'WeightsChecksumError';
  constructor(
    readonly file: string,
    readonly expectedMd5: string,
    readonly actualMd5: string,
  ) {
    super(
      `weights file ${file} has md5 ${actualMd5}, expected ${expectedMd5}: it is corrupt or a different file. ` +
        `Delete it (it will be downloaded again) or replace it with the official file.`,
    );
  }
}
