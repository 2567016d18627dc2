import type { Clock } from '../clock.js';
import type { Logger } from '../log/logger.js';
import type { NodeRepo, NodeRow } from './node-repo.js';

export interface ClusterNodeDeps {
  readonly repo: NodeRepo;
  readonly clock: Clock;
  readonly log: Logger;
  /** Bindings this node's STUN socket holds, and its devices online, now (from memory). */
  readonly counts: () => { readonly owned: number; readonly online: number };
  /** Another start of this node id took its row over: this process must stop (it was logged). */
  readonly onFenced: (reason: string) => void;
  /** The live nodes, after each heartbeat (steering follows them). */
  readonly onLive?: (nodes: readonly NodeRow[]) => void;
}

export interface ClusterNodeOptions {
  readonly nodeId: string;
  /** What STBs are told to reach this node's STUN listener at (host:port). */
  readonly stunAddress: string;
  readonly leaseMs: number;
}

/** A node as `stbctl cluster status` shows it. */
export interface NodeStatus {
  readonly id: string;
  readonly stunAddress: string;
  /** Its lease is live (it heartbeats). */
  readonly alive: boolean;
  readonly self: boolean;
  readonly incarnation: number;
  readonly startedAt: string;
  readonly lastHeartbeat: string;
  readonly devicesOwned: number;
  readonly online: number;
  readonly drain: { readonly total: number; readonly done: number } | null;
}

/**
 * This stbd as a node of the cluster: its `nodes` row, created (one incarnation up) at start, renewed every
 * third of the lease with its counts, given up at a clean stop. On SQLite the cluster is this one node.
 */
export class ClusterNode {
  readonly #d: ClusterNodeDeps;
  readonly #o: ClusterNodeOptions;
  #stunAddress: string;
  #incarnation = 0;
  /** The live nodes as last logged. */
  #live = '';
  #timer: NodeJS.Timeout | undefined;
  #beating: Promise<void> = Promise.resolve();

  constructor(deps: ClusterNodeDeps, opts: ClusterNodeOptions) {
    this.#d = deps;
    this.#o = opts;
    this.#stunAddress = opts.stunAddress;
  }

  get id(): string {
    return this.#o.nodeId;
  }

  get incarnation(): number {
    return this.#incarnation;
  }

  get leaseMs(): number {
    return this.#o.leaseMs;
  }

  /** Before any once-only work is claimed in its name: others see the node alive from now on. */
  async start(): Promise<void> {
    this.#incarnation = await this.#d.repo.register(this.#o.nodeId, this.#stunAddress, this.#beat());
    this.#d.log.info({ node: this.#o.nodeId, incarnation: this.#incarnation, leaseMs: this.#o.leaseMs }, 'cluster node registered');
    this.#timer = setInterval(() => void this.heartbeat(), Math.max(1000, Math.floor(this.#o.leaseMs / 3))).unref();
  }

  /** Where STBs reach this node's STUN listener, once it is bound (written at once). */
  advertise(stunAddress: string): Promise<void> {
    this.#stunAddress = stunAddress;
    return this.heartbeat();
  }

  /** Renews the lease now (the timer does it every third of the lease). */
  heartbeat(): Promise<void> {
    this.#beating = this.#beating.then(async () => {
      try {
        if (await this.#d.repo.heartbeat(this.#o.nodeId, this.#incarnation, this.#stunAddress, this.#beat())) {
          const live = await this.liveNodes();
          const ids = live.map((n) => (n.drainTotal === null ? n.id : `${n.id} (draining)`)).join(', ');
          if (ids !== this.#live) this.#d.log.info({ nodes: ids }, 'cluster: the live nodes changed');
          this.#live = ids;
          this.#d.onLive?.(live);
          return;
        }
        clearInterval(this.#timer);
        this.#d.onFenced(`another start of node ${JSON.stringify(this.#o.nodeId)} took its row over (incarnation above ${this.#incarnation})`);
      } catch (err) {
        // The store is away: the lease may run out meanwhile, and the others then take this node's work over.
        this.#d.log.warn({ err: (err as Error).message }, 'cluster heartbeat failed; trying again at the next beat');
      }
    });
    return this.#beating;
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#beating;
    await this.#d.repo.leave(this.#o.nodeId, this.#incarnation, this.#d.clock.now()).catch((err: unknown) => this.#d.log.warn({ err: (err as Error).message }, 'cluster: giving up the lease at stop failed; it runs out by itself'));
  }

  /** Every node of the cluster, this one with its counts of now. */
  async status(): Promise<NodeStatus[]> {
    const now = this.#d.clock.now();
    const rows = await this.#d.repo.list();
    return rows.map((r) => this.#view(r, now));
  }

  /** The ids of the nodes alive now. */
  async liveNodes(): Promise<NodeRow[]> {
    const now = this.#d.clock.now();
    return (await this.#d.repo.list()).filter((r) => r.leaseUntil > now);
  }

  #view(r: NodeRow, now: number): NodeStatus {
    const self = r.id === this.#o.nodeId && r.incarnation === this.#incarnation;
    const counts = self ? this.#d.counts() : { owned: r.owned, online: r.online };
    return {
      id: r.id,
      stunAddress: r.stunAddress,
      alive: self || r.leaseUntil > now,
      self,
      incarnation: r.incarnation,
      startedAt: new Date(r.startedAt).toISOString(),
      lastHeartbeat: new Date(r.heartbeatAt).toISOString(),
      devicesOwned: counts.owned,
      online: counts.online,
      drain: r.drainTotal === null ? null : { total: r.drainTotal, done: r.drainDone ?? 0 },
    };
  }

  #beat() {
    return { now: this.#d.clock.now(), leaseMs: this.#o.leaseMs, ...this.#d.counts() };
  }
}
