import type { StoredFile } from './file-record.js';

/**
 * The files stbd serves: one row each (the bytes are on disk under [files] dir, named by `storedName`).
 * Whether a file is in use (a campaign's) is not the repository's business: FileCatalog asks the
 * FileUseCheckers the composition root gives it before it removes one.
 */
export interface FileRepo {
  /** Adds the row; 'exists' (nothing changed) when a file has that id already. */
  add(f: StoredFile): Promise<'added' | 'exists'>;
  get(id: string): Promise<StoredFile | undefined>;
  /** Every file, by id (a catalogue is tens of files, not millions). */
  list(): Promise<StoredFile[]>;
  /** Deletes the row and returns it; undefined when there was none. */
  remove(id: string): Promise<StoredFile | undefined>;
}
