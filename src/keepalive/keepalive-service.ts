import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { isIPv4 } from 'node:net';
import type { Registry } from 'prom-client';
import type { Clock } from '../clock.js';
import { formatListen, type ListenAddress } from '../config/listen.js';
import type { DeviceRecord } from '../devices/device.js';
import type { DeviceRegistry } from '../devices/registry.js';
import { ListenError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { nodeTimers, type TimerHost } from '../timer/timers.js';
import { DeviceTable, type KeepaliveCredentials, type SealedKeepaliveCredentials } from './device-table.js';
import { LogThrottle, type LogThrottleLine } from '../rate-limit/log-throttle.js';
import { authThrottledCounter } from '../rate-limit/auth-throttled-metric.js';
import { TokenBuckets } from '../rate-limit/token-buckets.js';
import { type Allowance, type HandleResult, type IntegrityPolicy, KeepaliveHandler, type RefusalBudget } from './keepalive-handler.js';
import { type KeepaliveStats, newStats, registerKeepaliveMetrics } from './keepalive-metrics.js';
import { type Endpoint, Presence, type PresenceView } from './presence.js';
import type { PresenceRepo } from './presence-repo.js';
import { ReplayMemory } from './replay-memory.js';
import { OFFLINE_TICK_MS, offlineSlice } from './offline-sweep.js';
import { DeviceLookups, type Waiting } from './device-lookups.js';
import { UnknownUsernames } from './unknown-usernames.js';
import type { LoadedDevice } from './presence-repo.js';

export interface KeepaliveOptions {
  readonly listen: ListenAddress;
  readonly listenV6: ListenAddress | undefined;
  readonly integrity: IntegrityPolicy;
  readonly reauthAfterMs: number;
  readonly offlineAfterMs: number;
  readonly answerAnonymous: boolean;
  /** Error answers (401, 420) to unsigned requests per second per source, and how many in a row; 0: no limit. */
  readonly challengesPerSecond: number;
  readonly challengeBurst: number;
  /** Refused signed requests per minute per source, and how many in a row; 0: no limit. */
  readonly authFailuresPerMinute: number;
  readonly authFailureBurst: number;
  /**
   * This node's id in a cluster (PostgreSQL): bindings are held by the node whose STUN socket accepted the
   * latest binding keepalive, and presence writes are fenced by it. Undefined: one node, every binding its own.
   */
  readonly nodeId?: string | undefined;
}

export interface KeepaliveDeps {
  readonly presence: PresenceRepo;
  readonly registry: DeviceRegistry;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: Registry;
  readonly host?: TimerHost;
}

/** Why bytes could not be sent to a device's binding. */
export class SendError extends Error {
  constructor(
    readonly code: 'unknown-device' | 'no-binding' | 'no-socket' | 'not-held',
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
/** Sources whose allowances are remembered (least recently refused forgotten first): about 100 bytes each. */
const SOURCES = 65_536;
const LOG_INTERVAL_MS = 60_000;
const NO_LIMIT: RefusalBudget = { peek: () => true, take: () => true };

type Refusal = { readonly reason: string; readonly device?: string | null } | { readonly limit: Allowance };
/** Sealed STUN passwords opened per turn of the event loop after start: about a millisecond. */
const OPEN_CHUNK = 200;
/** Usernames the store did not know, remembered (about 100 bytes each) so a repeated made-up one costs one query. */
const UNKNOWN_NAMES = 65_536;
const UNKNOWN_TTL_MS = 10 * 60_000;
type From = Endpoint & { readonly family: 'IPv4' | 'IPv6' };

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
  readonly #replays = new ReplayMemory();
  readonly #lines: LogThrottle<Refusal>;
  readonly #throttled: { inc(): void };
  readonly #repo: PresenceRepo;
  readonly #host: TimerHost;
  #offlineTimer: unknown;
  #offlineCursor = 0;
  readonly #flushHistogram;
  readonly #log: Logger;
  readonly #deps: KeepaliveDeps;
  readonly #opts: KeepaliveOptions;
  /** In a cluster: devices not held in memory are read from the store when they send a keepalive. */
  readonly #lookups: DeviceLookups<LoadedDevice, From> | undefined;
  readonly #unknown: UnknownUsernames | undefined;
  #lookupErrorLoggedAt = -Infinity;
  #sockets: { v4?: Socket; v6?: Socket } = {};
  #flushTimer: NodeJS.Timeout | undefined;
  #sweepTimer: NodeJS.Timeout | undefined;
  #logTimer: NodeJS.Timeout | undefined;
  #opening: NodeJS.Immediate | undefined;
  /** Writes run one after another (each in chunks); this is the last one queued. */
  #writing: Promise<void> = Promise.resolve();
  #flushQueued = false;

  constructor(deps: KeepaliveDeps, opts: KeepaliveOptions) {
    this.#deps = deps;
    this.#opts = opts;
    this.#log = deps.log.child({ component: 'keepalive' });
    this.#repo = deps.presence;
    // A cluster node holds its own devices only: its table grows from what it loads.
    this.#table = new DeviceTable(opts.nodeId === undefined ? deps.registry.count : 0, deps.registry.stunPasswordOpener(), (device, err) =>
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
    const now = () => deps.clock.now();
    if (opts.nodeId !== undefined) {
      const unknown = new UnknownUsernames(UNKNOWN_NAMES, UNKNOWN_TTL_MS, now);
      this.#unknown = unknown;
      this.#lookups = new DeviceLookups<LoadedDevice, From>({
        find: async (usernames) => new Map((await this.#repo.byStunUsernames(usernames)).map((d) => [d.device.stunUsername, d])),
        found: (username, loaded) => this.#hold(username, loaded),
        replay: (w) => this.#replay(w),
        unknown,
        onError: (err) => this.#lookupFailed(err),
        later: (fn) => void setImmediate(fn),
      });
    }
    const lookups = this.#lookups;
    const buckets = (ratePerSec: number, burst: number) => (ratePerSec > 0 ? new TokenBuckets({ ratePerSec, burst, capacity: SOURCES, now }) : NO_LIMIT);
    this.#handler = new KeepaliveHandler(
      {
        devices: this.#table,
        presence: this.#presence,
        replays: this.#replays,
        challenges: buckets(opts.challengesPerSecond, opts.challengeBurst),
        failures: buckets(opts.authFailuresPerMinute / 60, opts.authFailureBurst),
        ...(lookups ? { notHeld: (message: Buffer, username: string, from: From) => lookups.defer(username, message, from) } : {}),
      },
      { integrity: opts.integrity, reauthAfterMs: opts.reauthAfterMs, answerAnonymous: opts.answerAnonymous, decoyKey: randomBytes(20) },
    );
    this.#lines = new LogThrottle<Refusal>({ intervalMs: LOG_INTERVAL_MS, capacity: SOURCES, now, emit: (line) => this.#logRefusals(line) });
    this.#throttled = authThrottledCounter(deps.metrics).labels({ listener: 'stun' });
    this.#host = deps.host ?? nodeTimers;
    this.#flushHistogram = registerKeepaliveMetrics(deps.metrics, this.stats, () => this.#presence.onlineCount, () => this.#table.size);
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

  /**
   * Loads every device and its persisted presence (a cluster node: the devices whose bindings it holds; the
   * others are read from the store at their first keepalive here), then binds the sockets.
   */
  async start(): Promise<void> {
    const now = this.#deps.clock.now();
    const me = this.#opts.nodeId;
    const restore = (device: SealedKeepaliveCredentials, record: LoadedDevice['presence'], node: string | null) => this.#restore(this.#add(device), record, node, now);
    if (me === undefined) {
      this.#presence.ensureCapacity(this.#deps.registry.count + 1024);
      this.#replays.ensureCapacity(this.#deps.registry.count + 1024);
      await this.#repo.loadAll(restore);
    } else {
      // Sized for what it holds before the read: grown by doubling from empty, a third of a fleet sat in tables
      // for half of it. Devices that move here later grow them by half again.
      const held = (await this.#repo.countHeld(me)) + 1024;
      this.#table.reserve(held);
      this.#presence.ensureCapacity(held);
      this.#replays.ensureCapacity(held);
      await this.#repo.loadHeld(me, restore);
    }
    const unknown = this.#unknown;
    this.#deps.registry.subscribe({
      added: (devices: readonly DeviceRecord[]) => {
        // A cluster node reads a new device at its first keepalive here; the name is no longer unknown.
        if (unknown) for (const d of devices) unknown.delete(d.credentials.stunUsername);
        else for (const d of devices) this.#add({ id: d.id, stunUsername: d.credentials.stunUsername, stunPassword: d.credentials.stunPassword });
      },
      removed: (id: string) => {
        const slot = this.#table.remove(id);
        if (slot === undefined) return;
        this.#presence.forget(slot);
        this.#replays.forget(slot);
      },
    });
    this.#sweepOffline();
    this.#sockets.v4 = await this.#bind('udp4', this.#opts.listen, '[stun] listen');
    if (this.#opts.listenV6) this.#sockets.v6 = await this.#bind('udp6', this.#opts.listenV6, '[stun] listen_v6');
    this.#flushTimer = setInterval(() => void this.flush(), FLUSH_INTERVAL_MS).unref();
    this.#sweepTimer = setInterval(() => void this.#write(() => this.#presence.takeStale()), STALE_SWEEP_MS).unref();
    this.#logTimer = setInterval(() => this.#lines.flush(), LOG_INTERVAL_MS).unref();
  }

  /**
   * Starts opening the STUN passwords loaded sealed, a few between datagrams (a device's first keepalive opens its
   * own meanwhile). Called once the daemon is up: the rest of its start (a first start's CA keys, say) need not
   * share the core with a million decryptions.
   */
  openInBackground(): void {
    if (this.#opening !== undefined || this.#table.sealedCount === 0) return;
    const started = { at: this.#deps.clock.now(), sealed: this.#table.sealedCount };
    this.#openSealed(started);
  }

  /** Closes the sockets and writes every pending presence change. */
  async stop(): Promise<void> {
    clearInterval(this.#flushTimer);
    clearInterval(this.#sweepTimer);
    clearInterval(this.#logTimer);
    this.#lines.drain();
    clearImmediate(this.#opening);
    if (this.#offlineTimer !== undefined) this.#host.clearTimeout(this.#offlineTimer);
    this.#offlineTimer = undefined;
    await Promise.all(Object.values(this.#sockets).map((s: Socket) => new Promise<void>((resolve) => s.close(() => resolve()))));
    this.#sockets = {};
    await this.#write(() => [...this.#presence.takeDirty(), ...this.#presence.takeStale()]);
  }

  /** Bindings this node's STUN socket holds (a scan of memory: for heartbeats and status, not per packet). */
  get heldCount(): number {
    return this.#presence.ownedCount;
  }

  /** Another node's STUN socket took the device's binding over (it told this node): no more UDP requests from here. */
  bindingTaken(deviceId: string): void {
    const slot = this.#table.slotOfId(deviceId);
    if (slot === undefined || !this.#presence.owns(slot)) return;
    this.#presence.lostOwnership(slot);
    this.stats.bindingsLost++;
  }

  /** Does this node's STUN socket hold the device's binding (only then may it send a UDP connection request)? */
  holdsBinding(deviceId: string): boolean {
    const slot = this.#table.slotOfId(deviceId);
    return slot !== undefined && this.#presence.owns(slot);
  }

  /**
   * Which of these devices are online: by this node's memory; in a cluster, those not online here by what the
   * other nodes last wrote of them (seen since `persistedSeenSince`), so a campaign driven by any node starts
   * devices wherever their keepalives go. A device that went offline elsewhere may count as online for a few
   * minutes more: its task then waits for its next Inform, as any offline device's does.
   */
  async onlineAmong(ids: readonly string[]): Promise<ReadonlySet<string>> {
    const online = new Set<string>();
    const ask: string[] = [];
    for (const id of ids) {
      const slot = this.#table.slotOfId(id);
      if (slot !== undefined && this.#presence.view(slot).online) online.add(id);
      else if (this.clustered) ask.push(id);
    }
    if (ask.length > 0) {
      for (const id of await this.#repo.seenElsewhere(ask, this.persistedSeenSince(this.#deps.clock.now()))) online.add(id);
    }
    return online;
  }

  presenceOf(deviceId: string): PresenceView | undefined {
    const slot = this.#table.slotOfId(deviceId);
    return slot === undefined ? undefined : this.#presence.view(slot);
  }

  /**
   * The presence of `ids` wherever their bindings are held: this node's memory, or in a cluster what the node
   * holding one last wrote (it writes every online device at least every few minutes: a device gone offline there
   * is shown online for up to that long, and its last-seen time may be as old). One read for all: for the API's
   * pages, not per packet.
   */
  async presenceAnywhere(ids: readonly string[]): Promise<Map<string, PresenceView | undefined>> {
    const views = new Map(ids.map((id) => [id, this.presenceOf(id)]));
    if (!this.clustered) return views;
    const ask = ids.filter((id) => !(views.get(id)?.online === true && this.holdsBinding(id)));
    if (ask.length === 0) return views;
    const since = this.persistedSeenSince(this.#deps.clock.now());
    for (const [id, { lastSeen, binding, bindingChangedAt }] of await this.#repo.heldElsewhere(ask)) {
      views.set(id, { online: lastSeen >= since, lastSeen, binding, natId: binding?.address ?? null, bindingChangedAt });
    }
    return views;
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
    // Its NAT lets in only what comes from the socket its keepalives reach: another node's.
    if (!this.#presence.owns(slot)) throw new SendError('not-held', `the binding of device ${JSON.stringify(deviceId)} is held by another node of the cluster`);
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
      let slots: number[] = [];
      let written = 0;
      try {
        slots = take();
        if (slots.length === 0) return;
        for (; written < slots.length; written += FLUSH_CHUNK) {
          if (written > 0) await new Promise((resolve) => setImmediate(resolve));
          await this.#writeChunk(slots.slice(written, written + FLUSH_CHUNK));
        }
        this.#flushHistogram.observe(Number(process.hrtime.bigint() - started) / 1e9);
      } catch (err) {
        // The store is away (a PostgreSQL restart, a locked file): keep what was not written for the next flush.
        this.#presence.requeue(slots.slice(written));
        this.#log.error({ err }, 'presence write failed; will retry with the next flush');
      }
    });
    return this.#writing;
  }

  async #writeChunk(slots: readonly number[]): Promise<void> {
    const batch: [string, ReturnType<Presence['record']>, boolean][] = [];
    const of: number[] = [];
    for (const slot of slots) {
      const id = this.#table.idOf(slot);
      if (id === null) continue;
      batch.push([id, this.#presence.record(slot), this.#presence.isClaiming(slot)]);
      of.push(slot);
    }
    if (batch.length === 0) return;
    const lost = await this.#repo.write(batch);
    for (let i = 0; i < batch.length; i++) if (batch[i]![2]) this.#presence.claimed(of[i]!);
    for (const i of lost) {
      this.#presence.lostOwnership(of[i]!);
      this.stats.bindingsLost++;
    }
    if (lost.length > 0) this.#log.info({ count: lost.length }, 'bindings now held by another node of the cluster: their presence is no longer written here');
  }

  #restore(slot: number, record: LoadedDevice['presence'], node: string | null, now: number): void {
    if (!record) return;
    const me = this.#opts.nodeId;
    this.#presence.restore(slot, record, now, me !== undefined && node !== me);
  }

  /** A device read from the store at its keepalive: held in memory from now on (it may have come in meanwhile). */
  #hold(username: string, loaded: LoadedDevice): void {
    if (this.#table.slotOfUsername(username) !== undefined || this.#table.slotOfId(loaded.device.id) !== undefined) return;
    this.#restore(this.#add(loaded.device, true), loaded.presence, loaded.node, this.#deps.clock.now());
  }

  /** A datagram that waited for its device to be read: handled as if it had just arrived, on its family's socket. */
  #replay({ datagram, from }: Waiting<From>): void {
    const socket = from.family === 'IPv4' ? this.#sockets.v4 : this.#sockets.v6;
    if (socket) this.#handle(socket, datagram, from.address, from.port, from.family);
  }

  #lookupFailed(err: unknown): void {
    const now = this.#deps.clock.now();
    if (now - this.#lookupErrorLoggedAt < LOG_INTERVAL_MS) return;
    this.#lookupErrorLoggedAt = now;
    this.#log.error({ err: (err as Error).message }, 'reading a device from the store for its keepalive failed: its keepalives are dropped unanswered until the store answers (logged once a minute)');
  }

  /**
   * Opens the STUN passwords loaded sealed, a few at a time between datagrams (a device's first keepalive opens its
   * own). Until it logs that they are open, authenticated keepalives share the core with it (seconds at a million).
   */
  #openSealed(started: { readonly at: number; readonly sealed: number }): void {
    this.#opening = this.#table.openSealed(OPEN_CHUNK) ? setImmediate(() => this.#openSealed(started)) : undefined;
    if (this.#opening === undefined) this.#log.info({ passwords: started.sealed, seconds: (this.#deps.clock.now() - started.at) / 1000 }, 'STUN passwords opened');
  }

  #add(device: KeepaliveCredentials | SealedKeepaliveCredentials, openNow = false): number {
    const slot = openNow && 'sealedStunPassword' in device ? this.#table.addOpened(device) : this.#table.add(device);
    this.#presence.ensureCapacity(this.#table.slotCount);
    this.#replays.ensureCapacity(this.#table.slotCount);
    // In a cluster a binding is this node's only once its STUN socket accepted a binding keepalive (a claim).
    if (this.#opts.nodeId !== undefined) this.#presence.lostOwnership(slot);
    return slot;
  }

  /** In a cluster, a binding this node does not hold may be held by another node, which sends its connection requests. */
  get clustered(): boolean {
    return this.#opts.nodeId !== undefined;
  }

  /** Offline detection, a slice at a time (a removed device's slot is never online: forget() cleared it). */
  #sweepOffline(): void {
    const [from, to] = offlineSlice(this.#offlineCursor, this.#table.slotCount);
    this.#presence.sweepOffline(from, to, this.#deps.clock.now());
    this.#offlineCursor = to;
    this.#offlineTimer = this.#host.setTimeout(() => this.#sweepOffline(), OFFLINE_TICK_MS);
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
    this.#handle(socket, msg, address, port, family);
  }

  #handle(socket: Socket, msg: Buffer, address: string, port: number, family: 'IPv4' | 'IPv6'): void {
    const result = this.#handler.handle(msg, { address, port, family }, this.#deps.clock.now());
    this.stats[result.outcome]++;
    // Dropped unanswered, the cheapest thing to do with a flood.
    if (result.outcome === 'throttled') {
      this.#throttled.inc();
      return;
    }
    if (result.response) socket.send(result.response, port, address);
    this.#noteRefusal(result, address, port);
  }

  /** Refused logins and sources reaching their limit: one log line per source and kind a minute, with a count. */
  #noteRefusal(result: HandleResult, address: string, port: number): void {
    const { source, reason } = result;
    if (result.failedLogin && source !== undefined && reason !== undefined) this.#lines.record(`${source} login`, { reason, ...(result.claimed === undefined ? {} : { device: this.#table.idOf(result.claimed) }) });
    // A deferred one is counted (stbd_keepalive_deferred_total) and answered when its device is read: no line each.
    else if (reason && result.outcome !== 'challenged' && result.outcome !== 'deferred') this.#log.debug({ from: `${address}:${port}`, outcome: result.outcome, reason }, 'keepalive refused');
    if (result.overLimit && source !== undefined) this.#lines.record(`${source} limit`, { limit: result.overLimit });
  }

  #logRefusals({ key, count, detail, since }: LogThrottleLine<Refusal>): void {
    const source = key.slice(0, key.lastIndexOf(' '));
    const period = count > 1 ? { count, since: new Date(since).toISOString() } : {};
    if ('limit' in detail) {
      const what = detail.limit === 'challenges' ? '401 answers ([stun] challenges_per_second)' : 'refused logins ([stun] auth_failures_per_minute)';
      this.#log.warn({ source, ...period }, `STUN source reached its limit of ${what}${count > 1 ? ` ${count} times` : ''}: its requests are dropped unanswered until its allowance refills`);
    } else {
      const fields = { source, ...period, ...(detail.device ? { device: detail.device } : {}) };
      this.#log.warn(fields, count > 1 ? `STUN keepalive refused ${count} times from this source since ${period.since}; the last: ${detail.reason}` : `STUN keepalive refused: ${detail.reason}`);
    }
  }
}
