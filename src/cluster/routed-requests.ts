import type { Logger } from '../log/logger.js';

export interface RoutedRequestsDeps {
  /** Does this node's STUN socket hold the device's binding? */
  readonly holds: (deviceId: string) => boolean;
  /** Asks the device to call in (a connection request from this node's STUN socket). */
  readonly request: (deviceId: string) => Promise<void>;
  /** Devices whose binding this node holds, with queued tasks (from the store). */
  readonly devicesToCall: () => Promise<string[]>;
  readonly log: Logger;
}

/**
 * The receiving end of routing: a task queued through another node's API for a device whose binding this node
 * holds arrives as a notification, and this node sends the connection request. Notifications are not durable
 * (lost while the channel reconnects, or in a database failover), so the store is rescanned whenever the channel
 * is listening again and every `pollMs` as the backstop.
 */
export class RoutedRequests {
  readonly #d: RoutedRequestsDeps;
  readonly #pollMs: number;
  #timer: NodeJS.Timeout | undefined;
  #scanning = false;
  #stopped = false;

  constructor(deps: RoutedRequestsDeps, pollMs: number) {
    this.#d = deps;
    this.#pollMs = pollMs;
  }

  start(): void {
    this.#timer = setInterval(() => void this.rescan(), this.#pollMs).unref();
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
  }

  /** A notification named this device. */
  routed(deviceId: string): void {
    if (this.#stopped || !this.#d.holds(deviceId)) return;
    void this.#d.request(deviceId);
  }

  /** Asks every held device with queued work to call in (the requester ignores one it is already asking). */
  async rescan(): Promise<void> {
    if (this.#stopped || this.#scanning) return;
    this.#scanning = true;
    try {
      for (const id of await this.#d.devicesToCall()) if (this.#d.holds(id)) void this.#d.request(id);
    } catch (err) {
      this.#d.log.warn({ err: (err as Error).message }, 'cluster: looking for routed work failed; trying again at the next poll');
    } finally {
      this.#scanning = false;
    }
  }
}
