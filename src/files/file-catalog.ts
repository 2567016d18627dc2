import type { Readable } from 'node:stream';
import type { Clock } from '../clock.js';
import type { Logger } from '../log/logger.js';
import type { Sealer } from '../sealed-text.js';
import type { FileRecord, StoredFile } from './file-record.js';
import type { FileRepo } from './file-repo.js';
import { checkDescription, fileIdOf } from './file-rules.js';
import { type FileStore, TooLargeError } from './file-store.js';
import { fileToken, fileUrl, openFileToken } from './file-url.js';

export type { FileRecord, FileType } from './file-record.js';
export { DOWNLOAD_FILE_TYPE, FILE_TYPES } from './file-record.js';

/**
 * Says whether a file is in use, and by what: a reason in words ("campaign spring-upgrade") or undefined.
 * Whatever uses files (campaigns) gives the catalog one (`addUseChecker`, at the composition root); a file
 * one of them says is in use is not removed. The check is made just before the removal: something that
 * starts using a file should first check it is still there (`get`).
 */
export type FileUseChecker = (fileId: string) => Promise<string | undefined>;

export type FileErrorCode = 'bad-input' | 'exists' | 'too-large' | 'not-found' | 'in-use';

/** A refusal of the catalog, with a stable code (the API's error code) and what to do in words. */
export class FileError extends Error {
  constructor(
    readonly code: FileErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'FileError';
  }
}

export interface FileCatalogDeps {
  readonly repo: FileRepo;
  readonly store: FileStore;
  readonly sealer: Sealer;
  readonly clock: Clock;
  readonly log: Logger;
  /** Scheme, host and port devices fetch files from ([files] url, or the listener's address). */
  readonly baseUrl: () => string;
}

export interface FileCatalogOptions {
  /** [files] max_size. */
  readonly maxBytes: number;
  /** [files] url_validity: how long a device's download URL works. */
  readonly urlValidityMs: number;
}

/** Whether a device's request for a file may be served. */
export type Admission = 'ok' | 'bad-token' | 'expired' | 'wrong-device';

const recordOf = ({ storedName: _, ...r }: StoredFile): FileRecord => r;

/**
 * The files stbd serves to devices (firmware images, configuration files): adding one (streamed to disk,
 * size and SHA-256 recorded), listing, removing (refused while in use), and the per-device download URLs
 * whose token expires, so that only the devices a Download was sent to can fetch the file.
 */
export class FileCatalog {
  readonly #checkers: FileUseChecker[] = [];

  constructor(
    private readonly d: FileCatalogDeps,
    readonly options: FileCatalogOptions,
  ) {}

  /** Something that uses files (campaigns) says which: checked before every removal. */
  addUseChecker(checker: FileUseChecker): void {
    this.#checkers.push(checker);
  }

  async get(id: string): Promise<FileRecord | undefined> {
    const f = await this.d.repo.get(id);
    return f && recordOf(f);
  }

  /** The record and the stored bytes' name (for the file server). */
  stored(id: string): Promise<StoredFile | undefined> {
    return this.d.repo.get(id);
  }

  async list(): Promise<FileRecord[]> {
    return (await this.d.repo.list()).map(recordOf);
  }

  /**
   * What `add` checks before it reads a byte, for a caller to refuse early: the id the file gets.
   * @throws FileError: bad-input (the description), exists (that id is taken)
   */
  async precheck(description: Record<string, unknown>): Promise<string> {
    const d = checkDescription(description);
    if (typeof d === 'string') throw new FileError('bad-input', d);
    const id = fileIdOf(d);
    if (await this.d.repo.get(id)) throw exists(id);
    return id;
  }

  /**
   * Streams `content` to disk and records the file. @throws FileError: bad-input (the description),
   * exists (that id is taken; nothing kept), too-large (past [files] max_size; nothing kept)
   */
  async add(description: Record<string, unknown>, content: Readable): Promise<FileRecord> {
    const d = checkDescription(description);
    if (typeof d === 'string') throw new FileError('bad-input', d);
    const id = fileIdOf(d);
    if (await this.d.repo.get(id)) throw exists(id);
    let written;
    try {
      written = await this.d.store.write(content, this.options.maxBytes, id);
    } catch (err) {
      if (err instanceof TooLargeError) throw new FileError('too-large', err.message);
      throw err;
    }
    const stored: StoredFile = { id, ...d, size: written.size, sha256: written.sha256, storedName: written.storedName, addedAt: this.d.clock.now() };
    let outcome;
    try {
      outcome = await this.d.repo.add(stored);
    } catch (err) {
      await this.d.store.remove(written.storedName);
      throw err;
    }
    if (outcome === 'exists') {
      await this.d.store.remove(written.storedName);
      throw exists(id);
    }
    this.d.log.info({ file: id, size: stored.size, sha256: stored.sha256 }, 'file added');
    return recordOf(stored);
  }

  /** @throws FileError: not-found, in-use (with the user's reason; nothing changed) */
  async remove(id: string): Promise<FileRecord> {
    if (!(await this.d.repo.get(id))) throw notFound(id);
    for (const inUse of this.#checkers) {
      const reason = await inUse(id);
      if (reason !== undefined) throw new FileError('in-use', `file ${id} is in use (${reason}); it can be removed once nothing uses it`);
    }
    const removed = await this.d.repo.remove(id);
    if (!removed) throw notFound(id);
    await this.d.store.remove(removed.storedName);
    this.d.log.info({ file: id }, 'file removed');
    return recordOf(removed);
  }

  /** The URL `deviceId` fetches the file from, valid for [files] url_validity from now (the injected clock). */
  downloadUrl(fileId: string, deviceId: string): string {
    const token = fileToken(this.d.sealer, fileId, deviceId, this.d.clock.now() + this.options.urlValidityMs);
    return fileUrl(this.d.baseUrl(), fileId, deviceId, token);
  }

  /** Whether the token of a request for `fileId` by `deviceId` is good now. */
  admit(fileId: string, deviceId: string, token: string): Admission {
    const opened = openFileToken(this.d.sealer, fileId, token);
    if (!opened) return 'bad-token';
    if (!opened.isFor(deviceId)) return 'wrong-device';
    return opened.expiresAt > this.d.clock.now() ? 'ok' : 'expired';
  }
}

const exists = (id: string) => new FileError('exists', `file ${id} exists already (the same type, version, product class and OUI): remove it first to replace it`);
const notFound = (id: string) => new FileError('not-found', `no file ${id}`);
