import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { CallOutcomeRecorder } from '../call-outcome.js';
import { httpRequestText, TransportError } from '../http-request.js';
import { CaError, type CertificateAuthority, type IssueRequest, type IssuedCertificate } from './cert-authority.js';

export interface HttpCaOptions {
  readonly url: string;
  readonly token: string;
  readonly timeoutMs: number;
}

/**
 * An external CA over HTTP+JSON. The contract: docs/protocols.md, "CA adapters":
 * `POST {url}/certificates` `{"certificateId", "device", "version", "notBefore", "notAfter"}` (ISO times) →
 * 200/201 `{"certificatePem", "privateKeyPem"}`; `Authorization: Bearer TOKEN`; `Idempotency-Key:
 * CERTID:VERSION` (a repeat must return the first answer). Timeouts, connection failures, 429 and 5xx are
 * retryable; any other status is a refusal. The answer is checked: a parseable certificate whose key is
 * the private key sent with it.
 */
export class HttpCertAuthority implements CertificateAuthority {
  /** `recorder` hears every call's outcome (for /health). */
  constructor(
    private readonly opts: HttpCaOptions,
    private readonly recorder?: CallOutcomeRecorder,
  ) {}

  issue(req: IssueRequest): Promise<IssuedCertificate> {
    return this.recorder ? this.recorder.track(() => this.#issue(req)) : this.#issue(req);
  }

  async #issue(req: IssueRequest): Promise<IssuedCertificate> {
    const url = `${this.opts.url.replace(/\/$/, '')}/certificates`;
    let res;
    try {
      res = await httpRequestText({
        method: 'POST',
        url,
        json: { certificateId: req.certificateId, device: req.deviceId, version: req.version, notBefore: req.notBefore.toISOString(), notAfter: req.notAfter.toISOString() },
        headers: { authorization: `Bearer ${this.opts.token}`, 'idempotency-key': `${req.certificateId}:${req.version}` },
        timeoutMs: this.opts.timeoutMs,
      });
    } catch (err) {
      if (err instanceof TransportError) throw new CaError(true, `CA at ${url} unreachable: ${err.code} ${err.message}`);
      throw err;
    }
    if (res.status >= 500 || res.status === 429) throw new CaError(true, `CA at ${url} answered ${res.status}`);
    if (res.status < 200 || res.status >= 300) throw new CaError(false, `CA at ${url} refused with ${res.status}: ${res.text.slice(0, 200)}`);
    let body: { certificatePem?: unknown; privateKeyPem?: unknown };
    try {
      body = JSON.parse(res.text) as typeof body;
    } catch {
      throw new CaError(true, `CA at ${url} answered ${res.status} with a body that is not JSON`);
    }
    if (typeof body.certificatePem !== 'string' || typeof body.privateKeyPem !== 'string') throw new CaError(true, `CA at ${url}: the answer needs certificatePem and privateKeyPem`);
    let x509: X509Certificate;
    try {
      x509 = new X509Certificate(body.certificatePem);
      if (!x509.checkPrivateKey(createPrivateKey(body.privateKeyPem))) throw new Error('the private key does not belong to the certificate');
    } catch (err) {
      throw new CaError(true, `CA at ${url} answered an unusable certificate: ${(err as Error).message}`);
    }
    return { serial: x509.serialNumber.toLowerCase(), certPem: body.certificatePem, privateKeyPem: body.privateKeyPem, notBefore: new Date(x509.validFrom), notAfter: new Date(x509.validTo) };
  }
}
