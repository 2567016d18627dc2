/** A file a CPE uploaded (TR-069 Upload), as listed: its bytes are read apart (`UploadRepo.content`). */
export interface UploadRecord {
  readonly id: number;
  readonly deviceId: string;
  /** The upload task it answered. */
  readonly taskId: number;
  /** The task's FileType, e.g. "1 Vendor Configuration File". */
  readonly fileType: string;
  /** The Content-Type the CPE sent ('' for none). */
  readonly contentType: string;
  readonly size: number;
  /** Hex SHA-256 of the content. */
  readonly sha256: string;
  /** Unix ms. */
  readonly receivedAt: number;
}

export interface NewUpload extends Omit<UploadRecord, 'id'> {
  readonly content: Buffer;
}

/**
 * The files CPEs uploaded, kept in the store (not on one node's disk): every stbd over one PostgreSQL
 * database serves the upload URL and the API alike, and the files go with backups and `stbd store copy`.
 */
export interface UploadRepo {
  /**
   * Stores an upload in one unit of work: an earlier file of the same task received since `replacingSince`
   * (the CPE sent it again) is replaced, and only the device's newest `keep` uploads are kept.
   */
  put(u: NewUpload, keep: number, replacingSince: number): Promise<UploadRecord>;
  get(id: number): Promise<UploadRecord | undefined>;
  content(id: number): Promise<Buffer | undefined>;
  /** A device's uploads, newest first. */
  ofDevice(deviceId: string, limit: number): Promise<UploadRecord[]>;
  /** The newest upload for the task received at or after `since` (task ids of a purged SQLite table may come again). */
  ofTask(taskId: number, since: number): Promise<UploadRecord | undefined>;
}
