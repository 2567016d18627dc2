import { periodicDelay } from './periodic-schedule.js';
import { SessionError } from './session-http.js';

/** An Inform event: "1 BOOT", "M Reboot" with its CommandKey, … */
export interface InformEvent {
  readonly code: string;
  readonly commandKey: string;
}

export interface CwmpAgentDeps {
  /** Runs one session delivering `events`; rejects when it failed (a SessionError may say when to retry). */
  session(events: readonly InformEvent[], retryCount: number): Promise<void>;
  /** Aborts the session in flight (the device stops or reboots). */
  abort(): void;
  readonly random: () => number;
  /** TR-069 §3.2.1.1's m: the n-th retry waits m·2^(n-1) to twice that (n capped at 10). */
  readonly retryDelayMs: number;
  /** Unix ms, for PeriodicInformTime (default Date.now). */
  readonly now?: () => number;
}

/** Node cannot arm a timer longer than this. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * When the CPE opens sessions: on triggers (boot, connection request, periodic timer, transfer complete),
 * one at a time (a trigger during a session runs one more session after it), events kept until an Inform
 * delivers them, and failed sessions retried with TR-069's backoff (never before an ACS's Retry-After).
 */
export class CwmpAgent {
  #pending: InformEvent[] = [];
  #inFlight = new Set<InformEvent>();
  #running: Promise<void> | undefined;
  #again = false;
  #retryCount = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #periodicTimer: NodeJS.Timeout | undefined;
  #periodic: { enabled: boolean; intervalMs: number; phaseMs: number | undefined } = { enabled: false, intervalMs: 0, phaseMs: undefined };
  #started = false;
  #nextPeriodicAt: number | undefined;

  constructor(private readonly deps: CwmpAgentDeps) {}

  get retryCount(): number {
    return this.#retryCount;
  }

  /** Events waiting for an Inform (those of the session in flight included). */
  get pending(): readonly InformEvent[] {
    return this.#pending;
  }

  start(): void {
    this.#started = true;
    this.#armPeriodic();
    if (this.#pending.length > 0 && this.#retryCount > 0) this.#scheduleRetry();
  }

  /** Stops every timer and aborts the session in flight; pending events are kept. */
  async stop(): Promise<void> {
    this.#started = false;
    this.#again = false;
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#periodicTimer);
    this.#retryTimer = this.#periodicTimer = undefined;
    if (this.#running) {
      this.deps.abort();
      await this.#running;
    }
  }

  /** Queues events without opening a session (they go with the next one). */
  queue(...events: InformEvent[]): void {
    for (const e of events) {
      // One undelivered copy of an event is enough; the copy in flight may still fail.
      if (!this.#pending.some((p) => p.code === e.code && !this.#inFlight.has(p))) this.#pending.push(e);
      else this.#pending = this.#pending.map((p) => (p.code === e.code && !this.#inFlight.has(p) ? e : p));
    }
  }

  /** Forgets pending events (a reboot loses "6 CONNECTION REQUEST", say). */
  discard(codes: readonly string[]): void {
    this.#pending = this.#pending.filter((p) => !codes.includes(p.code));
  }

  /** Queues events and opens a session now, or right after the one running. */
  trigger(...events: InformEvent[]): void {
    this.queue(...events);
    if (!this.#started) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    // A trigger (a connection request, say) is worth a session even while a retry is pending.
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#running = this.#run();
  }

  /**
   * PeriodicInformEnable / PeriodicInformInterval / PeriodicInformTime (`phaseMs`, Unix ms): re-arms the
   * periodic timer, for the phase plus a whole number of intervals (without one, an interval from now).
   */
  setPeriodic(enabled: boolean, intervalMs: number, phaseMs?: number): void {
    this.#periodic = { enabled, intervalMs, phaseMs };
    this.#armPeriodic();
  }

  /** When the periodic timer fires next (Unix ms, by `now`), or undefined when it is off. */
  get nextPeriodicAt(): number | undefined {
    return this.#nextPeriodicAt;
  }

  /** Resolves when no session is running (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  async #run(): Promise<void> {
    const events = [...this.#pending];
    for (const e of events) this.#inFlight.add(e);
    let ok = false;
    let notBefore: number | undefined;
    try {
      await this.deps.session(events, this.#retryCount);
      ok = true;
    } catch (err) {
      // The device reported the failure; the events stay pending for the retry.
      if (err instanceof SessionError) notBefore = err.retryAfterMs;
    }
    this.#inFlight.clear();
    if (ok) {
      this.#pending = this.#pending.filter((p) => !events.includes(p));
      this.#retryCount = 0;
    } else {
      this.#retryCount++;
    }
    this.#running = undefined;
    if (!this.#started) return;
    if (!ok) {
      this.#again = false;
      this.#scheduleRetry(notBefore);
    } else if (this.#again) {
      this.#again = false;
      this.#running = this.#run();
    }
  }

  /** TR-069's backoff, and not before the ACS's Retry-After (`notBeforeMs`) when it gave one. */
  #scheduleRetry(notBeforeMs = 0): void {
    const min = this.deps.retryDelayMs * 2 ** (Math.min(this.#retryCount, 10) - 1);
    const wait = Math.min(MAX_TIMER_MS, Math.max(notBeforeMs, min + this.deps.random() * min));
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      if (!this.#running) this.#running = this.#run();
    }, wait).unref();
  }

  #armPeriodic(): void {
    clearTimeout(this.#periodicTimer);
    this.#periodicTimer = undefined;
    this.#nextPeriodicAt = undefined;
    if (!this.#started || !this.#periodic.enabled || this.#periodic.intervalMs <= 0) return;
    const now = (this.deps.now ?? Date.now)();
    const delay = periodicDelay(now, this.#periodic.intervalMs, this.#periodic.phaseMs);
    this.#nextPeriodicAt = now + delay;
    this.#periodicTimer = setTimeout(() => {
      this.#periodicTimer = undefined;
      // Past what one Node timer can wait: look again then, without an Inform.
      if (delay <= MAX_TIMER_MS) this.trigger({ code: '2 PERIODIC', commandKey: '' });
      this.#armPeriodic();
    }, Math.min(MAX_TIMER_MS, delay)).unref();
  }
}
