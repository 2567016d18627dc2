import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../clock.js';
import type { Logger } from '../log/logger.js';
import type { Sealer } from '../sealed-text.js';
import { isStoreUnavailable } from '../store/store-unavailable.js';
import type { TaskQueue } from './task-queue.js';
import type { UploadService } from './upload-service.js';
import { openUploadToken, parseUploadPath, UPLOAD_PATH } from './upload-token.js';

export interface UploadEndpointDeps {
  readonly service: UploadService;
  readonly tasks: Pick<TaskQueue, 'get'>;
  readonly sealer: Sealer;
  readonly clock: Clock;
  readonly log: Logger;
  /** Where a request comes from (for the log). */
  readonly sourceOf: (req: IncomingMessage) => string;
}

/** A Content-Type worth keeping: printable ASCII, not too long; anything else is kept as ''. */
const contentTypeOf = (v: string | undefined): string => (v !== undefined && /^[\x20-\x7e]{1,128}$/.test(v) ? v : '');

/**
 * The upload URL on the CWMP listeners: a CPE PUTs (or POSTs) the file an Upload RPC asked for to
 * `/stbd-upload/TASK/TOKEN`. The token is checked before anything is read from the store, the body is
 * counted as it streams in and refused past [uploads] max_size (413, nothing stored), and at most
 * [uploads] max_concurrent bodies are held at once.
 */
export class UploadEndpoint {
  #receiving = 0;

  constructor(private readonly d: UploadEndpointDeps) {}

  /** Whether a request's target is the upload path (the CWMP server hands it over). */
  handles(url: string | undefined): boolean {
    return url?.startsWith(UPLOAD_PATH) === true;
  }

  receive(req: IncomingMessage, res: ServerResponse): void {
    this.#receive(req, res).catch((err: unknown) => {
      if (isStoreUnavailable(err)) {
        this.d.log.warn({ err: (err as Error).message }, 'upload refused: the store is unavailable');
        return send(res, 503, 'the server is unavailable; retry later\n', { 'retry-after': '30' });
      }
      this.d.log.error({ err }, 'upload failed');
      send(res, 500, 'internal error\n');
    });
  }

  async #receive(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { log, clock, service } = this.d;
    const source = this.d.sourceOf(req);
    if (req.method !== 'PUT' && req.method !== 'POST') return refuse(req, res, 405, 'uploads are HTTP PUT or POST\n', { allow: 'PUT, POST' });
    const target = parseUploadPath(req.url ?? '');
    const token = target && openUploadToken(this.d.sealer, target.taskId, target.token);
    if (!target || !token) {
      log.warn({ source, url: (req.url ?? '').slice(0, 40) }, 'upload to a URL stbd did not make; refused');
      return refuse(req, res, 403, 'not a valid upload URL\n');
    }
    if (token.expiresAt <= clock.now()) {
      log.warn({ source, task: target.taskId }, 'upload URL expired; refused');
      return refuse(req, res, 403, `the upload URL expired at ${new Date(token.expiresAt).toISOString()}\n`);
    }
    const task = await this.d.tasks.get(target.taskId);
    if (!task || task.request.kind !== 'upload' || !token.isFor(task.deviceId)) return refuse(req, res, 403, 'not a valid upload URL\n');
    if (task.status !== 'sent' && task.status !== 'transferring') {
      log.warn({ source, device: task.deviceId, task: task.id, status: task.status }, 'upload for a task that is over; refused');
      return refuse(req, res, 409, `upload task ${task.id} is ${task.status}\n`);
    }
    const max = service.options.maxBytes;
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > max) return this.#tooLarge(req, res, task.deviceId, task.id, max);
    if (this.#receiving >= service.options.maxConcurrent) return refuse(req, res, 503, 'too many uploads at once; retry later\n', { 'retry-after': '30' });
    // Counted until stored: each holds up to max_size bytes until then.
    this.#receiving++;
    try {
      const body = await this.#read(req, max);
      if (body === 'too-large') return this.#tooLarge(req, res, task.deviceId, task.id, max);
      if (body === 'aborted') return;
      const file = await service.store(task, body.content, contentTypeOf(req.headers['content-type']), body.sha256);
      send(res, 200, `stored ${file.size} bytes as upload ${file.id}\n`);
    } finally {
      this.#receiving--;
    }
  }

  /** The body, counted as it comes: 'too-large' as soon as it passes `max` (the rest is not read). */
  #read(req: IncomingMessage, max: number): Promise<{ content: Buffer; sha256: string } | 'too-large' | 'aborted'> {
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      const hash = createHash('sha256');
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > max) {
          req.removeAllListeners('data');
          req.pause();
          chunks.length = 0;
          resolve('too-large');
          return;
        }
        chunks.push(chunk);
        hash.update(chunk);
      });
      req.on('end', () => resolve({ content: Buffer.concat(chunks, size), sha256: hash.digest('hex') }));
      req.on('error', () => resolve('aborted'));
      req.on('close', () => {
        if (!req.complete) resolve('aborted');
      });
    });
  }

  #tooLarge(req: IncomingMessage, res: ServerResponse, device: string, task: number, max: number): void {
    this.d.log.warn({ source: this.d.sourceOf(req), device, task, limit: max }, 'upload over [uploads] max_size; refused, nothing stored');
    refuse(req, res, 413, `the file is over the limit of ${max} bytes ([uploads] max_size)\n`);
  }
}

function send(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const bytes = Buffer.from(text, 'utf8');
  res.writeHead(status, { 'content-type': 'text/plain', 'content-length': bytes.length, ...headers }).end(bytes);
}

/** An answer before (or instead of) reading the body: the connection goes with it, so the unread rest is not waited for. */
function refuse(req: IncomingMessage, res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  if (req.complete) return send(res, status, text, headers);
  send(res, status, text, { ...headers, connection: 'close' });
  res.on('finish', () => req.socket.destroy());
}
