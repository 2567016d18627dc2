import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { answerChallenge } from '../http-digest.js';
import type { AcsTls } from './acs-tls.js';

export interface UploadRequest {
  readonly url: string;
  /** TR-069 A.3.2.9: a CPE SHOULD upload over HTTP with PUT; some use POST. */
  readonly method: 'PUT' | 'POST';
  readonly body: Buffer;
  readonly contentType: string;
  /** The Upload RPC's Username/Password: answered to a Basic or Digest challenge ('' sends none). */
  readonly username: string;
  readonly password: string;
  readonly timeoutMs: number;
  readonly tls?: AcsTls;
  readonly signal?: AbortSignal;
}

/** How an upload went: the server's status, or why no answer came. */
export type UploadOutcome = { readonly ok: true; readonly status: number } | { readonly ok: false; readonly status?: number; readonly error: string };

interface Reply {
  readonly status: number;
  readonly challenge: string | undefined;
}

/** One HTTP transfer of a file (the CPE side of TR-069 Upload): a 2xx is success; a 401 is answered once with the credentials. */
export async function uploadFile(r: UploadRequest): Promise<UploadOutcome> {
  let reply: Reply;
  try {
    reply = await send(r, undefined);
    if (reply.status === 401 && reply.challenge && r.username !== '') {
      const url = new URL(r.url);
      const authorization = answerChallenge(reply.challenge, { username: r.username, password: r.password }, r.method, `${url.pathname}${url.search}`);
      if (authorization) reply = await send(r, authorization);
    }
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
  return reply.status >= 200 && reply.status < 300 ? { ok: true, status: reply.status } : { ok: false, status: reply.status, error: `HTTP ${reply.status}` };
}

function send(r: UploadRequest, authorization: string | undefined): Promise<Reply> {
  const url = new URL(r.url);
  const https = url.protocol === 'https:';
  const headers: Record<string, string | number> = { 'content-type': r.contentType, 'content-length': r.body.length };
  if (authorization) headers['authorization'] = authorization;
  return new Promise((resolve, reject) => {
    const req = (https ? httpsRequest : httpRequest)(url, { method: r.method, headers, ...(https ? r.tls : {}), ...(r.signal ? { signal: r.signal } : {}) }, (res) => {
      // The status is the answer: a server refusing the file (413, 403) may close before the body is all sent.
      resolve({ status: res.statusCode ?? 0, challenge: res.headers['www-authenticate'] });
      res.on('error', () => undefined);
      res.resume();
    });
    req.setTimeout(r.timeoutMs, () => req.destroy(new Error(`no answer within ${r.timeoutMs} ms`)));
    req.on('error', reject);
    req.end(r.body);
  });
}
