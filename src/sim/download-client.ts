import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AcsTls } from './acs-tls.js';

export interface DownloadRequest {
  readonly url: string;
  readonly timeoutMs: number;
  /** How many of the first bytes to keep (the rest is counted and dropped: a CPE's flash, for us). */
  readonly keepBytes: number;
  readonly tls?: AcsTls;
  readonly signal?: AbortSignal;
}

/** How a download went: its size and first bytes, or why it failed (the HTTP status if one came). */
export type DownloadOutcome = { readonly ok: true; readonly status: number; readonly size: number; readonly head: Buffer } | { readonly ok: false; readonly status?: number; readonly error: string };

/** One HTTP(S) GET of a file (the CPE side of TR-069 Download): 200 is success, anything else a failure. */
export function downloadFile(r: DownloadRequest): Promise<DownloadOutcome> {
  const url = new URL(r.url);
  const https = url.protocol === 'https:';
  if (!https && url.protocol !== 'http:') return Promise.resolve({ ok: false, error: `unsupported protocol ${url.protocol}` });
  return new Promise((resolve) => {
    const req = (https ? httpsRequest : httpRequest)(url, { method: 'GET', ...(https ? r.tls : {}), ...(r.signal ? { signal: r.signal } : {}) }, (res) => {
      const status = res.statusCode ?? 0;
      if (status !== 200) {
        res.resume();
        return resolve({ ok: false, status, error: `HTTP ${status}` });
      }
      const kept: Buffer[] = [];
      let keptBytes = 0;
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (keptBytes < r.keepBytes) {
          const part = chunk.subarray(0, r.keepBytes - keptBytes);
          kept.push(part);
          keptBytes += part.length;
        }
      });
      res.on('end', () => resolve({ ok: true, status, size, head: Buffer.concat(kept) }));
      res.on('error', (err) => resolve({ ok: false, status, error: err.message }));
      res.on('aborted', () => resolve({ ok: false, status, error: 'the transfer was cut off' }));
    });
    req.setTimeout(r.timeoutMs, () => req.destroy(new Error(`no data within ${r.timeoutMs} ms`)));
    req.on('error', (err) => resolve({ ok: false, error: err.message }));
    req.end();
  });
}
