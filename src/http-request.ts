import { type ClientRequest, request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface HttpRequest {
  readonly method: string;
  readonly url: string;
  readonly headers?: Record<string, string>;
  /** JSON-encoded when given (and Content-Type set), unless `raw` is used. */
  readonly json?: unknown;
  readonly raw?: { readonly data: Buffer; readonly contentType: string; readonly onProgress?: (sent: number) => void };
  /** Gives up (with a TransportError of code ETIMEDOUT) after this long without an answer. */
  readonly timeoutMs?: number;
}

export interface HttpResponse {
  readonly status: number;
  readonly text: string;
  readonly headers: IncomingMessage['headers'];
}

/** No answer at all: the connection failed, was reset, or timed out. `code` is the errno (ECONNREFUSED, ETIMEDOUT…). */
export class TransportError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'TransportError';
  }
}

const UPLOAD_CHUNK = 256 * 1024;

/**
 * One HTTP(S) request, body read as text. node:http rather than fetch: fetch refuses some ports outright
 * ("bad port") and cannot report upload progress. Used by stbctl and by the adapters of external systems.
 */
export function httpRequestText(r: HttpRequest): Promise<HttpResponse> {
  const headers: Record<string, string | number> = { ...r.headers };
  let body: Buffer | undefined;
  if (r.raw) {
    headers['content-type'] = r.raw.contentType;
    body = r.raw.data;
  } else if (r.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = Buffer.from(JSON.stringify(r.json));
  }
  if (body) headers['content-length'] = body.length;
  const url = new URL(r.url);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<HttpResponse>((resolve, reject) => {
    const req = send(url, { method: r.method, headers }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
      res.on('error', (err: NodeJS.ErrnoException) => reject(new TransportError(err.code ?? 'ECONNRESET', err.message)));
    });
    req.on('error', (err: NodeJS.ErrnoException) => reject(new TransportError(err.code ?? 'EIO', err.message)));
    if (r.timeoutMs !== undefined) {
      req.setTimeout(r.timeoutMs, () => req.destroy(Object.assign(new Error(`no answer within ${r.timeoutMs} ms`), { code: 'ETIMEDOUT' })));
    }
    writeBody(req, body, r.raw?.onProgress);
  });
}

/** Writes the body in chunks, respecting back-pressure, so progress reflects what the socket took. */
function writeBody(req: ClientRequest, body: Buffer | undefined, onProgress?: (sent: number) => void): void {
  if (!body) return void req.end();
  let offset = 0;
  const pump = () => {
    while (offset < body.length) {
      const end = Math.min(offset + UPLOAD_CHUNK, body.length);
      const more = req.write(body.subarray(offset, end));
      offset = end;
      onProgress?.(offset);
      if (!more) return void req.once('drain', pump);
    }
    req.end();
  };
  pump();
}
