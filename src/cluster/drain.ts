import type { Logger } from '../log/logger.js';
import type { NodeRepo } from './node-repo.js';

export interface DrainDeps {
  readonly repo: NodeRepo;
  /** Queues the STUN settings of the node a device is steered to now; false: nothing to change for it. */
  readonly rehome: (deviceId: string) => Promise<boolean>;
  /** Brings this node's steering up to date (the drained node is no candidate any more). */
  readonly refresh: () => Promise<void>;
  /** Waits between pages (pacing). */
  readonly sleep: (ms: number) => Promise<void>;
  readonly log: Logger;
}

/** Devices re-homed per page, and pages per second: the STBs' sessions arrive spread out, not all at once. */
const PAGE = 100;
const PAGES_PER_SECOND = 2;

/**
 * `stbctl cluster drain NODE`: the node is taken out of steering, and each STB whose binding it holds gets the
 * STUN settings of another node queued (their sessions, on any node, re-home them; their keepalives then reach
 * the new node, which claims the binding). Progress is written to the node's row; a restart of the node ends it.
 */
export class Drain {
  readonly #d: DrainDeps;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(deps: DrainDeps) {
    this.#d = deps;
  }

  /** Starts draining `nodeId`; resolves with how many bindings it holds. */
  async start(nodeId: string): Promise<number> {
    const total = await this.#d.repo.heldCount(nodeId);
    await this.#d.repo.setDrain(nodeId, total, 0);
    await this.#d.refresh();
    this.#d.log.info({ node: nodeId, bindings: total }, 'cluster drain started');
    const previous = this.#running ?? Promise.resolve();
    this.#running = previous.then(() => this.#run(nodeId, total)).catch((err: unknown) => this.#d.log.error({ node: nodeId, err: (err as Error).message }, 'cluster drain failed; run it again'));
    return total;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#running;
  }

  async #run(nodeId: string, total: number): Promise<void> {
    let after = '';
    let done = 0;
    let queued = 0;
    for (;;) {
      if (this.#stopped) return;
      const page = await this.#d.repo.heldBy(nodeId, after, PAGE);
      for (const id of page) if (await this.#d.rehome(id)) queued++;
      done += page.length;
      await this.#d.repo.setDrain(nodeId, Math.max(total, done), done);
      if (page.length < PAGE) break;
      after = page.at(-1)!;
      await this.#d.sleep(1000 / PAGES_PER_SECOND);
    }
    this.#d.log.info({ node: nodeId, devices: done, queued }, 'cluster drain: every STB of the node has its new STUN settings queued');
  }
}
