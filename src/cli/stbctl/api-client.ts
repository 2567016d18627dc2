import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { CliError } from './cli-error.js';
import type { ApiTarget } from './target.js';

export interface RequestOptions {
  readonly json?: unknown;
  /** A raw body (e.g. a CSV upload) with its content type; `onProgress` hears how many bytes were written. */
  readonly body?: { readonly data: Buffer; readonly contentType: string; readonly onProgress?: (sent: number) => void };
  readonly auth?: boolean;
}

const NETWORK_HINT: Record<string, string> = {
  ECONNREFUSED: 'connection refused (is stbd running?)',
  ECONNRESET: 'the connection was reset',
  ENOTFOUND: 'unknown host',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'host unreachable',
};

const UPLOAD_CHUNK = 256 * 1024;

/**
 * A thin HTTP+JSON client for the admin API; every failure becomes a CliError with a useful message.
 * node:http rather than fetch: fetch refuses some ports outright ("bad port") and cannot report upload progress.
 */
export class ApiClient {
  constructor(readonly target: ApiTarget) {}

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string | number> = {};
    if (opts.auth !== false) headers['authorization'] = `Bearer ${this.target.token()}`;
    let body: Buffer | undefined;
    if (opts.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = Buffer.from(JSON.stringify(opts.json));
    } else if (opts.body) {
      headers['content-type'] = opts.body.contentType;
      body = opts.body.data;
    }
    if (body) headers['content-length'] = body.length;
    const url = new URL(`${this.target.baseUrl}${path}`);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;

    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = send(url, { method, headers }, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        reject(new CliError('unreachable', `cannot reach stbd at ${this.target.baseUrl}: ${NETWORK_HINT[err.code ?? ''] ?? err.message}`));
      });
      writeBody(req, body, opts.body?.onProgress);
    });

    let data: unknown;
    try {
      data = text === '' ? undefined : JSON.parse(text);
    } catch {
      throw new CliError('bad-response', `stbd at ${this.target.baseUrl} answered ${status} with a body that is not JSON`);
    }
    if (status >= 200 && status < 300) return data as T;
    const e = (data ?? {}) as { error?: string; message?: string };
    if (status === 401) throw new CliError('unauthorized', `the API refused the token (401): ${e.message ?? 'unauthorized'}`);
    throw new CliError(e.error ?? `http-${status}`, e.message ?? `HTTP ${status}`);
  }
}

/** Writes the body in chunks, respecting back-pressure, so progress reflects what the socket took. */
function writeBody(req: import('node:http').ClientRequest, body: Buffer | undefined, onProgress?: (sent: number) => void): void {
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
