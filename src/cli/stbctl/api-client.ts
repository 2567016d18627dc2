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
    let data: unknown;
    try {
      data = res.text === '' ? undefined : JSON.parse(res.text);
    } catch {
      throw new CliError('bad-response', `stbd at ${this.target.baseUrl} answered ${res.status} with a body that is not JSON`);
    }
    if (res.status >= 200 && res.status < 300) return data as T;
    const e = (data ?? {}) as { error?: string; message?: string };
    if (res.status === 401) throw new CliError('unauthorized', `the API refused the token (401): ${e.message ?? 'unauthorized'}`);
    throw new CliError(e.error ?? `http-${res.status}`, e.message ?? `HTTP ${res.status}`);
  }
}
