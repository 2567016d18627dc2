import { createSocket, type Socket } from 'node:dgram';
import { isIPv4 } from 'node:net';
import type { Registry } from 'prom-client';
import type { Clock } from '../clock.js';
import { formatListen, type ListenAddress } from '../config/listen.js';
import type { DeviceRecord } from '../devices/device.js';
import type { DeviceRegistry } from '../devices/registry.js';
import { ListenError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Database } from '../store/database.js';
import { type TimerHost, Timers } from '../timer/timers.js';
import { DeviceTable, type KeepaliveCredentials, type SealedKeepaliveCredentials } from './device-table.js';
import { type IntegrityPolicy, KeepaliveHandler } from './keepalive-handler.js';
import { type KeepaliveStats, newStats, registerKeepaliveMetrics } from './keepalive-metrics.js';
import { type Endpoint, Presence, type PresenceView } from './presence.js';
import { PresenceRepo } from './presence-repo.js';

export interface KeepaliveOptions {
  readonly listen: ListenAddress;
  readonly listenV6: ListenAddress | undefined;
  readonly integrity: IntegrityPolicy;
  readonly reauthAfterMs: number;
  readonly offlineAfterMs: number;
  readonly answerAnonymous: boolean;
}

export interface KeepaliveDeps {
  readonly db: Database;
  readonly registry: DeviceRegistry;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: Registry;
  readonly host?: TimerHost;
}

/** Why bytes could not be sent to a device's binding. */
export class SendError extends Error {
  constructor(
    readonly code: 'unknown-device' | 'no-binding' | 'no-socket',
    message: string,
  ) {
    super(message);
    this.name = 'SendError';
  }
}

const FLUSH_INTERVAL_MS = 1_000;
/**
 * Keepalives that only move a device's last-seen time are written this often (and at shutdown), not
 * every second: at one row per keepalive the store would cost more than the keepalives themselves.
 * After a crash such a device may look offline until its next keepalive.
 */
const STALE_SWEEP_MS = 5 * 60_000;
/** Rows per transaction: about half a millisecond of SQLite work, so keepalives never wait long behind a flush. */
const FLUSH_CHUNK = 250;
const RECEIVE_BUFFER = 4 * 1024 * 1024;
/** Sealed STUN passwords opened per turn of the event loop after start: about a millisecond. */
const OPEN_CHUNK = 200;

/**
 * The keepalive path (seed 001 steps 3–4): UDP STUN sockets, authentication, presence, offline detection,
 * and the batched presence flush. Presence lives in memory and is rebuilt from SQLite at start.
 * Also the one way to send bytes to a device's binding from the STUN socket itself (`sendToBinding`).
 */
export class KeepaliveService {
  readonly stats: KeepaliveStats = newStats();
  readonly #table: DeviceTable;
  readonly #presence: Presence;
  readonly #handler: KeepaliveHandler;
  readonly #repo: PresenceRepo;
  readonly #offline: Timers<number>;
  readonly #flushHistogram;
  readonly #log: Logger;
  readonly #deps: KeepaliveDeps;
  readonly #opts: KeepaliveOptions;
  #sockets: { v4?: Socket; v6?: Socket } = {};
  #flushTimer: NodeJS.Timeout | undefined;
  #sweepTimer: NodeJS.Timeout | undefined;
  #opening: NodeJS.Immediate | undefined;
  /** Writes run one after another (each in chunks); this is the last one queued. */
  #writing: Promise<void> = Promise.resolve();
  #flushQueued = false;

