import type { Clock } from '../clock.js';
import type { DeviceRecord } from './device.js';
import type { Candidate, SelectionQuery, SelectionRepo } from './selection-repo.js';
import { type Condition, usesOnline } from './selector/ast.js';
import { joinsOf } from './selector/compile.js';

/** What the selection needs of presence, which lives in memory (the keepalive path) and is flushed to the store. */
export interface PresenceOracle {
  /** Writes pending presence changes: afterwards every device online now is stored as seen at or after `seenSince(now)`. */
  flush(): Promise<void>;
  seenSince(now: number): number;
  /** Which of `ids` are online: in a cluster, wherever their bindings are held (one batch a page). */
  onlineAmong(ids: readonly string[]): Promise<ReadonlySet<string>>;
}

const NONE: ReadonlySet<string> = new Set();

/** A page of a selection: `next` (the last device examined) continues it; null once every device was examined. */
export interface SelectionPage<T> {
  readonly items: T[];
  readonly next: string | null;
}

/**
 * Devices by selector. The store narrows (one bounded statement a page), memory has the last word on who is
 * online. A page may hold fewer matches than it examined, even none, and still have a `next`.
 */
export class DeviceSelection {
  constructor(
    private readonly repo: SelectionRepo,
    private readonly clock: Clock,
    private readonly presence: PresenceOracle,
  ) {}

  async #query(condition: Condition): Promise<SelectionQuery> {
    // Only a condition on presence (online, lastSeen) needs the store to know of every device online now.
    if (usesOnline(condition) || joinsOf(condition).presence) await this.presence.flush();
    const now = this.clock.now();
    return { condition, now, seenSince: this.presence.seenSince(now) };
  }

  /** The candidates that match: presence asked once, for those whose match depends on it. */
  async #matching<C extends Candidate>(candidates: readonly C[]): Promise<C[]> {
    const ask = candidates.filter((c) => c.ifOnline !== c.ifOffline).map((c) => c.id);
    const online = ask.length === 0 ? NONE : await this.presence.onlineAmong(ask);
    return candidates.filter((c) => (c.ifOnline === c.ifOffline ? c.ifOnline : online.has(c.id) ? c.ifOnline : c.ifOffline));
  }

  /** Ids of the matching devices among the next `scan` after `after`. */
  async ids(condition: Condition, after: string | undefined, scan: number): Promise<SelectionPage<string>> {
    const page = await this.repo.candidates(await this.#query(condition), after ?? '', scan);
    return { items: (await this.#matching(page.rows)).map((c) => c.id), next: page.next };
  }

  /** The matching devices' records among the next `scan` after `after`. */
  async devices(condition: Condition, after: string | undefined, scan: number): Promise<SelectionPage<DeviceRecord>> {
    const page = await this.repo.devices(await this.#query(condition), after ?? '', scan);
    return { items: (await this.#matching(page.rows)).map((c) => c.record), next: page.next };
  }

  /** Which of `ids` match now (e.g. the device of an Inform, for profiles). */
  async matching(condition: Condition, ids: readonly string[]): Promise<string[]> {
    return (await this.#matching(await this.repo.among(await this.#query(condition), ids))).map((c) => c.id);
  }

  /** Every matching id, a page at a time, for work on the daemon's side; never more than one page in memory. */
  async *pages(condition: Condition, scan = 1000): AsyncGenerator<string[]> {
    let after: string | null = '';
    while (after !== null) {
      const page: SelectionPage<string> = await this.ids(condition, after, scan);
      if (page.items.length > 0) yield page.items;
      after = page.next;
    }
  }
}
