import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** md5 of a file as lowercase hex, streamed (weights files are hundreds of MB). */
export async function md5File(file: string): Promise<string> {
  const hash = createHash('md5');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
