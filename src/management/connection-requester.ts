import type { Clock } from '../clock.js';
import type { DeviceRecord } from '../devices/device.js';
import type { Endpoint, PresenceView } from '../keepalive/presence.js';
import type { Logger } from '../log/logger.js';
import type { Scheduler } from '../timer/scheduler.js';
import type { TimerHandle } from '../timer/wheel.js';
import type { CwmpDeviceState } from './cwmp-device-repo.js';
import { normalizeAddress } from './nat-detection.js';
import { type ConnectionRequestSequencer, encodeConnectionRequest } from './udp-connection-request.js';

/** Why a device's queued work is (still) waiting, as the CLI shows it. */
export interface ConnectionRequestStatus {
  readonly state: 'sending' | 'answered' | 'refused' | 'unanswered' | 'offline' | 'failed' | 'routed';
  readonly via: 'udp' | 'http' | null;
  readonly attempts: number;
  /** Unix ms when this state began. */
  readonly since: number;
  readonly message: string;
}

export interface ConnectionRequesterDeps {
  readonly keepalive: {
    presenceOf(deviceId: string): PresenceView | undefined;
    /** False in a cluster when another node's STUN socket holds the binding: that node sends the UDP request. */
    holdsBinding(deviceId: string): boolean;
    /** A node of a cluster: a binding not held here may be held by another node. */
    readonly clustered: boolean;
    sendToBinding(deviceId: string, bytes: Buffer): Promise<Endpoint>;
  };
  readonly device: (id: string) => Promise<DeviceRecord | undefined>;
  readonly cwmpState: (id: string) => Promise<CwmpDeviceState | undefined>;
  readonly httpRequest: (url: string, user: { username: string; password: string }, timeoutMs: number, allowBasic: boolean) => Promise<void>;
  readonly sequencer: ConnectionRequestSequencer;
  readonly scheduler: Scheduler;
  readonly clock: Clock;
  readonly log: Logger;
  /** sent: a request went out; failed: it could not be sent; answered: the device's session followed. */
  readonly onResult?: (via: 'udp' | 'http', result: 'sent' | 'failed' | 'answered') => void;
}

export interface ConnectionRequesterOptions {
  /** HTTP connection requests may answer a Basic challenge (the password goes in clear). */
  readonly allowBasic: boolean;
  /** First resend interval; doubles up to 8× this. */
  readonly retryMs: number;
  /** Give up after this long without the device's session. */
  readonly timeoutMs: number;
}

interface Attempt {
  readonly startedAt: number;
  readonly via: 'udp' | 'http';
  attempts: number;
  handle: TimerHandle | undefined;
  /** An HTTP request the device accepted needs no repeating: only the wait for its session goes on. */
  delivered: boolean;
}

const MAX_BACKOFF_FACTOR = 8;

/**
 * Seed 001 step 5: makes a device open a CWMP session. Behind NAT (or whenever it keeps a STUN binding) a
 * signed UDP Connection Request goes from the STUN socket to the binding, again and again with backoff,
 * until the device's session arrives (`answered`) or the timeout passes. A device reachable directly gets
 * an HTTP Connection Request. An offline device is left for its next periodic Inform.
 */
export class ConnectionRequester {
  readonly #d: ConnectionRequesterDeps;
  readonly #o: ConnectionRequesterOptions;
  readonly #running = new Map<string, Attempt>();
  /** Devices whose CWMP state is being read to decide how to ask them. */
  readonly #deciding = new Set<string>();
  /** The latest outcome per device, until its next session (bounded by devices with open tasks). */
  readonly #status = new Map<string, ConnectionRequestStatus>();

  constructor(deps: ConnectionRequesterDeps, opts: ConnectionRequesterOptions) {
    this.#d = deps;
    this.#o = opts;
  }

  status(deviceId: string): ConnectionRequestStatus | undefined {
    return this.#status.get(deviceId);
  }

