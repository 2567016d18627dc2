import { isStoreUnavailable } from '../store/store-unavailable.js';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { ErrorObject } from 'ajv';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, LogController } from 'fastify';
import type { Clock } from '../clock.js';
import type { ListenAddress } from '../config/listen.js';
import { MAX_ID_LENGTH, PRINTABLE_PATTERN } from '../devices/device-input.js';
import { ListenError } from '../errors.js';
import { guardListener, type ListenerGuardDeps, type ListenerLimits } from '../listeners/listener-guard.js';
import type { Logger } from '../log/logger.js';
import { TokenBuckets } from '../rate-limit/token-buckets.js';
import { sourceKey } from '../source-key.js';
import { describeSchemaError } from '../validate.js';
import type { CertMetrics } from './cert-metrics.js';
import { CertError, type CertService } from './cert-service.js';
import { wrapKey } from './key-wrap.js';
import { StbAuthenticator, type StbAuthFailure, type StbProof } from './stb-auth.js';

export interface StbEndpointDeps {
  readonly certs: CertService;
  /** The device secret that keys the STB's MAC and wraps its keys (the CWMP password); undefined for an unknown STB. */
  readonly secretOf: (stbId: string) => Promise<string | undefined>;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: CertMetrics;
  readonly listeners: ListenerGuardDeps;
}

export interface StbEndpointOptions {
  readonly listen: ListenAddress;
  readonly tls: { readonly cert: string; readonly key: string };
  /** `[certs]` header_timeout … max_connections_per_source. */
  readonly limits: ListenerLimits;
  /** How far an STB's timestamp may be from the proxy's clock, either way. */
  readonly windowMs?: number;
  /** Most nonces remembered against replays (past it the accepted window shrinks, see NonceMemory). */
  readonly nonceCapacity: number;
  /** Each STB's allowance over both routes (a token bucket), taken once it is authenticated. */
  readonly deviceRate: { readonly perMinute: number; readonly burst: number };
}

/**
 * STBs whose allowance is tracked at once; past it the least recent is forgotten and starts full again
 * (only authenticated STBs get here, so this bounds memory, not what a stranger can do).
 */
const RATE_KEYS = 100_000;

/** Why an STB request was not served, as the endpoint answers it. */
type Refusal = { readonly code: 401 } | { readonly code: 429; readonly retryAfterS: number };

/** Requests are a few hundred bytes. */
const BODY_LIMIT = 16 * 1024;

/**
 * The proof every STB request carries. The nonce excludes `|` so that the MAC text
 * `STBID|CERTID|TIMESTAMP|NONCE` splits one way only from the right.
 */
const proofSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['stbId', 'certId', 'timestamp', 'nonce', 'mac'],
  properties: {
    stbId: { type: 'string', minLength: 1, maxLength: MAX_ID_LENGTH, pattern: PRINTABLE_PATTERN },
    certId: { type: 'string', minLength: 1, maxLength: MAX_ID_LENGTH, pattern: PRINTABLE_PATTERN },
    timestamp: { type: 'integer', minimum: 0, maximum: 100_000_000_000 },
    nonce: { type: 'string', minLength: 16, maxLength: 128, pattern: '^[\\x21-\\x7b\\x7d\\x7e]*$' },
    mac: { type: 'string', pattern: '^[0-9a-fA-F]{64}$' },
  },
} as const;

const PATTERN_HINT: Record<string, string> = {
  nonce: 'expected visible ASCII characters other than "|"',
  mac: 'expected 64 hexadecimal characters (HMAC-SHA256)',
};

function describe(err: ErrorObject): string {
  const field = err.instancePath.slice(1);
  if (err.keyword === 'pattern' && PATTERN_HINT[field]) return `${field}: ${PATTERN_HINT[field]}`;
  return describeSchemaError(err);
}

const CODE_OF_STATUS: Record<number, string> = { 404: 'not-found', 405: 'method-not-allowed', 413: 'too-large', 415: 'unsupported-media-type' };

/** How an acknowledgement that could not be served is answered. */
const ACK_REFUSAL: Record<CertError['code'], [number, string]> = {
  'not-found': [404, 'not-found'],
  'unknown-device': [404, 'not-found'],
  revoked: [409, 'revoked'],
  conflict: [409, 'conflict'],
  'limit-reached': [409, 'limit-reached'],
  'ca-unavailable': [503, 'ca-unavailable'],
  'ca-refused': [502, 'ca-refused'],
};

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The STB-facing side of the certificate proxy (seed 002 steps 2–4), HTTPS on `[certs] listen`.
 * `POST /v1/certificate`: the STB asks for a certificate's key information and gets its status, and the key
 * wrapped for it when the certificate is valid. `POST /v1/certificate/ack`: the STB acknowledges
 * `expired` (or `not-found` for its derived id, the only one it may create), and the proxy fetches the
 * certificate from the CA. Every request is
 * authenticated with an HMAC of the device secret; any failure is answered `auth-failed` (401) alone,
 * the precise reason goes to the log.
 */
