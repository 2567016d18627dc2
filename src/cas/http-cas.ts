import { httpRequestText, TransportError } from '../http-request.js';
import type { CallOutcomeRecorder } from '../call-outcome.js';
import { type Cas, CasError } from './cas.js';

export interface HttpCasOptions {
  /** Base URL, e.g. https://cas.example.net/api */
  readonly url: string;
  /** Sent as `Authorization: Bearer …`. */
  readonly token: string;
  readonly timeoutMs: number;
}

/**
 * An external CAS over HTTP+JSON. The contract: docs/protocols.md, "CAS adapters":
 * - `POST {url}/registrations` `{"device": ID}` → 200/201 `{"certificateId": "…"}`
 * - `POST {url}/deregistrations` `{"device": ID, "certificateId": "…" | null}` → 200/204; 404 (nothing to
 *   deregister) counts as done; a null certificate id means whatever the device holds
 * - every call carries `Authorization: Bearer TOKEN` and `Idempotency-Key: KEY`; a repeated key must
 *   return the first answer and change nothing
 * - no answer within the timeout, a connection failure or a 5xx/429 is retried later; any other status
 *   is a refusal
 */
export class HttpCas implements Cas {
  /** `recorder` hears every call's outcome (for /health). */
  constructor(
    private readonly opts: HttpCasOptions,
    private readonly recorder?: CallOutcomeRecorder,
  ) {}

  register(deviceId: string, idempotencyKey: string): Promise<{ certificateId: string }> {
    return this.#tracked(async () => {
      const body = await this.#call('registrations', { device: deviceId }, idempotencyKey, false);
      const certificateId = (body as { certificateId?: unknown } | undefined)?.certificateId;
      if (typeof certificateId !== 'string' || certificateId === '') {
        throw new CasError(true, 'CAS registration answer has no certificateId');
      }
      return { certificateId };
    });
  }

  deregister(deviceId: string, certificateId: string | null, idempotencyKey: string): Promise<void> {
    return this.#tracked(async () => {
      await this.#call('deregistrations', { device: deviceId, certificateId }, idempotencyKey, true);
    });
  }

  #tracked<T>(call: () => Promise<T>): Promise<T> {
    return this.recorder ? this.recorder.track(call) : call();
  }

  async #call(path: string, json: unknown, idempotencyKey: string, notFoundIsDone: boolean): Promise<unknown> {
    const url = `${this.opts.url.replace(/\/$/, '')}/${path}`;
    let res;
    try {
      res = await httpRequestText({
        method: 'POST',
        url,
        json,
        headers: { authorization: `Bearer ${this.opts.token}`, 'idempotency-key': idempotencyKey },
        timeoutMs: this.opts.timeoutMs,
      });
    } catch (err) {
      if (err instanceof TransportError) throw new CasError(true, `CAS at ${url} unreachable: ${err.code} ${err.message}`);
      throw err;
    }
    if (res.status === 404 && notFoundIsDone) return undefined;
    if (res.status >= 500 || res.status === 429) throw new CasError(true, `CAS at ${url} answered ${res.status}`);
    if (res.status < 200 || res.status >= 300) throw new CasError(false, `CAS at ${url} refused with ${res.status}: ${res.text.slice(0, 200)}`);
    if (res.text === '') return undefined;
    try {
      return JSON.parse(res.text);
    } catch {
      throw new CasError(true, `CAS at ${url} answered ${res.status} with a body that is not JSON`);
    }
  }
}
