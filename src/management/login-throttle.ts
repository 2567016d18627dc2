import type { Logger } from '../log/logger.js';
import { LogThrottle, type LogThrottleLine } from '../rate-limit/log-throttle.js';
import { TokenBuckets } from '../rate-limit/token-buckets.js';
import { sourceKey } from '../source-key.js';
import type { RefusalKind } from './cpe-logins.js';

/** Sources remembered per table (least recently seen forgotten first): about 100 bytes each. */
const SOURCES = 65_536;
const LOG_INTERVAL_MS = 60_000;

export interface LoginThrottleOptions {
  /** 401 challenges per second per source address, and how many in a row; 0: no limit. */
  readonly challengesPerSecond: number;
  readonly challengeBurst: number;
  /** Refused logins per minute per source address, and how many in a row; 0: no limit. */
  readonly failuresPerMinute: number;
  readonly failureBurst: number;
  readonly now: () => number;
}

export interface LoginThrottleDeps {
  readonly log: Logger;
  /** A request answered 503 because its source is over a limit. */
  readonly throttled: () => void;
}

type Refused = { readonly kind: RefusalKind | 'throttled'; readonly reason: string; readonly username?: string; readonly device?: string };

/**
 * Per-source limits (an IPv4 address, or an IPv6 /64) on what a stranger can make the CWMP endpoint do: 401 challenges (each one a signed
 * nonce) and refused logins (each one a password check). Past a limit the source gets 503 with
 * Retry-After, as under load shedding. Refused logins are logged once per source and kind a minute, with
 * a count.
 */
export class LoginThrottle {
  readonly #challenges: TokenBuckets | undefined;
  readonly #failures: TokenBuckets | undefined;
  readonly #lines: LogThrottle<Refused>;

  constructor(
    private readonly d: LoginThrottleDeps,
    o: LoginThrottleOptions,
  ) {
    const { now } = o;
    if (o.challengesPerSecond > 0) this.#challenges = new TokenBuckets({ ratePerSec: o.challengesPerSecond, burst: Math.max(1, o.challengeBurst), capacity: SOURCES, now });
    if (o.failuresPerMinute > 0) this.#failures = new TokenBuckets({ ratePerSec: o.failuresPerMinute / 60, burst: Math.max(1, o.failureBurst), capacity: SOURCES, now });
    this.#lines = new LogThrottle<Refused>({ intervalMs: LOG_INTERVAL_MS, capacity: SOURCES, now, emit: (line) => this.#log(line) });
  }

  /** May `source` be sent a 401 challenge now? undefined if so, else seconds to wait (counted, logged). */
  challenge(address: string): number | undefined {
    const source = sourceKey(address);
    return this.#challenges?.take(source) === false ? this.#throttle(this.#challenges, source, 'too many 401 challenges') : undefined;
  }

  /** May `source` try credentials now? undefined if so, else seconds to wait (counted, logged). Nothing is checked meanwhile. */
  mayTry(address: string): number | undefined {
    const source = sourceKey(address);
    return this.#failures?.peek(source) === false ? this.#throttle(this.#failures, source, 'too many refused logins') : undefined;
  }

  /** A refused login: counted against its source and logged (aggregated). */
  refused(address: string, r: Refused): void {
    const source = sourceKey(address);
    this.#failures?.take(source);
    this.#lines.record(`${source} ${r.kind}`, r);
  }

  /** Writes the counts of the minute just ended (call about once a minute). */
  flush(): void {
    this.#lines.flush();
  }

  /** Writes every pending count (shutdown). */
  drain(): void {
    this.#lines.drain();
  }

  #throttle(buckets: TokenBuckets, source: string, reason: string): number {
    this.d.throttled();
    this.#lines.record(`${source} throttled`, { kind: 'throttled', reason });
    return Math.max(1, Math.ceil(buckets.retryAfterMs(source) / 1000));
  }

  #log({ key, count, detail, since }: LogThrottleLine<Refused>): void {
    const source = key.slice(0, key.lastIndexOf(' '));
    const fields = { source, count, ...(detail.username === undefined ? {} : { username: detail.username }), ...(detail.device === undefined ? {} : { device: detail.device }) };
    if (detail.kind === 'throttled') {
      this.d.log.warn({ ...fields, since: new Date(since).toISOString() }, `CWMP source over its limit (answered 503): ${detail.reason}${count > 1 ? ` (${count} requests)` : ''}`);
    } else if (count === 1) {
      this.d.log.warn(fields, `CWMP session refused: ${detail.reason}`);
    } else {
      this.d.log.warn({ ...fields, since: new Date(since).toISOString() }, `CWMP session refused ${count} times from this source since ${new Date(since).toISOString()}; the last: ${detail.reason}`);
    }
  }
}
