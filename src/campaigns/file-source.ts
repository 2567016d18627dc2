import type { FileCatalog as Catalog } from '../files/file-catalog.js';

/** What campaigns use of the files stbd serves: a firmware campaign's file, and each device's URL for it. */
export type FileCatalog = Pick<Catalog, 'get' | 'downloadUrl'>;
export type { FileRecord, FileUseChecker } from '../files/file-catalog.js';