  /**
   * Asks the device to call in, unless a request is already under way. Resolves once it is decided how (or
   * that the device is offline); never rejects (a failure is logged).
   */
  async request(deviceId: string): Promise<void> {
    if (this.#running.has(deviceId) || this.#deciding.has(deviceId)) return;
    // Online at a binding this node holds: UDP, whatever its CWMP state says (not read then: one command, one read less).
    const via = this.#byUdp(deviceId) ? 'udp' : await this.#decide(deviceId);
    if (via === undefined || this.#running.has(deviceId)) return;
    const attempt: Attempt = { startedAt: this.#d.clock.now(), via, attempts: 0, handle: undefined, delivered: false };
    this.#running.set(deviceId, attempt);
    this.#send(deviceId, attempt);
  }

  #byUdp(deviceId: string): boolean {
    const presence = this.#d.keepalive.presenceOf(deviceId);
    return Boolean(presence?.online && presence.binding) && this.#d.keepalive.holdsBinding(deviceId);
  }

  /** How to ask a device UDP may not reach, from its CWMP state; undefined: not now (its status says why). */
  async #decide(deviceId: string): Promise<Attempt['via'] | undefined> {
    this.#deciding.add(deviceId);
    let state: CwmpDeviceState | undefined;
    try {
      state = await this.#d.cwmpState(deviceId);
    } catch (err) {
      this.#d.log.error({ err, device: deviceId }, 'connection request: reading the CWMP state failed');
      return undefined;
    } finally {
      this.#deciding.delete(deviceId);
    }
    if (this.#running.has(deviceId)) return undefined;
    const now = this.#d.clock.now();
    const presence = this.#d.keepalive.presenceOf(deviceId);
    const held = this.#d.keepalive.holdsBinding(deviceId);
    if (this.#byUdp(deviceId)) return 'udp';
    if (state?.connectionRequestUrl && !state.behindNat) return 'http';
    if (!held && this.#d.keepalive.clustered) {
      // Queuing the task notified the holder (in the task's own transaction): it sends the request from its socket.
      this.#set(deviceId, { state: 'routed', via: 'udp', attempts: 0, since: now, message: 'device offline on this node (its NAT binding is not held here): the node of the cluster holding it, if any, sends the connection request from its STUN socket; else its tasks wait for its next periodic Inform' });
      return undefined;
    }
    const why = presence?.binding ? 'it has sent no keepalive lately' : state?.behindNat ? 'it is behind NAT and has no STUN binding yet' : 'it has no known connection-request address';
    this.#set(deviceId, { state: 'offline', via: null, attempts: 0, since: now, message: `device offline (${why}): its tasks wait for its next periodic Inform` });
    return undefined;
  }

  /** The device opened a session: stop asking. */
  answered(deviceId: string): void {
    const attempt = this.#running.get(deviceId);
    this.#stopAttempt(deviceId);
    if (attempt) {
      this.#d.onResult?.(attempt.via, 'answered');
      this.#set(deviceId, { state: 'answered', via: attempt.via, attempts: attempt.attempts, since: this.#d.clock.now(), message: `the device answered after ${attempt.attempts} connection request(s)` });
    } else this.#status.delete(deviceId);
  }

  /**
   * The device called in but its CWMP login was refused: asking again cannot help until its credentials
   * are right, so stop, and say so (not "did not answer").
   */
  refused(deviceId: string, reason: string): void {
    const attempt = this.#running.get(deviceId);
    if (!attempt && !this.#status.has(deviceId)) return;
    this.#stopAttempt(deviceId);
    const s = this.#status.get(deviceId);
    this.#set(deviceId, { state: 'refused', via: attempt?.via ?? s?.via ?? null, attempts: attempt?.attempts ?? s?.attempts ?? 0, since: this.#d.clock.now(), message: `the device called in but its CWMP login was refused: ${reason}` });
  }

  /** The device has no open work any more: forget its status. */
  forget(deviceId: string): void {
    this.#stopAttempt(deviceId);
    this.#status.delete(deviceId);
  }

  stop(): void {
    for (const id of [...this.#running.keys()]) this.#stopAttempt(id);
  }

  #stopAttempt(deviceId: string): void {
    const attempt = this.#running.get(deviceId);
    if (attempt?.handle !== undefined) this.#d.scheduler.cancel(attempt.handle);
    this.#running.delete(deviceId);
  }

  #send(deviceId: string, attempt: Attempt): void {
    const { clock, log } = this.#d;
    attempt.handle = undefined;
    if (this.#running.get(deviceId) !== attempt) return;
    const now = clock.now();
    if (now - attempt.startedAt >= this.#o.timeoutMs) {
      this.#running.delete(deviceId);
      const message = `the device did not answer ${attempt.attempts} ${attempt.via.toUpperCase()} connection request(s) in ${Math.round(this.#o.timeoutMs / 1000)} s; its tasks stay queued until it calls in`;
      this.#set(deviceId, { state: 'unanswered', via: attempt.via, attempts: attempt.attempts, since: now, message });
      log.warn({ device: deviceId, via: attempt.via, attempts: attempt.attempts }, 'connection requests unanswered');
      return;
    }
    if (attempt.delivered) {
      attempt.handle = this.#d.scheduler.at(attempt.startedAt + this.#o.timeoutMs, () => this.#send(deviceId, attempt));
      return;
    }
    attempt.attempts++;
    const sent = attempt.via === 'udp' ? this.#udp(deviceId) : this.#http(deviceId);
    sent.then(
      () => {
        this.#d.onResult?.(attempt.via, 'sent');
        if (attempt.via === 'http') attempt.delivered = true;
        if (this.#running.get(deviceId) === attempt) {
          this.#set(deviceId, { state: 'sending', via: attempt.via, attempts: attempt.attempts, since: attempt.startedAt, message: `${attempt.attempts} ${attempt.via.toUpperCase()} connection request(s) sent; waiting for the device's session` });
        }
      },
      (err: Error) => {
        this.#d.onResult?.(attempt.via, 'failed');
        log.warn({ device: deviceId, via: attempt.via, err: err.message }, 'connection request failed');
        if (this.#running.get(deviceId) === attempt) {
          this.#set(deviceId, { state: 'failed', via: attempt.via, attempts: attempt.attempts, since: now, message: `connection request failed: ${err.message}` });
        }
      },
    );
    // UDP is lossy and the CPE never answers the datagram: only its session tells us it arrived.
    const backoff = this.#o.retryMs * Math.min(MAX_BACKOFF_FACTOR, 2 ** (attempt.attempts - 1));
    const due = Math.min(now + backoff, attempt.startedAt + this.#o.timeoutMs);
    attempt.handle = this.#d.scheduler.at(due, () => this.#send(deviceId, attempt));
  }

  async #udp(deviceId: string): Promise<void> {
    const device = await this.#d.device(deviceId);
    if (!device) throw new Error('device removed');
    const presence = this.#d.keepalive.presenceOf(deviceId);
    const binding = presence?.binding;
    if (!binding) throw new Error('no STUN binding');
    const c = device.credentials;
    const req = this.#d.sequencer.next(deviceId, c.crUsername);
    await this.#d.keepalive.sendToBinding(deviceId, encodeConnectionRequest(req, c.crPassword, binding.address, binding.port));
  }

  async #http(deviceId: string): Promise<void> {
    const [device, state] = await Promise.all([this.#d.device(deviceId), this.#d.cwmpState(deviceId)]);
    const url = state?.connectionRequestUrl;
    if (!device || !state || !url) throw new Error('no connection-request URL');
    // A CPE chooses its URL: requests go only where its sessions come from, so no CPE can make stbd send
    // requests into the operator's own network. (NAT detection already sends any other host to UDP; this
    // holds even if that changes.)
    const host = normalizeAddress(new URL(url).hostname);
    if (host !== normalizeAddress(state.sourceAddress)) throw new Error(`its ConnectionRequestURL host ${host} is not the address its sessions come from (${state.sourceAddress})`);
    const c = device.credentials;
    await this.#d.httpRequest(url, { username: c.crUsername, password: c.crPassword }, Math.min(this.#o.timeoutMs, 10_000), this.#o.allowBasic);
  }

  #set(deviceId: string, s: ConnectionRequestStatus): void {
    this.#status.set(deviceId, s);
  }
}
