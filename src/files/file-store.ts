import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, type ReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';

const INCOMING = '.incoming-';

/** What a write kept: the name of the bytes under the directory, their size and SHA-256 (hex). */
export interface Written {
  readonly storedName: string;
  readonly size: number;
  readonly sha256: string;
}

/** A file was longer than the limit: nothing was kept. */
export class TooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`the file is over the limit of ${limit} bytes ([files] max_size)`);
    this.name = 'TooLargeError';
  }
}

/**
 * The bytes of the files stbd serves, under [files] dir. A write streams into a temporary file (counted and
 * hashed on the way, stopped past the limit), flushes it to disk and renames it into place, so a file is
 * either whole under its name or not there; stored names carry a random part, so two writes never share one.
 */
export class FileStore {
  constructor(readonly dir: string) {}

  /** Creates the directory (0700) and removes what an interrupted write left. */
  async open(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    for (const name of await readdir(this.dir)) if (name.startsWith(INCOMING)) await rm(join(this.dir, name), { force: true });
  }

  /** Streams `source` into a file named `PREFIX.RANDOM`. @throws TooLargeError past `maxBytes`, or the source's error (nothing kept) */
  async write(source: Readable, maxBytes: number, prefix: string): Promise<Written> {
    const random = randomBytes(6).toString('hex');
    const temp = join(this.dir, `${INCOMING}${random}`);
    const storedName = `${prefix}.${random}`;
    const hash = createHash('sha256');
    let size = 0;
    const count = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        if (size > maxBytes) return done(new TooLargeError(maxBytes));
        hash.update(chunk);
        done(null, chunk);
      },
    });
    try {
      await pipeline(source, count, createWriteStream(temp, { mode: 0o600, flags: 'wx' }));
      const fd = await open(temp, 'r');
      try {
        await fd.sync();
      } finally {
        await fd.close();
      }
      await rename(temp, join(this.dir, storedName));
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
    return { storedName, size, sha256: hash.digest('hex') };
  }

  /** The bytes `start` to `end` (inclusive) of a stored file. */
  read(storedName: string, start: number, end: number): ReadStream {
    return createReadStream(join(this.dir, storedName), { start, end, highWaterMark: 64 * 1024 });
  }

  /** What changes when a stored file's bytes change on disk: its size, modification and change times, inode. */
  async stamp(storedName: string): Promise<string> {
    const s = await stat(join(this.dir, storedName), { bigint: true });
    return `${s.size}:${s.mtimeNs}:${s.ctimeNs}:${s.ino}`;
  }

  /** A stored file whole (for the file cache). */
  readAll(storedName: string): Promise<Buffer> {
    return readFile(join(this.dir, storedName));
  }

  async remove(storedName: string): Promise<void> {
    await rm(join(this.dir, storedName), { force: true });
  }
}
