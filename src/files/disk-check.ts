import { createHash } from 'node:crypto';
import type { Pace } from './body-writer.js';
import { type CachedFileKey, CorruptFileError } from './file-cache.js';

export interface DiskCheckDeps {
  /** What changes when a stored file's bytes change on disk (FileStore.stamp). */
  readonly stamp: (storedName: string) => Promise<string>;
  /** The bytes `start` to `end` (inclusive) of a stored file (FileStore.read). */
  readonly read: (storedName: string, start: number, end: number) => AsyncIterable<Buffer>;
  /** Hashing a large image goes in the slices of loop time that bodies are written in. */
  readonly pace: Pace;
}

/**
 * The check of a file too large for the cache, which is streamed from disk: its stored bytes are hashed
 * once and compared with the size and SHA-256 recorded when it was added, and checked again only when
 * they change on disk (its stamp). A verdict holds for every fetch meanwhile: a campaign's hundreds of
 * fetches of one image wait for one read of it, and a corrupt one costs each fetch a `stat`, not a read.
 * A read that fails is not a verdict: the next fetch tries again.
 */
export class DiskCheck {
  readonly #verdicts = new Map<string, { readonly stamp: string; readonly verdict: Promise<void> }>();

  constructor(private readonly d: DiskCheckDeps) {}

  /** Resolves when the bytes on disk are `file`'s. @throws CorruptFileError, or the error reading them */
  async check(file: CachedFileKey): Promise<void> {
    const stamp = await this.d.stamp(file.storedName);
    const held = this.#verdicts.get(file.storedName);
    if (held?.stamp === stamp) return held.verdict;
    const verdict = this.#hash(file);
    this.#verdicts.set(file.storedName, { stamp, verdict });
    verdict.catch((err: unknown) => {
      if (!(err instanceof CorruptFileError) && this.#verdicts.get(file.storedName)?.verdict === verdict) this.#verdicts.delete(file.storedName);
    });
    return verdict;
  }

  async #hash(file: CachedFileKey): Promise<void> {
    const hash = createHash('sha256');
    let size = 0;
    // One byte past the recorded end is asked for too: a longer file shows as such.
    for await (const chunk of this.d.read(file.storedName, 0, file.size)) {
      await this.d.pace.next();
      hash.update(chunk);
      size += chunk.length;
    }
    if (size > file.size) throw new CorruptFileError(file.storedName, `are more than the ${file.size} bytes recorded`);
    if (size < file.size) throw new CorruptFileError(file.storedName, `are ${size} bytes, not the ${file.size} recorded`);
    if (hash.digest('hex') !== file.sha256) throw new CorruptFileError(file.storedName, 'do not match the SHA-256 recorded');
  }
}
