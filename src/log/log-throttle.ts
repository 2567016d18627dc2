import type { Clock } from '../clock.js';

/**
 * Lets a kind of log line through at most once per interval, counting those held back, so that a flood
 * of one event (refused connections, failed logins) costs one line a minute and says how many it stood for.
 */
export class LogThrottle<K> {
  readonly #last = new Map<K, { at: number; suppressed: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly intervalMs = 60_000,
  ) {}

  /**
   * One event of kind `key`. Returns how many events of that kind were held back since the last line when a
   * line is due now (0 for the first), undefined when this one is held back too. Keep the kinds few: each is
   * remembered.
   */
  due(key: K): number | undefined {
    const now = this.clock.now();
    const last = this.#last.get(key);
    if (last !== undefined && now - last.at < this.intervalMs) {
      last.suppressed++;
      return undefined;
    }
    this.#last.set(key, { at: now, suppressed: 0 });
    return last?.suppressed ?? 0;
  }
}