export class StbEndpoint {
  readonly #d: StbEndpointDeps;
  readonly #o: StbEndpointOptions;
  readonly #app: FastifyInstance;
  readonly #auth: StbAuthenticator;
  readonly #rate: TokenBuckets;
  /** One log line a minute per rate-limited STB; the counter has them all. */
  readonly #rateLog: TokenBuckets;
  readonly #authLog: TokenBuckets;
  /** Unknown STBs are checked against this, so that they cost what a known one costs. */
  readonly #decoy = randomBytes(18).toString('base64url');
  #address: ListenAddress | undefined;

  constructor(deps: StbEndpointDeps, opts: StbEndpointOptions) {
    this.#d = deps;
    this.#o = opts;
    const now = () => deps.clock.now();
    this.#auth = new StbAuthenticator(now, { windowMs: opts.windowMs ?? 5 * 60_000, nonceCapacity: opts.nonceCapacity, onNoncesEvicted: (n) => deps.metrics.noncesEvicted.inc(n) });
    this.#rate = new TokenBuckets({ ratePerSec: opts.deviceRate.perMinute / 60, burst: opts.deviceRate.burst, capacity: RATE_KEYS, now });
    this.#rateLog = new TokenBuckets({ ratePerSec: 1 / 60, burst: 1, capacity: RATE_KEYS, now });
    this.#authLog = new TokenBuckets({ ratePerSec: 1 / 60, burst: 1, capacity: RATE_KEYS, now });
    this.#app = this.#build();
  }

  /** Where it listens (the port is known even when the config said 0). */
  get address(): ListenAddress | undefined {
    return this.#address;
  }

  /** Whether the server is bound now (`address` stays known after a stop). */
  get listening(): boolean {
    return this.#app.server.listening;
  }

