/**
 * What campaigns need of the firmware files (issue 16 point 1). The file server exports these from
 * src/files/file-catalog.ts; until then this file declares the part campaigns use, so merging only wires it.
 */
export interface FileRecord {
  readonly id: string;
  readonly type: 'firmware' | string;
  readonly version: string;
  readonly productClass?: string;
  readonly oui?: string;
  readonly size: number;
  readonly sha256: string;
  /** Unix ms. */
  readonly addedAt: number;
}

export interface FileCatalog {
  get(id: string): Promise<FileRecord | undefined>;
  /** The URL the device fetches the file from, with a token only it may use (it expires). */
  downloadUrl(fileId: string, deviceId: string): string;
}

/** Why a file may not be removed ("used by campaign X"), or undefined when nothing uses it. */
export type FileUseChecker = (fileId: string) => Promise<string | undefined>;
