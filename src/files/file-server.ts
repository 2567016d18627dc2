import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { ListenAddress } from '../config/listen.js';
import { ListenError } from '../errors.js';
import { guardListener, type ListenerGuardDeps, type ListenerLimits } from '../listeners/listener-guard.js';
import type { Logger } from '../log/logger.js';
import { isStoreUnavailable } from '../store/store-unavailable.js';
import { BodyCutError, type Pace, partsOf, writeBody } from './body-writer.js';
import type { DiskCheck } from './disk-check.js';
import type { Admission, FileCatalog } from './file-catalog.js';
import type { FileCache } from './file-cache.js';
import type { StoredFile } from './file-record.js';
import type { FetchResult, FileMetrics } from './file-metrics.js';
import { noneMatchHits, rangeOf } from './file-range.js';
import type { FileStore } from './file-store.js';
import { parseFilePath } from './file-url.js';

export interface FileServerDeps {
  readonly catalog: Pick<FileCatalog, 'admit' | 'stored'>;
  readonly store: Pick<FileStore, 'read'>;
  /** The contents of files being served; a file larger than it is read from disk, once checked (`check`). */
  readonly cache: Pick<FileCache, 'get'>;
  readonly check: Pick<DiskCheck, 'check'>;
  /** Bodies are written in slices of loop time shared with CWMP (WorkSlices), so keepalives wait one slice at most. */
  readonly pace: Pace;
  readonly log: Logger;
  readonly metrics: FileMetrics;
  readonly listeners: ListenerGuardDeps;
}

export interface FileServerOptions {
  /** HTTP; undefined: off. */
  readonly listen: ListenAddress | undefined;
  /** HTTPS with `tls`; undefined: off. */
  readonly tlsListen: ListenAddress | undefined;
  readonly tls: { readonly cert: string; readonly key: string } | undefined;
  readonly limits: ListenerLimits;
}

/** The parts a body is written in: small enough for a slice to end between two, large enough to cost few calls. */
const CHUNK_BYTES = 64 * 1024;

const REFUSAL: Record<Exclude<Admission, 'ok'>, FetchResult> = { 'bad-token': 'forbidden', 'wrong-device': 'forbidden', expired: 'expired' };

/**
 * The [files] listeners: devices GET (or HEAD) `/stbd-files/FILE/DEVICE/TOKEN`, a URL stbd put in the
 * Download it sent that device. The token is checked before anything else (403 without it: no byte of any
 * file, not even whether it exists); then one byte range (206, 416), the file's SHA-256 as its ETag
 * (If-None-Match: 304), and the bytes (from the file cache, or streamed from disk past its size) at the pace
 * the device reads them, in slices of loop time. Every request is counted by result, every byte sent in
 * stbd_file_bytes_total.
 */
export class FileServer {
  readonly #servers: { readonly server: Server; readonly at: ListenAddress; readonly key: string }[] = [];

