/** What the cache needs to know of a stored file: its name under [files] dir, its size and SHA-256 (hex). */
export interface CachedFileKey {
  readonly storedName: string;
  readonly size: number;
  readonly sha256: string;
}

/** The bytes on disk are not the file that was added (another size or SHA-256): they are not served. */
export class CorruptFileError extends Error {
  constructor(readonly storedName: string, why: string) {
    super(`the stored bytes ${storedName} ${why}`);
    this.name = 'CorruptFileError';
  }
}

export interface FileCacheDeps {
  /** The whole stored file (FileStore.readAll). */
  readonly load: (storedName: string) => Promise<Buffer>;
  /** What changes when a stored file's bytes change on disk (FileStore.stamp). */
  readonly stamp: (storedName: string) => Promise<string>;
  /** Hex SHA-256 of the bytes, computed off the event loop (webcrypto runs it on libuv's pool). */
  readonly sha256: (bytes: Buffer) => Promise<string>;
}

/**
 * The contents of the files being served, in memory, up to `maxBytes` in all (the least recently served go
 * first). Stored files never change (a new version is a new stored name), so an entry never goes stale;
 * it is checked against the size and SHA-256 recorded when the file was added before it is served. A
 * campaign's hundreds of fetches of one image then cost no disk reads (libuv's pool threads would compete
 * with the loop for a pinned core) and no chunk garbage: each response writes parts of the one buffer.
 * Bytes found corrupt stay refused, for the cost of a `stat` a fetch, until they change on disk (their stamp):
 * a campaign's fetches of a corrupt image must not each read and hash it again.
 */
export class FileCache {
  /** In order of use, least recent first; a load in progress is there too, its bytes counted. */
  readonly #entries = new Map<string, Promise<Buffer>>();
  readonly #sizes = new Map<string, number>();
  /** Stored files found corrupt, with their stamp then (at most one entry per stored file). */
  readonly #corrupt = new Map<string, { readonly stamp: string; readonly error: CorruptFileError }>();
  #bytes = 0;

  constructor(
    private readonly d: FileCacheDeps,
    /** [files] cache_size; 0: no cache. */
    private readonly maxBytes: number,
  ) {}

  /** Bytes held or being loaded. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * The whole content of `file`, loaded once for every request of it; undefined when it is larger than the
   * cache (the caller streams it from disk). @throws CorruptFileError, or the error reading it (a later
   * call tries again)
   */
  get(file: CachedFileKey): Promise<Buffer> | undefined {
    const held = this.#entries.get(file.storedName);
    if (held) {
      this.#entries.delete(file.storedName);
      this.#entries.set(file.storedName, held);
      return held;
    }
    if (file.size > this.maxBytes) return undefined;
    const corrupt = this.#corrupt.get(file.storedName);
    if (corrupt) return this.#recheck(file, corrupt);
    for (const [name] of this.#entries) {
      if (this.#bytes + file.size <= this.maxBytes) break;
      this.#drop(name);
    }
    const loading = this.#load(file);
    this.#entries.set(file.storedName, loading);
    this.#sizes.set(file.storedName, file.size);
    this.#bytes += file.size;
    loading.catch(() => {
      if (this.#entries.get(file.storedName) === loading) this.#drop(file.storedName);
    });
    return loading;
  }

  /** Refused again while the corrupt bytes are unchanged; loaded afresh once they changed. */
  async #recheck(file: CachedFileKey, corrupt: { readonly stamp: string; readonly error: CorruptFileError }): Promise<Buffer> {
    if ((await this.d.stamp(file.storedName)) === corrupt.stamp) throw corrupt.error;
    if (this.#corrupt.get(file.storedName) === corrupt) this.#corrupt.delete(file.storedName);
    return this.get(file)!;
  }

  async #load(file: CachedFileKey): Promise<Buffer> {
    // Before the read: bytes changed while it ran are a new stamp, and are looked at again.
    const stamp = await this.d.stamp(file.storedName);
    const bytes = await this.d.load(file.storedName);
    const refuse = (why: string) => {
      const error = new CorruptFileError(file.storedName, why);
      this.#corrupt.set(file.storedName, { stamp, error });
      return error;
    };
    if (bytes.length !== file.size) throw refuse(`are ${bytes.length} bytes, not the ${file.size} recorded`);
    if ((await this.d.sha256(bytes)) !== file.sha256) throw refuse('do not match the SHA-256 recorded');
    return bytes;
  }

  #drop(name: string): void {
    this.#entries.delete(name);
    this.#bytes -= this.#sizes.get(name) ?? 0;
    this.#sizes.delete(name);
  }
}

/** Hex SHA-256 on libuv's pool (webcrypto), so hashing a large image does not hold the event loop. */
export async function sha256OffLoop(bytes: Buffer): Promise<string> {
  return Buffer.from(await globalThis.crypto.subtle.digest('SHA-256', bytes)).toString('hex');
}
