import { createPrivateKey, randomBytes, sign, X509Certificate } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { unwrapKey, type WrappedKey } from '../certs/key-wrap.js';
import { stbMac } from '../certs/stb-auth.js';

/**
 * What the STB shows the media system after using its key once (seed 002 step 5): the certificate, a
 * challenge and the signature over it with the certificate's private key. The key itself is gone by then.
 */
export interface PresentedCertificate {
  readonly certificatePem: string;
  readonly challenge: string;
  /** base64 RSA-SHA256 signature of the challenge's UTF-8 bytes. */
  readonly signature: string;
}

/** How one certificate fetch ended. `status` is the proxy's last answer, or `error` when there was none usable. */
export type CertFetchResult =
  | {
      readonly status: 'valid';
      readonly certId: string;
      readonly version: number;
      /** ISO time. */
      readonly notAfter: string;
      /** The proxy wants to renew it (a notice is on its way or acknowledged): a newer version follows. */
      readonly updatePending: boolean;
      readonly presented: PresentedCertificate;
    }
  | { readonly status: 'not-found' | 'expired' | 'revoked' | 'auth-failed'; readonly certId: string }
  | { readonly status: 'error'; readonly certId: string; readonly error: string };

export interface CertClientOptions {
  /** The proxy's STB endpoint, e.g. https://127.0.0.1:7548. */
  readonly url: string;
  readonly stbId: string;
  /** The device secret the proxy knows (the CWMP password), read at each request: the ACS may change it. */
  readonly secret: () => string;
  readonly timeoutMs: number;
  /** Unix ms. */
  readonly now: () => number;
  readonly signal?: AbortSignal;
  /** Called for every request sent (statistics). */
  readonly onRequest?: () => void;
}

interface Reply {
  readonly httpStatus: number;
  readonly body: Record<string, unknown>;
}

const ANSWERS = new Set(['not-found', 'expired', 'revoked', 'auth-failed']);

/**
 * The STB side of the certificate proxy (seed 002 steps 2–4): sends the proof (HMAC of stbId, certId,
 * timestamp and a fresh nonce keyed with the device secret); on `not-found`/`expired` acknowledges, so
 * that the proxy fetches the certificate from the CA, and asks again; on `valid` unwraps the key, signs a
 * challenge with it once and forgets it.
 *
 * TLS: the server certificate is not verified (a simulator talks to test daemons whose endpoint
 * certificate comes from their own builtin CA). What matters is still authenticated: the key arrives
 * AES-GCM-wrapped under a key derived from the device secret, so only a proxy that knows the secret can
 * hand over a key that unwraps.
 */
export class CertClient {
  constructor(private readonly o: CertClientOptions) {}

  /** One fetch: proof → (ack → proof) → the outcome. Never throws: failures are `{status: 'error'}`. */
  async fetch(certId: string, challenge: string = randomBytes(16).toString('hex')): Promise<CertFetchResult> {
    try {
      let nonce = newNonce();
      let reply = await this.#post('/v1/certificate', certId, nonce);
      let status = reply.body['status'];
      if (status === 'not-found' || status === 'expired') {
        // "The STB answers": the proxy now fetches the certificate from the CA.
        const ack = await this.#post('/v1/certificate/ack', certId, newNonce());
        if (ack.body['status'] !== 'issued') return this.#other(certId, ack);
        nonce = newNonce();
        reply = await this.#post('/v1/certificate', certId, nonce);
        status = reply.body['status'];
      }
      if (status !== 'valid') return this.#other(certId, reply);
      return this.#use(certId, nonce, reply.body, challenge);
    } catch (err) {
      return { status: 'error', certId, error: (err as Error).message };
    }
  }

  #other(certId: string, r: Reply): CertFetchResult {
    const status = r.body['status'];
    if (typeof status === 'string' && ANSWERS.has(status)) return { status: status as 'not-found', certId };
    if (r.httpStatus === 401) return { status: 'auth-failed', certId };
    const why = typeof r.body['message'] === 'string' ? `: ${r.body['message']}` : typeof status === 'string' ? `: status ${JSON.stringify(status)}` : '';
    return { status: 'error', certId, error: `the proxy answered HTTP ${r.httpStatus}${why}` };
  }

  /** Unwraps the key, signs the challenge with it, and lets it go out of scope: it is never stored. */
  #use(certId: string, nonce: string, body: Record<string, unknown>, challenge: string): CertFetchResult {
    const version = body['version'];
    if (body['certId'] !== certId || typeof version !== 'number') return { status: 'error', certId, error: 'the proxy answered valid for another certificate or without a version' };
    const key = unwrapKey(this.o.secret(), { stbId: this.o.stbId, certId, version, nonce }, body['key'] as WrappedKey);
    const privateKey = createPrivateKey(key.privateKeyPem);
    if (!new X509Certificate(key.certificatePem).checkPrivateKey(privateKey)) return { status: 'error', certId, error: 'the key does not belong to the certificate' };
    const signature = sign('sha256', Buffer.from(challenge, 'utf8'), privateKey).toString('base64');
    const notAfter = body['notAfter'];
    return {
      status: 'valid',
      certId,
      version,
      notAfter: typeof notAfter === 'number' ? new Date(notAfter).toISOString() : String(notAfter),
      updatePending: body['updatePending'] === true,
      presented: { certificatePem: key.certificatePem, challenge, signature },
    };
  }

  #post(path: string, certId: string, nonce: string): Promise<Reply> {
    const proof = { stbId: this.o.stbId, certId, timestamp: Math.floor(this.o.now() / 1000), nonce };
    const data = Buffer.from(JSON.stringify({ ...proof, mac: stbMac(this.o.secret(), proof) }));
    const url = new URL(`${this.o.url.replace(/\/+$/, '')}${path}`);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    this.o.onRequest?.();
    return new Promise((resolve, reject) => {
      const req = send(
        url,
        {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'content-length': data.length },
          ...(url.protocol === 'https:' ? { rejectUnauthorized: false } : {}),
          ...(this.o.signal ? { signal: this.o.signal } : {}),
        },
        (res: IncomingMessage) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            let body: unknown;
            try {
              body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            } catch {
              body = undefined;
            }
            resolve({ httpStatus: res.statusCode ?? 0, body: typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {} });
          });
          res.on('error', reject);
        },
      );
      req.setTimeout(this.o.timeoutMs, () => req.destroy(new Error(`no answer from the certificate proxy within ${this.o.timeoutMs} ms`)));
      req.on('error', reject);
      req.end(data);
    });
  }
}

/** 32 URL-safe characters (the proxy takes 16–128 printable ones). */
const newNonce = (): string => randomBytes(24).toString('base64url');