  constructor(deps: KeepaliveDeps, opts: KeepaliveOptions) {
    this.#deps = deps;
    this.#opts = opts;
    this.#log = deps.log.child({ component: 'keepalive' });
    this.#repo = new PresenceRepo(deps.db);
    this.#table = new DeviceTable(deps.registry.count, deps.registry.stunPasswordOpener(), (device, err) =>
      this.#log.error({ device, err: (err as Error).message }, 'STUN password does not open with the master key: its keepalives are refused'),
    );
    const debug = () => this.#log.isLevelEnabled('debug');
    this.#presence = new Presence(opts.offlineAfterMs, {
      online: (slot) => {
        this.stats.wentOnline++;
        if (debug()) this.#log.debug({ device: this.#table.idOf(slot) }, 'device online');
      },
      offline: (slot) => {
        this.stats.wentOffline++;
        if (debug()) this.#log.debug({ device: this.#table.idOf(slot) }, 'device offline');
      },
      bindingChanged: (slot, from, to, reported) => {
        this.stats.bindingChanges++;
        if (debug()) this.#log.debug({ device: this.#table.idOf(slot), from, to, reported }, 'binding changed');
      },
    });
    this.#handler = new KeepaliveHandler(this.#table, this.#presence, { integrity: opts.integrity, reauthAfterMs: opts.reauthAfterMs, answerAnonymous: opts.answerAnonymous });
    // Second resolution is plenty for offline detection; the wheel covers offline_after with room to spare.
    const slots = 2 ** Math.ceil(Math.log2(Math.ceil(opts.offlineAfterMs / 1000) + 2));
    this.#offline = new Timers<number>({
      clock: deps.clock,
      tickMs: 1000,
      slots: Math.max(64, slots),
      fire: (slot) => this.#checkOffline(slot),
      onError: (err) => this.#log.error({ err }, 'offline check failed'),
      ...(deps.host ? { host: deps.host } : {}),
    });
    this.#flushHistogram = registerKeepaliveMetrics(deps.metrics, this.stats, () => this.#presence.onlineCount);
  }

  get onlineCount(): number {
    return this.#presence.onlineCount;
  }

  /**
   * Every device online now has a persisted last-seen time at or after this (after `flush()`): a cheap
   * first filter in SQL, before presence in memory decides.
   */
  persistedSeenSince(now: number): number {
    return now - this.#opts.offlineAfterMs - STALE_SWEEP_MS - 2 * FLUSH_INTERVAL_MS;
  }

  /** Where the sockets are bound (the ports are known even when the config said 0). */
  get addresses(): { v4?: Endpoint; v6?: Endpoint } {
    const of = (s: Socket | undefined) => (s ? { address: s.address().address, port: s.address().port } : undefined);
    const v4 = of(this.#sockets.v4);
    const v6 = of(this.#sockets.v6);
    return { ...(v4 ? { v4 } : {}), ...(v6 ? { v6 } : {}) };
  }

  /** Loads every device and its persisted presence, then binds the sockets. */
  async start(): Promise<void> {
    const now = this.#deps.clock.now();
    this.#presence.ensureCapacity(this.#deps.registry.count + 1024);
    this.#repo.loadAll((device, record) => {
      const slot = this.#add(device);
      if (record) {
        this.#presence.restore(slot, record, now);
        this.#armOffline(slot);
      }
    });
    this.#deps.registry.subscribe({
      added: (devices: readonly DeviceRecord[]) => {
        for (const d of devices) this.#add({ id: d.id, stunUsername: d.credentials.stunUsername, stunPassword: d.credentials.stunPassword });
      },
      removed: (id: string) => {
        const slot = this.#table.remove(id);
        if (slot !== undefined) this.#presence.forget(slot);
      },
    });
    this.#offline.start();
    this.#sockets.v4 = await this.#bind('udp4', this.#opts.listen, '[stun] listen');
    if (this.#opts.listenV6) this.#sockets.v6 = await this.#bind('udp6', this.#opts.listenV6, '[stun] listen_v6');
    this.#flushTimer = setInterval(() => void this.flush(), FLUSH_INTERVAL_MS).unref();
    this.#sweepTimer = setInterval(() => void this.#write(() => this.#presence.takeStale()), STALE_SWEEP_MS).unref();
    this.#openSealed();
  }

  /** Closes the sockets and writes every pending presence change. */
  async stop(): Promise<void> {
    clearInterval(this.#flushTimer);
    clearInterval(this.#sweepTimer);
    clearImmediate(this.#opening);
    this.#offline.stop();
    await Promise.all(Object.values(this.#sockets).map((s: Socket) => new Promise<void>((resolve) => s.close(() => resolve()))));
    this.#sockets = {};
    await this.#writing;
    this.#writeChunk([...this.#presence.takeDirty(), ...this.#presence.takeStale()]);
  }

  presenceOf(deviceId: string): PresenceView | undefined {
    const slot = this.#table.slotOfId(deviceId);
    return slot === undefined ? undefined : this.#presence.view(slot);
  }

  /**
   * Sends `bytes` to the device's connection-request binding from the STUN socket itself, so that the NAT
   * mapping its keepalives opened lets them through (seed 001 step 5). Resolves with where they went.
   */
  async sendToBinding(deviceId: string, bytes: Buffer): Promise<Endpoint> {
    const slot = this.#table.slotOfId(deviceId);
    if (slot === undefined) throw new SendError('unknown-device', `device ${JSON.stringify(deviceId)} not found`);
    const binding = this.#presence.binding(slot);
    if (!binding) throw new SendError('no-binding', `device ${JSON.stringify(deviceId)} has no connection-request binding yet`);
    const socket = isIPv4(binding.address) ? this.#sockets.v4 : this.#sockets.v6;
    if (!socket) throw new SendError('no-socket', `no STUN socket for ${binding.address}`);
    await new Promise<void>((resolve, reject) => socket.send(bytes, binding.port, binding.address, (err) => (err ? reject(err) : resolve())));
    return binding;
  }

  /** Writes the significant presence changes made since the last flush (the flush timer calls it every second). */
  flush(): Promise<void> {
    if (this.#flushQueued) return this.#writing;
    this.#flushQueued = true;
    return this.#write(() => {
      this.#flushQueued = false;
      return this.#presence.takeDirty();
    });
  }

  /** Queues a write of the slots `take` returns when its turn comes, a chunk per event-loop turn. */
  #write(take: () => number[]): Promise<void> {
    this.#writing = this.#writing.then(async () => {
      const started = process.hrtime.bigint();
      try {
        const slots = take();
        if (slots.length === 0) return;
        for (let i = 0; i < slots.length; i += FLUSH_CHUNK) {
          if (i > 0) await new Promise((resolve) => setImmediate(resolve));
          this.#writeChunk(slots.slice(i, i + FLUSH_CHUNK));
        }
        this.#flushHistogram.observe(Number(process.hrtime.bigint() - started) / 1e9);
      } catch (err) {
        this.#log.error({ err }, 'presence write failed');
      }
    });
    return this.#writing;
  }

  #writeChunk(slots: readonly number[]): void {
    const batch: [string, ReturnType<Presence['record']>][] = [];
    for (const slot of slots) {
      const id = this.#table.idOf(slot);
      if (id !== null) batch.push([id, this.#presence.record(slot)]);
    }
    if (batch.length > 0) this.#repo.write(batch);
  }

  /** Opens the STUN passwords loaded sealed, a few at a time between datagrams (a device's first keepalive opens its own). */
  #openSealed(): void {
    this.#opening = this.#table.openSealed(OPEN_CHUNK) ? setImmediate(() => this.#openSealed()) : undefined;
  }

  #add(device: KeepaliveCredentials | SealedKeepaliveCredentials): number {
    const slot = this.#table.add(device);
    this.#presence.ensureCapacity(this.#table.slotCount);
    return slot;
  }

  #armOffline(slot: number): void {
    if (this.#presence.needsOfflineCheck(slot)) this.#offline.schedule(this.#presence.offlineDueAt(slot), slot);
  }

  #checkOffline(slot: number): void {
    if (this.#table.idOf(slot) === null) return;
    if (this.#presence.checkOffline(slot, this.#deps.clock.now())) this.#offline.schedule(this.#presence.offlineDueAt(slot), slot);
  }

  async #bind(type: 'udp4' | 'udp6', at: ListenAddress, key: string): Promise<Socket> {
    const socket = createSocket({ type, ipv6Only: type === 'udp6' });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(at.port, at.host, () => {
        socket.off('error', reject);
        resolve();
      });
    }).catch((err: NodeJS.ErrnoException) => {
      socket.close();
      throw new ListenError(key, at, err);
    });
    try {
      socket.setRecvBufferSize(RECEIVE_BUFFER);
    } catch {
      // The kernel caps it (net.core.rmem_max); the default still works.
    }
    socket.on('error', (err) => this.#log.error({ err }, 'STUN socket error'));
    socket.on('message', (msg, rinfo) => this.#receive(socket, msg, rinfo.address, rinfo.port, rinfo.family as 'IPv4' | 'IPv6'));
    this.#log.info({ listen: formatListen({ host: socket.address().address, port: socket.address().port }) }, 'STUN keepalive listener ready');
    return socket;
  }

  #receive(socket: Socket, msg: Buffer, address: string, port: number, family: 'IPv4' | 'IPv6'): void {
    this.stats.received++;
    const result = this.#handler.handle(msg, { address, port, family }, this.#deps.clock.now());
    this.stats[result.outcome]++;
    if (result.slot !== undefined) this.#armOffline(result.slot);
    if (result.response) socket.send(result.response, port, address);
    if (result.reason && result.outcome !== 'challenged') this.#log.debug({ from: `${address}:${port}`, outcome: result.outcome, reason: result.reason }, 'keepalive refused');
  }
}
