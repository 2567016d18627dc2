import { createReadStream, createWriteStream, renameSync, rmSync, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { httpRequestText, TransportError } from '../../http-request.js';
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

/** A thin HTTP+JSON client for the admin API; every failure becomes a CliError with a useful message. */
export class ApiClient {
  constructor(readonly target: ApiTarget) {}

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = {};
    if (opts.auth !== false) headers['authorization'] = `Bearer ${this.target.token()}`;
    let res;
    try {
      res = await httpRequestText({ method, url: `${this.target.baseUrl}${path}`, headers, json: opts.json, ...(opts.body ? { raw: opts.body } : {}) });
    } catch (err) {
      if (!(err instanceof TransportError)) throw err;
      throw new CliError('unreachable', `cannot reach stbd at ${this.target.baseUrl}: ${NETWORK_HINT[err.code] ?? err.message}`);
    }
    return this.#answer<T>(res);
  }

  /**
   * GETs a binary body into `file` (mode 0600, written as FILE.partial then renamed, so a failed download
   * never leaves a truncated FILE), or to standard output when `file` is "-". Returns the bytes written.
   */
  async download(path: string, file: string): Promise<number> {
    const partial = `${file}.partial`;
    const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      const req = httpRequest(`${this.target.baseUrl}${path}`, { method: 'GET', headers: { authorization: `Bearer ${this.target.token()}` } }, resolve);
      req.on('error', (err: NodeJS.ErrnoException) => reject(new CliError('unreachable', `cannot reach stbd at ${this.target.baseUrl}: ${NETWORK_HINT[err.code ?? ''] ?? err.message}`)));
      req.end();
    });
    if (res.statusCode !== 200) {
      let text = '';
      for await (const chunk of res) text += String(chunk);
      let data: unknown;
      try {
        data = JSON.parse(text);
      } catch {
        data = undefined;
      }
      throw this.#refusal(res.statusCode ?? 0, data);
    }
    let bytes = 0;
    if (file === '-') {
      for await (const chunk of res) {
        bytes += (chunk as Buffer).length;
        if (!process.stdout.write(chunk as Buffer)) await new Promise((resolve) => process.stdout.once('drain', resolve));
      }
      return bytes;
    }
    res.on('data', (c: Buffer) => (bytes += c.length));
    try {
      await pipeline(res, createWriteStream(partial, { mode: 0o600 }));
      renameSync(partial, file);
    } catch (err) {
      rmSync(partial, { force: true });
      throw new CliError('io', `cannot write ${file}: ${(err as Error).message}`);
    }
    return bytes;
  }

  /**
   * POSTs `file` as the raw body (application/octet-stream), streamed from disk at the pace the socket takes
   * it (never read whole into memory); `onProgress` hears the bytes sent so far. Returns the JSON answer.
   */
  async sendFile<T>(path: string, file: string, onProgress?: (sent: number, total: number) => void): Promise<T> {
    let size: number;
    try {
      size = statSync(file).size;
    } catch (err) {
      throw new CliError('bad-file', `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    const source = createReadStream(file);
    const unreadable = new Promise<never>((_, reject) => source.once('error', (err: NodeJS.ErrnoException) => reject(new CliError('bad-file', `cannot read ${file} (${err.code ?? err.message})`))));
    unreadable.catch(() => undefined);
    const answered = new Promise<{ status: number; text: string }>((resolve, reject) => {
      const headers = { authorization: `Bearer ${this.target.token()}`, 'content-type': 'application/octet-stream', 'content-length': String(size) };
      let answer = false;
      const req = httpRequest(`${this.target.baseUrl}${path}`, { method: 'POST', headers }, (res) => {
        // An answer before the whole file was sent is a refusal: stop sending, read it.
        answer = true;
        source.destroy();
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, text });
          req.destroy();
        });
        res.on('error', reject);
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (!answer) reject(new CliError('unreachable', `cannot reach stbd at ${this.target.baseUrl}: ${NETWORK_HINT[err.code ?? ''] ?? err.message}`));
      });
      let sent = 0;
      source.on('data', (chunk: string | Buffer) => {
        sent += chunk.length;
        // Back-pressure: the file is read no faster than the socket sends.
        if (!req.write(chunk)) {
          source.pause();
          req.once('drain', () => source.resume());
        }
        onProgress?.(sent, size);
      });
      source.on('end', () => req.end());
    });
    const res = await Promise.race([answered, unreadable]);
    return this.#answer<T>(res);
  }

  /** The JSON of a 2xx answer; any other answer as the CliError it means. */
  #answer<T>(res: { readonly status: number; readonly text: string }): T {
    let data: unknown;
    try {
      data = res.text === '' ? undefined : JSON.parse(res.text);
    } catch {
      throw new CliError('bad-response', `stbd at ${this.target.baseUrl} answered ${res.status} with a body that is not JSON`);
    }
    if (res.status >= 200 && res.status < 300) return data as T;
    throw this.#refusal(res.status, data);
  }

  #refusal(status: number, data: unknown): CliError {
    const e = (data ?? {}) as { error?: string; message?: string };
    if (status === 401) return new CliError('unauthorized', `the API refused the token (401): ${e.message ?? 'unauthorized'}`);
    return new CliError(e.error ?? `http-${status}`, e.message ?? `HTTP ${status}`);
  }
}
