import type { Clock } from './clock.js';

/** How the last call to an external system went, and when. */
export interface CallOutcome {
  readonly ok: boolean;
  readonly at: number;
  readonly error?: string;
}

/** Remembers the last external call's outcome (an HTTP adapter records each call), for /health. */
export class CallOutcomeRecorder {
  #last: CallOutcome | undefined;

  constructor(private readonly clock: Clock) {}

  get last(): CallOutcome | undefined {
    return this.#last;
  }

  succeeded(): void {
    this.#last = { ok: true, at: this.clock.now() };
  }

  failed(err: unknown): void {
    this.#last = { ok: false, at: this.clock.now(), error: err instanceof Error ? err.message : String(err) };
  }

  /** Runs `call`, recording how it ended; its result or error passes through unchanged. */
  async track<T>(call: () => Promise<T>): Promise<T> {
    try {
      const result = await call();
      this.succeeded();
      return result;
    } catch (err) {
      this.failed(err);
      throw err;
    }
  }
}