  constructor(
    private readonly d: FileServerDeps,
    private readonly o: FileServerOptions,
  ) {
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.#serve(req, res);
    if (o.listen) this.#servers.push({ server: createServer(handler), at: o.listen, key: '[files] listen' });
    if (o.tlsListen && o.tls) this.#servers.push({ server: createHttpsServer({ cert: o.tls.cert, key: o.tls.key }, handler), at: o.tlsListen, key: '[files] tls_listen' });
    for (const s of this.#servers) guardListener(s.server, { name: 'files', limits: o.limits, pastLimit: 'shed' }, d.listeners);
  }

  /** Where the HTTP listener is bound. */
  get address(): ListenAddress | undefined {
    return boundAt(this.#servers.find((s) => s.key === '[files] listen')?.server);
  }

  get tlsAddress(): ListenAddress | undefined {
    return boundAt(this.#servers.find((s) => s.key === '[files] tls_listen')?.server);
  }

  /** Binds every listener, or none. @throws ListenError */
  async start(): Promise<void> {
    for (const s of this.#servers) {
      try {
        await new Promise<void>((resolve, reject) => {
          s.server.once('error', reject);
          s.server.listen({ host: s.at.host, port: s.at.port }, () => {
            s.server.off('error', reject);
            resolve();
          });
        });
      } catch (err) {
        await this.stop();
        throw new ListenError(s.key, s.at, err as NodeJS.ErrnoException);
      }
    }
  }

  /** Stops listening; transfers still running are cut. */
  async stop(): Promise<void> {
    await Promise.all(
      this.#servers
        .filter((s) => s.server.listening)
        .map(
          (s) =>
            new Promise<void>((resolve) => {
              s.server.close(() => resolve());
              s.server.closeAllConnections();
            }),
        ),
    );
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let result: FetchResult;
    try {
      result = await this.#answer(req, res);
    } catch (err) {
      if (isStoreUnavailable(err)) {
        send(res, 503, 'the server is unavailable; retry later\n', { 'retry-after': '30' });
        result = 'unavailable';
      } else {
        this.d.log.error({ err, url: (req.url ?? '').slice(0, 60) }, 'file request failed');
        if (res.headersSent) res.destroy();
        else send(res, 500, 'internal error\n');
        result = 'error';
      }
    }
    this.d.metrics.fetches.inc({ result });
  }

  async #answer(req: IncomingMessage, res: ServerResponse): Promise<FetchResult> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'files are fetched with GET or HEAD\n', { allow: 'GET, HEAD' });
      return 'bad-method';
    }
    const target = parseFilePath(req.url ?? '');
    if (!target) {
      send(res, 404, 'no such file\n');
      return 'not-found';
    }
    const admission = this.d.catalog.admit(target.fileId, target.deviceId, target.token);
    if (admission !== 'ok') {
      this.d.log.debug({ file: target.fileId, device: target.deviceId, why: admission, source: req.socket.remoteAddress }, 'file request refused');
      send(res, 403, admission === 'expired' ? 'the download URL expired\n' : 'not a valid download URL\n');
      return REFUSAL[admission];
    }
    const file = await this.d.catalog.stored(target.fileId);
    if (!file) {
      send(res, 404, 'no such file (it was removed)\n');
      return 'not-found';
    }
    const etag = `"${file.sha256}"`;
    const common = { etag, 'accept-ranges': 'bytes', 'cache-control': 'private, no-transform' };
    if (noneMatchHits(req.headers['if-none-match'], etag)) {
      res.writeHead(304, common).end();
      return 'not-modified';
    }
    // If-Range with another validator: the file changed, so the whole file.
    const ifRange = req.headers['if-range'];
    const range = ifRange !== undefined && ifRange !== etag ? { kind: 'full' as const } : rangeOf(req.headers.range, file.size);
    if (range.kind === 'unsatisfiable') {
      send(res, 416, 'the range is outside the file\n', { ...common, 'content-range': `bytes */${file.size}` });
      return 'unsatisfiable';
    }
    const [start, end] = range.kind === 'partial' ? [range.start, range.end] : [0, file.size - 1];
    const length = end - start + 1;
    const headers = { ...common, 'content-type': 'application/octet-stream', 'content-length': length, ...(range.kind === 'partial' ? { 'content-range': `bytes ${start}-${end}/${file.size}` } : {}) };
    const status = range.kind === 'partial' ? 206 : 200;
    if (req.method === 'HEAD' || length === 0) {
      res.writeHead(status, headers).end();
      return req.method === 'HEAD' ? 'head' : 'ok';
    }
    // A device that stops reading is let go after idle_timeout without progress.
    res.setTimeout(this.o.limits.idleTimeoutMs, () => res.destroy());
    // Read (and checked) before the headers go: a file missing or altered on disk is an error, not a bad 200.
    const body = await this.#body(file, start, end);
    res.writeHead(status, headers);
    const counted = this.d.metrics.bytes;
    try {
      await writeBody(res, body.chunks, this.d.pace, (n) => counted.inc(n));
    } catch (err) {
      if (err instanceof BodyCutError) return 'aborted';
      throw err;
    } finally {
      body.close();
    }
    this.d.log.debug({ file: file.id, device: target.deviceId, start, end }, 'file sent');
    return status === 206 ? 'partial' : 'ok';
  }

  /** The bytes `start` to `end` of a file: views of the cached content, or a stream from disk once it is open. */
  async #body(file: StoredFile, start: number, end: number): Promise<{ chunks: Iterable<Buffer> | AsyncIterable<Buffer>; close: () => void }> {
    const whole = await this.d.cache.get(file);
    if (whole) return { chunks: partsOf(whole, start, end, CHUNK_BYTES), close: () => {} };
    await this.d.check.check(file);
    const disk = this.d.store.read(file.storedName, start, end);
    await new Promise<void>((resolve, reject) => {
      disk.once('ready', () => resolve());
      disk.once('error', reject);
    });
    return { chunks: disk, close: () => disk.destroy() };
  }
}

function send(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const bytes = Buffer.from(text, 'utf8');
  res.writeHead(status, { ...headers, 'content-type': 'text/plain', 'content-length': bytes.length }).end(bytes);
}

function boundAt(server: Server | undefined): ListenAddress | undefined {
  const a = server?.listening ? (server.address() as AddressInfo | null) : null;
  return a ? { host: a.address, port: a.port } : undefined;
}
