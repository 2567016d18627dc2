import { Agent, request } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { answerChallenge } from '../http-digest.js';
import type { AcsTls } from './acs-tls.js';
import type { BodyCharset } from './body-charset.js';
import { retryAfterMs } from './retry-after.js';

export interface SessionHttpOptions {
  readonly url: string;
  readonly auth: 'digest' | 'basic';
  readonly username: string;
  readonly password: string;
  /** The Content-Type of POSTs with a body, verbatim; '' sends none. */
  readonly contentType: string;
  /** How the bodies are encoded (it must agree with their XML declaration). */
  readonly charset: BodyCharset;
  /** How long to wait for the ACS's answer to one POST. */
  readonly timeoutMs: number;
  /** Aborts the POST in flight (the simulator is stopping). */
  readonly signal: AbortSignal;
  /** For an https:// URL. */
  readonly tls?: AcsTls;
}

export interface SessionReply {
  readonly status: number;
  readonly text: string;
  /** The answer's Retry-After, in ms from when it arrived. */
  readonly retryAfterMs?: number;
}

/** Why a session ended early: no answer, an HTTP error status, or an answer we could not use. */
export class SessionError extends Error {
  override name = 'SessionError';

  /** `retryAfterMs`: the ACS said when to come back (Retry-After). */
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/**
 * The HTTP side of one CWMP session: one keep-alive connection, the ACS's cookies sent back, and Basic
 * (preemptive) or Digest (on challenge) authentication; over TLS for an https:// URL, where the server
 * certificate is verified (against `tls.ca` when given) and the client certificate presented. Throw away
 * after the session: cookies die with it.
 */
export class SessionHttp {
  readonly #agent: Agent;
  readonly #request: typeof request;
  readonly #cookies = new Map<string, string>();
  readonly #url: URL;

  constructor(private readonly o: SessionHttpOptions) {
    this.#url = new URL(o.url);
    const https = this.#url.protocol === 'https:';
    this.#agent = https ? new HttpsAgent({ keepAlive: true, maxSockets: 1, ...o.tls }) : new Agent({ keepAlive: true, maxSockets: 1 });
    this.#request = https ? httpsRequest : request;
  }

  /** POSTs a SOAP body ('' for the empty POST); answers a 401 challenge once per POST. */
  async post(body: string): Promise<SessionReply> {
    const basic = this.o.auth === 'basic' ? `Basic ${Buffer.from(`${this.o.username}:${this.o.password}`).toString('base64')}` : undefined;
    let reply = await this.#send(body, basic);
    if (reply.status === 401 && reply.challenge) {
      const uri = `${this.#url.pathname}${this.#url.search}`;
      const authorization = answerChallenge(reply.challenge, { username: this.o.username, password: this.o.password }, 'POST', uri);
      if (authorization) reply = await this.#send(body, authorization);
    }
    return { status: reply.status, text: reply.text, ...(reply.retryAfterMs === undefined ? {} : { retryAfterMs: reply.retryAfterMs }) };
  }

  close(): void {
    this.#agent.destroy();
  }

  #send(body: string, authorization: string | undefined): Promise<SessionReply & { challenge?: string }> {
    const data = this.o.charset.encode(body);
    const headers: Record<string, string | number> = { 'content-length': data.length };
    if (data.length > 0) {
      if (this.o.contentType !== '') headers['content-type'] = this.o.contentType;
      headers['soapaction'] = '""';
    }
    if (authorization) headers['authorization'] = authorization;
    if (this.#cookies.size > 0) headers['cookie'] = [...this.#cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    return new Promise((resolve, reject) => {
      const req = this.#request(this.#url, { method: 'POST', headers, agent: this.#agent, signal: this.o.signal }, (res) => {
        for (const c of res.headers['set-cookie'] ?? []) this.#keepCookie(c);
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const challenge = res.headers['www-authenticate'];
          const retryAfter = retryAfterMs(res.headers['retry-after'], Date.now());
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), ...(challenge ? { challenge } : {}), ...(retryAfter === undefined ? {} : { retryAfterMs: retryAfter }) });
        });
        res.on('error', (err) => reject(new SessionError(`reading the ACS answer: ${err.message}`)));
      });
      req.setTimeout(this.o.timeoutMs, () => req.destroy(new Error(`no answer within ${this.o.timeoutMs} ms`)));
      req.on('error', (err) => reject(new SessionError(err.message)));
      req.end(data);
    });
  }

  /** "name=value; Path=/; HttpOnly" → name=value (attributes do not matter within one session). */
  #keepCookie(header: string): void {
    const pair = header.split(';', 1)[0] ?? '';
    const eq = pair.indexOf('=');
    if (eq > 0) this.#cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
  }
}
