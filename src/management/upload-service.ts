import type { Clock } from '../clock.js';
import type { Logger } from '../log/logger.js';
import type { Sealer } from '../sealed-text.js';
import type { Task, TaskFault } from './task.js';
import type { TaskQueue } from './task-queue.js';
import type { UploadRecord, UploadRepo } from './upload-repo.js';
import { uploadToken, uploadUrl } from './upload-token.js';

export interface UploadOptions {
  /** Largest file accepted, in bytes. */
  readonly maxBytes: number;
  readonly keepPerDevice: number;
  /** How long after the Upload RPC the URL works, and after the CPE's answer the task waits for the transfer. */
  readonly transferTimeoutMs: number;
  readonly maxConcurrent: number;
  /** Scheme, host and port CPEs upload to; '' for the origin of the CPE's CWMP session. */
  readonly baseUrl: string;
}

export interface UploadServiceDeps {
  readonly repo: UploadRepo;
  readonly tasks: TaskQueue;
  readonly sealer: Sealer;
  readonly clock: Clock;
  readonly log: Logger;
}

/** The Status/StartTime/CompleteTime of an UploadResponse, as outcomeOf reads it. */
interface UploadAnswer {
  readonly status: number;
}

/** What an upload task's result says of its file. */
const fileOf = (u: UploadRecord) => ({ id: u.id, size: u.size, sha256: u.sha256, contentType: u.contentType, receivedAt: new Date(u.receivedAt).toISOString() });

/**
 * Upload tasks (TR-069 Upload), which complete once both sides agree: the CPE said the transfer is over
 * (UploadResponse status 0, or a TransferComplete without a fault) and its file is stored. Until then a
 * task the CPE accepted is `transferring` (out of its device's queue), for at most the transfer timeout.
 */
export class UploadService {
  constructor(
    private readonly d: UploadServiceDeps,
    readonly options: UploadOptions,
  ) {}

  /** The URL the Upload RPC of `task` carries: `origin` is the CPE's CWMP session's (scheme://host:port). */
  url(task: Task, origin: string): string {
    const expiresAt = this.d.clock.now() + this.options.transferTimeoutMs;
    return uploadUrl(this.options.baseUrl || origin, task.id, uploadToken(this.d.sealer, task.id, task.deviceId, expiresAt));
  }

  /** The CPE answered the Upload RPC: wait for the transfer; with status 0 it should be stored already. */
  async answered(task: Task, result: UploadAnswer): Promise<void> {
    const t = await this.d.tasks.awaitTransfer(task, result, this.d.clock.now() + this.options.transferTimeoutMs);
    // After the state change is committed: a file stored meanwhile on another node is found here, or finds the task transferring.
    if (t && result.status === 0) await this.#completeIfStored(t);
  }

  /** A TransferComplete naming an upload task: @returns false when the task was not waiting for one. */
  async transferComplete(task: Task, faultCode: number, faultString: string): Promise<boolean> {
    if (task.status !== 'transferring') return false;
    const result = { ...(task.result as object | null), transfer: { faultCode, faultString } };
    let fault: TaskFault | null = null;
    let file: UploadRecord | undefined;
    if (faultCode !== 0) fault = { code: faultCode, message: faultString || 'upload failed' };
    else {
      file = await this.d.repo.ofTask(task.id, task.sentAt ?? 0);
      if (!file) fault = { code: 0, message: 'the CPE reported the upload done (TransferComplete), but no file reached stbd' };
    }
    await this.d.tasks.finishTransfer(task.id, file ? { ...result, upload: fileOf(file) } : result, fault);
    return true;
  }

  /** Stores a file the CPE sent for `task` (its token checked), and completes the task if the CPE said it is done. */
  async store(task: Task, content: Buffer, contentType: string, sha256: string): Promise<UploadRecord> {
    const { repo, clock, log } = this.d;
    const file = await repo.put(
      { deviceId: task.deviceId, taskId: task.id, fileType: task.request.kind === 'upload' ? task.request.fileType : '', contentType, size: content.length, sha256, receivedAt: clock.now(), content },
      this.options.keepPerDevice,
      task.sentAt ?? 0,
    );
    log.info({ device: task.deviceId, task: task.id, upload: file.id, bytes: file.size }, 'upload stored');
    const now = await this.d.tasks.get(task.id);
    if (now) await this.#completeIfStored(now);
    return file;
  }

  list(deviceId: string, limit: number): Promise<UploadRecord[]> {
    return this.d.repo.ofDevice(deviceId, limit);
  }

  get(id: number): Promise<UploadRecord | undefined> {
    return this.d.repo.get(id);
  }

  content(id: number): Promise<Buffer | undefined> {
    return this.d.repo.content(id);
  }

  /** A transferring task whose CPE answered status 0 (no TransferComplete follows) is done once its file is in. */
  async #completeIfStored(t: Task): Promise<void> {
    if (t.status !== 'transferring' || (t.result as UploadAnswer | null)?.status !== 0) return;
    const file = await this.d.repo.ofTask(t.id, t.sentAt ?? 0);
    if (file) await this.d.tasks.finishTransfer(t.id, { ...(t.result as object), upload: fileOf(file) }, null);
  }
}