  async start(): Promise<void> {
    try {
      await this.#app.listen({ host: this.#o.listen.host, port: this.#o.listen.port });
    } catch (err) {
      await this.#app.close();
      throw new ListenError('[certs] listen', this.#o.listen, err as NodeJS.ErrnoException);
    }
    const bound = this.#app.server.address() as AddressInfo;
    this.#address = { host: bound.address, port: bound.port };
  }

  async stop(): Promise<void> {
    await this.#app.close();
  }

  #build(): FastifyInstance {
    const { certs, log, metrics } = this.#d;
    const app = Fastify({
      https: { cert: this.#o.tls.cert, key: this.#o.tls.key },
      loggerInstance: log as FastifyBaseLogger,
      logController: new LogController({ disableRequestLogging: true }),
      bodyLimit: BODY_LIMIT,
      return503OnClosing: true,
      forceCloseConnections: true,
      // Unknown fields are refused, and nothing is coerced: a timestamp is a JSON number.
      ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
    });
    // Past its limits the endpoint closes new connections: STBs retry with their own backoff.
    guardListener(app.server, { name: 'certs', limits: this.#o.limits, pastLimit: 'refuse' }, this.#d.listeners);
    // JSON only (fastify would read text/plain too).
    app.removeContentTypeParser('text/plain');

    const answer = (reply: FastifyReply, code: number, body: Record<string, unknown> & { status: string }) => {
      metrics.requests.inc({ status: body.status });
      return reply.code(code).send(body);
    };
    const refuse = (reply: FastifyReply, r: Refusal) => {
      if (r.code === 401) return answer(reply, 401, { status: 'auth-failed' });
      reply.header('retry-after', String(r.retryAfterS));
      return answer(reply, 429, { status: 'rate-limited', message: `too many requests from this STB; try again in ${r.retryAfterS} s` });
    };

    app.post<{ Body: StbProof }>('/v1/certificate', { schema: { body: proofSchema } }, async (req, reply) => {
      const p = req.body;
      const secret = await this.#authenticate(p, 'request', req.raw.socket.remoteAddress ?? '');
      if (typeof secret !== 'string') return refuse(reply, secret);
      const found = await certs.lookup(p.stbId, p.certId);
      if (found.status !== 'valid') {
        log.info({ stb: p.stbId, cert: p.certId, status: found.status }, 'certificate request answered');
        return answer(reply, 200, { status: found.status });
      }
      const r = found.record;
      const key = wrapKey(secret, { stbId: p.stbId, certId: p.certId, version: r.version, nonce: p.nonce }, found.key);
      log.debug({ stb: p.stbId, cert: p.certId, version: r.version }, 'certificate key served');
      return answer(reply, 200, { status: 'valid', certId: r.id, version: r.version, notAfter: iso(r.notAfter), updatePending: r.status === 'update-pending', key });
    });

    app.post<{ Body: StbProof }>('/v1/certificate/ack', { schema: { body: proofSchema } }, async (req, reply) => {
      const p = req.body;
      const secret = await this.#authenticate(p, 'acknowledgement', req.raw.socket.remoteAddress ?? '');
      if (typeof secret !== 'string') return refuse(reply, secret);
      try {
        const r = await certs.fetchFor(p.stbId, p.certId);
        return answer(reply, 200, { status: 'issued', certId: r.id, version: r.version, notAfter: iso(r.notAfter) });
      } catch (err) {
        if (!(err instanceof CertError)) throw err;
        const [code, status] = ACK_REFUSAL[err.code];
        log.warn({ stb: p.stbId, cert: p.certId, code: err.code, err: err.message }, 'certificate acknowledgement not served');
        return answer(reply, code, { status, message: err.message });
      }
    });

    app.setNotFoundHandler((req, reply) => {
      metrics.requests.inc({ status: 'bad-request' });
      return reply.code(404).send({ error: 'not-found', message: `no route ${req.method} ${req.url.split('?')[0]}` });
    });
    app.setErrorHandler((err: { statusCode?: number; code?: string; message: string; validation?: ErrorObject[] }, req, reply) => {
      const status = err.statusCode ?? 500;
      if (err.validation?.[0] || (status >= 400 && status < 500)) {
        metrics.requests.inc({ status: 'bad-request' });
        const message = err.validation?.[0] ? describe(err.validation[0]) : err.message;
        log.info({ source: req.raw.socket.remoteAddress, err: message }, 'certificate request refused: bad input');
        return reply.code(err.validation ? 400 : status).send({ error: CODE_OF_STATUS[status] ?? 'bad-request', message });
      }
      metrics.requests.inc({ status: 'error' });
      if (isStoreUnavailable(err)) {
        log.warn({ err: err.message }, 'certificate request refused: the store is unavailable');
        return reply.code(503).header('retry-after', '5').send({ error: 'store-unavailable', message: 'try again later' });
      }
      log.error({ err }, 'certificate request failed');
      return reply.code(500).send({ error: 'internal', message: 'internal error (logged by stbd)' });
    });
    return app;
  }

  /**
   * The device secret when the proof holds and the STB is within its allowance; otherwise the refusal
   * (the precise reason logged). The allowance is taken only from authenticated STBs, so that nobody
   * can use up another's, and before the nonce is remembered, so that a refused request takes no memory.
   */
  async #authenticate(p: StbProof, what: string, source: string): Promise<string | Refusal> {
    const { log } = this.#d;
    const secret = await this.#d.secretOf(p.stbId);
    let failure: StbAuthFailure | 'refused' | undefined;
    if (secret === undefined) {
      this.#auth.check({ ...p, mac: p.mac.toLowerCase() }, this.#decoy);
    } else {
      failure = this.#auth.check({ ...p, mac: p.mac.toLowerCase() }, secret, () => this.#rate.take(p.stbId));
      if (failure === undefined) return secret;
      if (failure === 'refused') {
        const retryAfterS = Math.max(1, Math.ceil(this.#rate.retryAfterMs(p.stbId) / 1000));
        if (this.#rateLog.take(p.stbId)) log.warn({ stb: p.stbId, cert: p.certId, retryAfterS }, `STB ${what} refused: rate limit ([certs] device_requests_per_minute); further refusals of this STB within a minute are only counted`);
        return { code: 429, retryAfterS };
      }
    }
    // Anyone can fail: one line a minute per source address (IPv6: per /64), route and reason; the rest only counted.
    if (this.#authLog.take(`${sourceKey(source)} ${what} ${failure ?? 'unknown-stb'}`)) {
      log.warn({ stb: p.stbId, cert: p.certId, source, reason: failure ?? 'unknown-stb', timestamp: p.timestamp }, `STB ${what} refused: authentication failed; further failures from this source within a minute are only counted`);
    }
    return { code: 401 };
  }
}
