/** What a file stbd serves is for: a closed set (a campaign of `--firmware` takes a 'firmware' file). */
export const FILE_TYPES = ['firmware', 'config'] as const;
export type FileType = (typeof FILE_TYPES)[number];

/** The TR-069 Download FileType a file of each type is sent with (A.3.2.8). */
export const DOWNLOAD_FILE_TYPE: Record<FileType, string> = {
  firmware: '1 Firmware Upgrade Image',
  config: '3 Vendor Configuration File',
};

/** A file stbd serves to devices, as listed (its bytes are on disk under [files] dir). */
export interface FileRecord {
  /** `TYPE-VERSION`, then `-PRODUCTCLASS` and `-OUI` when given, lower case (file-rules.ts `fileIdOf`). */
  readonly id: string;
  readonly type: FileType;
  /** The version the file is (for firmware: the SoftwareVersion a device reports once it runs it). */
  readonly version: string;
  /** The devices it is meant for, when it says (TR-069 DeviceId ProductClass, ManufacturerOUI). */
  readonly productClass?: string;
  readonly oui?: string;
  /** Bytes. */
  readonly size: number;
  /** Hex SHA-256 of the content: also the HTTP ETag the file server gives it. */
  readonly sha256: string;
  /** Unix ms. */
  readonly addedAt: number;
}

/** A file as the store keeps it: the record and the name of its bytes under [files] dir. */
export interface StoredFile extends FileRecord {
  readonly storedName: string;
}
