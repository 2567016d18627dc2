import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { CredentialRotation, DeviceRecord } from '../devices/device.js';
import type { DeviceRegistry } from '../devices/registry.js';
import type { Logger } from '../log/logger.js';
import { isStoreUnavailable } from '../store/store-unavailable.js';
import type { Scheduler } from '../timer/scheduler.js';
import type { TimerHandle } from '../timer/wheel.js';
import type { ConnectionRequester } from './connection-requester.js';
import { type CpeLogins, cwmpDeviceId, type Login, type RefusalKind } from './cpe-logins.js';
import type { CwmpDeviceRepo, CwmpDeviceState, DeviceIdentity } from './cwmp-device-repo.js';
import { type CpeBody, type CpeMessage, type CwmpSoap, type CwmpVersion, type Inform, SoapError } from './cwmp-soap.js';
import { type CpeHttpAuth, parseAuthorization } from './http-auth.js';
import type { LoginThrottle } from './login-throttle.js';
import { dataModelOf, detectNat } from './nat-detection.js';
import type { Provisioning } from './provisioning.js';
import { outcomeOf, refreshPath, rpcEnvelope, taskOfCommandKey } from './rpc.js';
import { readsSubtree, SubtreeRead, type SubtreeStep } from './subtree-read.js';
import type { DataModelRoot, Task } from './task.js';
import type { TaskQueue } from './task-queue.js';
import type { UploadService } from './upload-service.js';
import type { SessionLeaseRepo } from './session-lease-repo.js';

/** One HTTP request of a CPE, as the transport hands it over. */
export interface CpeRequest {
  /** The value of our session cookie, if sent. */
  readonly cookie: string | undefined;
  /** The TCP connection (session affinity for CPEs that ignore cookies). */
  readonly connection: object;
  readonly authorization: string | undefined;
  readonly method: string;
  /** The request target as in the request line (Digest checks it). */
  readonly uri: string;
  readonly body: string;
  readonly sourceAddress: string;
  /** The subject CN of a client certificate verified against `[cwmp] client_ca_file` (HTTPS only). */
  readonly clientCertificate: string | undefined;
  /** The host name the CPE used to reach us (the default STUN server address we advertise). */
  readonly host: string;
  /** Scheme, host and port the CPE used to reach us (upload URLs point there). */
  readonly origin: string;
}

export type CpeReply =
  | { readonly status: 200; readonly body: string; readonly cookie?: string }
  | { readonly status: 204 }
  | { readonly status: 401; readonly challenge: string }
  | { readonly status: 400; readonly message: string }
  /** The source is over a limit (LoginThrottle): come back later. */
  | { readonly status: 503; readonly retryAfterSec: number };

interface Session {
  readonly token: string;
  readonly device: DeviceRecord;
  readonly version: CwmpVersion;
  readonly dataModel: DataModelRoot;
  readonly connection: object;
  /** The address its Inform came from: a cookieless session is followed by its connection only from there. */
  readonly source: string;
  /** Scheme, host and port of its Inform's request. */
  readonly origin: string;
  current: Task | undefined;
  /** Work was queued for the device during the session, after which the session may have looked for the last time. */
  queuedMeanwhile?: boolean;
  /** No task was open as the Inform was recorded, and the queue has not been read since: nothing to send unless queued meanwhile. */
  queueEmpty: boolean;
  /** The current task read name by name, for CPEs that cannot read a partial path at once. */
  read: SubtreeRead | undefined;
  /** The RPC of `read` in flight, and how many were sent (their cwmp:ID). */
  step: SubtreeStep | undefined;
  steps: number;
  timeout: TimerHandle | undefined;
  /** Until when its cluster-wide session lease runs (renewed past half of it). */
  leaseUntil: number;
}

export interface CwmpSessionsDeps {
  readonly soap: CwmpSoap;
  readonly auth: CpeHttpAuth;
  readonly logins: CpeLogins;
  readonly throttle: LoginThrottle;
  readonly registry: DeviceRegistry;
  readonly tasks: TaskQueue;
  readonly uploads: UploadService;
  readonly state: CwmpDeviceRepo;
  readonly provisioning: Provisioning;
  /** One session per device in the cluster (on one node: always granted). */
  readonly leases: SessionLeaseRepo;
  readonly requester: ConnectionRequester;
  readonly scheduler: Scheduler;
  readonly clock: Clock;
  readonly log: Logger;
  /** Told of every Inform once it is recorded and provisioning saw it, before the InformResponse (profiles, campaigns); a failure is logged, the session goes on. */
  readonly informed?: (deviceId: string, inform: Inform, state: CwmpDeviceState) => void | Promise<void>;
  readonly metrics?: {
    session(result: 'completed' | 'lost' | 'refused'): void;
    bootstrap(result: 'accepted' | 'refused'): void;
    /** A body was parsed (only after its credentials were checked, or to explain a refusal, rate-limited). */
    parsed(): void;
    /** A login refused, by why. */
    refused(kind: Exclude<RefusalKind, 'stale'>): void;
  };
}

export interface CwmpSessionsOptions {
  readonly sessionTimeoutMs: number;
  readonly autoRegister: boolean;
  /** A device that already got its own credentials may log in with a factory pair again (after a reset). */
  readonly bootstrapReuse: boolean;
  /** GetParameterValues batch size when a subtree is read name by name. */
  readonly subtreeBatchSize: number;
}

/** Refused logins whose body is read to say why (a DeviceId mismatch): once a minute per device, at most. */
const DIAGNOSE_EVERY_MS = 60_000;
const DIAGNOSE_MEMORY = 10_000;

/** A CWMP session refused after its Inform was read: the 401 and the reason. */
/** The device an Inform is from, with the credentials being pushed to it; `sameIdentity`: its DeviceId must be the one known. */
interface InformDevice {
  readonly device: DeviceRecord;
  readonly rotation: CredentialRotation | undefined;
  readonly sameIdentity: boolean;
}

class Refusal {
  constructor(
    readonly kind: Exclude<RefusalKind, 'stale'>,
    readonly reason: string,
    readonly device?: DeviceRecord,
    /** The device itself called in (a stale password), not another CPE presenting its username. */
    readonly calledIn = false,
  ) {}
}

/**
 * CWMP sessions (TR-069 §3.7): Inform → InformResponse, the CPE's own requests, then our queued RPCs one
 * per POST until 204. One session per device: a new Inform replaces a session still open (the CPE gave it
 * up). An RPC whose session is lost before the answer goes back to the head of the device's queue.
 */
export class CwmpSessions {
  readonly #d: CwmpSessionsDeps;
  readonly #o: CwmpSessionsOptions;
  readonly #byToken = new Map<string, Session>();
  readonly #byDevice = new Map<string, Session>();
  readonly #byConnection = new WeakMap<object, Session>();
  readonly #diagnosed = new Map<string, number>();
  /** Per connection, the request being handled: the next one waits for it (see handle). */
  readonly #handling = new WeakMap<object, Promise<unknown>>();
  #stopping = false;

  constructor(deps: CwmpSessionsDeps, opts: CwmpSessionsOptions) {
    this.#d = deps;
    this.#o = opts;
  }

  get activeCount(): number {
    return this.#byToken.size;
  }

  inSession(deviceId: string): boolean {
    return this.#byDevice.has(deviceId);
  }

  /**
   * A task was queued for the device: true when its open session will see to it. The session may already have
   * looked for its last task (and be ending with 204): it asks for a connection request at its end if work is left.
   */
  takesQueued(deviceId: string): boolean {
    const session = this.#byDevice.get(deviceId);
    if (session) session.queuedMeanwhile = true;
    return session !== undefined;
  }

  /**
   * Answers one request. The requests of one connection are handled one after the other, in the order they
   * came: a pipelining CPE (or a proxy's pooled connection) may send the next before the last is answered,
   * and a session's requests must see each other's effects.
   */
  handle(req: CpeRequest): Promise<CpeReply> {
    const before = this.#handling.get(req.connection);
    const reply = before ? before.then(() => this.#handle(req)) : this.#handle(req);
    const settled = reply.then(
      () => undefined,
      () => undefined,
    );
    this.#handling.set(req.connection, settled);
    void settled.then(() => {
      if (this.#handling.get(req.connection) === settled) this.#handling.delete(req.connection);
    });
    return reply;
  }

  async #handle(req: CpeRequest): Promise<CpeReply> {
    const session = this.#sessionOf(req.cookie, req.connection, req.sourceAddress);
    // A session can only begin with an authenticated Inform: challenge first, read after. Most CPEs send
    // their first Inform without credentials; libcurl's Digest-only clients probe with an empty POST.
    // A certificate is a login only for an Inform: an empty probe gets the challenge it expects.
    if (!session && !req.authorization && (req.clientCertificate === undefined || !/\S/.test(req.body))) return this.#challenge(req);
    const hasBody = /\S/.test(req.body);
    if (session && !hasBody) return this.#continue(session, undefined);
    if (!session) return this.#begin(req, hasBody);
    const message = await this.#parse(req, session);
    if ('status' in message) return message;
    if (message.body.kind === 'Inform') return this.#begin(req, true, message as CpeMessage & { body: Inform }, session);
    return this.#continue(session, message);
  }

  /**
   * The session a request belongs to: by its cookie, else by its connection. A proxy may carry several clients'
   * requests on one connection (their addresses in X-Forwarded-For): a cookieless session is followed by its
   * connection only for requests from the address it began from.
   */
  #sessionOf(cookie: string | undefined, connection: object, source: string): Session | undefined {
    const byCookie = cookie !== undefined ? this.#byToken.get(cookie) : undefined;
    if (byCookie) return byCookie;
    const followed = this.#byConnection.get(connection);
    return followed?.source === source ? followed : undefined;
  }

  /** Ends the session a refused request belonged to (an oversize body, an error answer), by the rule requests follow. */
  abandon(cookie: string | undefined, connection: object, source: string): void {
    const session = this.#sessionOf(cookie, connection, source);
    if (session) this.#endLater(session, 'lost');
  }

  /** Ends every session (shutdown): RPCs in flight go back to their queues. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all([...this.#byToken.values()].map((s) => this.#end(s, 'lost', false)));
  }

  /** A 401 to a request without usable credentials, unless its source has had too many. */
  #challenge(req: CpeRequest, stale = false): CpeReply {
    const wait = this.#d.throttle.challenge(req.sourceAddress);
    return wait === undefined ? this.#unauthorized(stale) : { status: 503, retryAfterSec: wait };
  }

  /** `stale`: the credentials were right but their nonce is to be renewed (RFC 7616 §3.3). */
  #unauthorized(stale = false): CpeReply {
    return { status: 401, challenge: this.#d.auth.challenge(stale) };
  }

  async #parse(req: CpeRequest, session: Session | undefined): Promise<CpeMessage | CpeReply> {
    try {
      this.#d.metrics?.parsed();
      return this.#d.soap.parse(req.body);
    } catch (err) {
      if (!(err instanceof SoapError)) throw err;
      this.#d.log.warn({ device: session?.device.id, source: req.sourceAddress, err: err.message }, 'malformed CWMP body; session ended');
      if (session) await this.#end(session, 'lost');
      return { status: 400, message: err.message };
    }
  }

  /** An Inform: authenticate from the headers, then read it and open the session. */
  async #begin(req: CpeRequest, hasBody: boolean, parsed?: CpeMessage & { body: Inform }, previous?: Session): Promise<CpeReply> {
    const { log } = this.#d;
    // A verified client certificate of a registered device is its login; the Authorization header is not read.
    const certified = req.clientCertificate === undefined ? undefined : await this.#d.logins.certified(req.clientCertificate);
    const credentials = certified ? undefined : parseAuthorization(req.authorization);
    if (!certified && !credentials) return this.#challenge(req);
    const wait = this.#d.throttle.mayTry(req.sourceAddress);
    if (wait !== undefined) return { status: 503, retryAfterSec: wait };
    const username = credentials?.username ?? `client certificate CN=${req.clientCertificate}`;
    const outcome = certified ?? (await this.#d.logins.authenticate(credentials!, req.method, req.uri));
    if (!outcome.ok) {
      if (outcome.kind === 'stale') {
        log.debug({ device: outcome.device?.id, source: req.sourceAddress }, 'stale Digest nonce: a new one is sent');
        return this.#unauthorized(true);
      }
      if (outcome.kind === 'replay') {
        // Right for the password, but its (nonce, nc) was used: the CPE's stack resending a request, or captured bytes.
        // Either way a new nonce with stale=true: a CPE retries at once, a replayer cannot answer it. Not a failed
        // login: that would let anyone who replays a CPE's header from its (shared) address lock that address out.
        this.#d.metrics?.session('refused');
        this.#d.metrics?.refused('replay');
        log.debug({ device: outcome.device?.id, source: req.sourceAddress }, 'Digest nonce count used before: a new nonce is sent');
        return this.#challenge(req, true);
      }
      const mismatch = outcome.kind === 'credentials' && outcome.device && hasBody ? await this.#diagnose(outcome.device, req.body) : undefined;
      const refusal = mismatch === undefined ? new Refusal(outcome.kind, outcome.reason, outcome.device, outcome.kind === 'credentials') : new Refusal('deviceid_mismatch', mismatch, outcome.device);
      return this.#refuse(refusal, req, username);
    }
    if (!hasBody) {
      log.warn({ source: req.sourceAddress }, 'CWMP request outside a session');
      return { status: 400, message: 'no session: a CWMP session begins with an Inform' };
    }
    const message = parsed ?? (await this.#parse(req, previous));
    if ('status' in message) return message;
    if (message.body.kind !== 'Inform') {
      log.warn({ source: req.sourceAddress, method: message.body.kind }, 'CWMP request outside a session');
      return { status: 400, message: 'no session: a CWMP session begins with an Inform' };
    }
    const inform = message.body;
    const found = await this.#deviceOf(outcome.login, inform, req.sourceAddress);
    if (found instanceof Refusal) return this.#refuse(found, req, username);
    const opened = await this.#open(req, message as CpeMessage & { body: Inform }, found, outcome.login.kind === 'device' && outcome.login.rotated, previous);
    return opened instanceof Refusal ? this.#refuse(opened, req, username) : opened;
  }

  #refuse(r: Refusal, req: CpeRequest, username: string): CpeReply {
    this.#d.throttle.refused(req.sourceAddress, { kind: r.kind, reason: r.reason, username, ...(r.device ? { device: r.device.id } : {}) });
    this.#d.metrics?.session('refused');
    this.#d.metrics?.refused(r.kind);
    if (r.device && r.calledIn) this.#d.requester.refused(r.device.id, r.reason);
    return this.#unauthorized();
  }

  /**
   * Which device an authenticated Inform is, registered on first use. A device's own login is checked against
   * the DeviceId it reported before when the Inform is recorded (`sameIdentity`: one step in the store).
   */
  async #deviceOf(login: Login, inform: Inform, source: string): Promise<InformDevice | Refusal> {
    const { registry, log } = this.#d;
    const id = cwmpDeviceId(inform.deviceId);
    if (login.kind === 'device') return { device: login.device, rotation: login.rotation, sameIdentity: true };
    if (login.kind === 'bootstrap') {
      let device = await registry.get(id);
      if (!device && !this.#o.autoRegister) {
        this.#d.metrics?.bootstrap('refused');
        return new Refusal('bootstrap', `bootstrap login from DeviceId ${id}, which is not registered (register it, or set [cwmp] auto_register = true)`);
      }
      if (device && device.credentialsPushedAt !== null && !this.#o.bootstrapReuse) {
        this.#d.metrics?.bootstrap('refused');
        return new Refusal('bootstrap', `device ${id} already has its own credentials and came back with the factory pair; [cwmp] bootstrap_reuse = false refuses that`, device);
      }
      device ??= await this.#register(id, {}, source);
      if (!device) return new Refusal('registration', `bootstrap login from DeviceId ${JSON.stringify(id)}, which cannot be registered`);
      const rotation = await registry.startRotation(device, { kind: 'none' }, true);
      log.info({ device: device.id, username: login.username, source }, 'bootstrap login with a factory credential: the device gets its own');
      this.#d.metrics?.bootstrap('accepted');
      return { device, rotation, sameIdentity: false };
    }
    if (await registry.exists(id)) return new Refusal('registration', `auto-registration of ${id} refused: the id is already registered under another CWMP username`);
    const device = await this.#register(id, { cwmpUsername: login.username }, source);
    if (!device) return new Refusal('registration', 'auto-registration refused');
    const rotation = await registry.startRotation(device, login.interim, false);
    return { device, rotation, sameIdentity: false };
  }

  /** The Inform's DeviceId against `known`, the one the device has reported before: why they differ, if they do. */
  #mismatch(device: DeviceRecord, known: DeviceIdentity | undefined, inform: Inform): string | undefined {
    const d = inform.deviceId;
    if (!known || (known.oui === d.oui && known.productClass === d.productClass && known.serialNumber === d.serialNumber)) return undefined;
    const claimed = cwmpDeviceId(d);
    const own = cwmpDeviceId(known);
    return `CWMP username ${JSON.stringify(device.credentials.cwmpUsername)} belongs to device ${device.id} (DeviceId ${own}), but a CPE with DeviceId ${claimed} presented it; CPEs that share factory credentials need them listed in [cwmp] bootstrap_credentials_file`;
  }

  /** Why a known device's login failed, when its body says more than "wrong credentials" (rate-limited parse). */
  async #diagnose(device: DeviceRecord, body: string): Promise<string | undefined> {
    const now = this.#d.clock.now();
    if (now - (this.#diagnosed.get(device.id) ?? -Infinity) < DIAGNOSE_EVERY_MS) return undefined;
    if (this.#diagnosed.size >= DIAGNOSE_MEMORY) this.#diagnosed.clear();
    this.#diagnosed.set(device.id, now);
    let m: CpeMessage;
    try {
      this.#d.metrics?.parsed();
      m = this.#d.soap.parse(body);
    } catch {
      return undefined;
    }
    return m.body.kind === 'Inform' ? this.#mismatch(device, await this.#d.state.identity(device.id), m.body) : undefined;
  }

  async #register(id: string, credentials: { cwmpUsername?: string }, source: string): Promise<DeviceRecord | undefined> {
    const input = { id, ...credentials };
    const problem = this.#d.registry.validator.problem(input);
    if (problem) {
      this.#d.log.warn({ id, source, problem }, 'auto-registration refused');
      return undefined;
    }
    const device = await this.#d.registry.create(input);
    this.#d.log.info({ device: id, source }, 'device auto-registered');
    return device;
  }

  async #open(req: CpeRequest, message: CpeMessage & { body: Inform }, found: InformDevice, rotated: boolean, previous: Session | undefined): Promise<CpeReply | Refusal> {
    const { log } = this.#d;
    const inform = message.body;
    const { device } = found;
    const now = this.#d.clock.now();
    const dataModel = dataModelOf(inform.parameters);
    const nat = detectNat(inform.parameters, dataModel, req.sourceAddress);
    const token = randomUUID();
    // Twice the session timeout, renewed with less than one left: the lease outlives the session's own timer.
    const leaseUntil = now + 2 * this.#o.sessionTimeoutMs;
    const recorded = await this.#d.state.recordInform(
      {
        deviceId: device.id,
        ...inform.deviceId,
        dataModel,
        cwmpVersion: message.version,
        lastInformAt: now,
        lastEvents: inform.events.map((e) => e.code),
        sourceAddress: nat.natId ?? req.sourceAddress,
        ...nat,
      },
      inform.parameters,
      { ...(found.sameIdentity ? { sameIdentity: true as const } : {}), claim: { session: token, now, until: leaseUntil } },
    );
    if ('otherIdentity' in recorded) return new Refusal('deviceid_mismatch', this.#mismatch(device, recorded.otherIdentity, inform)!, device);
    const state = recorded.recorded;
    try {
      if (previous) await this.#end(previous, 'lost', false);
      // Looked up after the Inform is recorded: a session the device opened meanwhile (on another connection) is replaced too.
      // Its lease was this node's, so the claim above took it over; giving it up (by its own token) leaves the new one.
      const old = this.#byDevice.get(device.id);
      if (old) {
        log.info({ device: device.id }, 'new Inform replaces an open session');
        await this.#end(old, 'lost', false);
      }
    } catch (err) {
      // The claim is of a session that will not be: left, every other node would refuse the device until it ran out.
      if (recorded.leased) await this.#d.leases.release(device.id, token).catch(() => undefined);
      throw err;
    }
    if (!recorded.leased) {
      // Its RPC in flight there is that session's until its lease runs out: then a session here sends it again.
      log.info({ device: device.id }, 'CWMP session refused: the device is in a session on another node of the cluster');
      return { status: 503, retryAfterSec: Math.max(1, Math.ceil(this.#o.sessionTimeoutMs / 1000)) };
    }
    const session: Session = { token, device, version: message.version, dataModel, connection: req.connection, source: req.sourceAddress, origin: req.origin, current: undefined, queueEmpty: !recorded.openTasks, read: undefined, step: undefined, steps: 0, timeout: undefined, leaseUntil };
    this.#byToken.set(session.token, session);
    this.#byDevice.set(device.id, session);
    this.#byConnection.set(req.connection, session);
    this.#touch(session);
    this.#d.requester.answered(device.id);
    log.debug({ device: device.id, events: state.lastEvents, behindNat: state.behindNat, natId: state.natId }, 'Inform');
    await this.#d.provisioning.onInform(device, state, req.host, rotated, found.rotation);
    if (this.#d.informed) {
      try {
        await this.#d.informed(device.id, inform, state);
      } catch (err) {
        log.error({ err, device: device.id }, 'an Inform listener failed');
      }
    }
    return { status: 200, body: this.#d.soap.informResponse(message.version, message.id), cookie: session.token };
  }

  /** A POST inside a session: a CPE request, an answer to our RPC, or the empty POST asking for more. */
  async #continue(session: Session, message: CpeMessage | undefined): Promise<CpeReply> {
    this.#touch(session);
    const { soap } = this.#d;
    if (!message) return this.#next(session);
    const { body, id } = message;
    switch (body.kind) {
      case 'TransferComplete':
        await this.#transferComplete(session, body);
        return { status: 200, body: soap.transferCompleteResponse(session.version, id) };
      case 'GetRPCMethods':
        return { status: 200, body: soap.getRPCMethodsResponse(session.version, id) };
      case 'Notification':
        await this.#d.state.recordCpeEvent(session.device.id, this.#d.clock.now(), body.method, body.detail);
        this.#d.log.info({ device: session.device.id, method: body.method }, 'CPE request recorded');
        return { status: 200, body: soap.acknowledge(session.version, id, body.method) };
      case 'Unsupported':
        // TR-069 A.5.1: an ACS answers what it does not implement with fault 8000, and the session goes on.
        this.#d.log.info({ device: session.device.id, method: body.method }, 'CPE request not supported: answered with fault 8000');
        return { status: 200, body: soap.fault(session.version, id, 8000, 'Method not supported') };
      default:
        return (await this.#answer(session, body)) ?? this.#next(session);
    }
  }

  async #transferComplete(session: Session, body: Extract<CpeBody, { kind: 'TransferComplete' }>): Promise<void> {
    const id = taskOfCommandKey(body.commandKey);
    const task = id === undefined ? undefined : await this.#d.tasks.get(id);
    if (task?.deviceId === session.device.id && task.request.kind === 'upload' && (await this.#d.uploads.transferComplete(task, body.faultCode, body.faultString))) return;
    if (!task || task.deviceId !== session.device.id || task.request.kind !== 'download') {
      await this.#d.state.recordCpeEvent(session.device.id, this.#d.clock.now(), 'TransferComplete', { commandKey: body.commandKey, fault: { code: body.faultCode, message: body.faultString } });
      this.#d.log.info({ device: session.device.id, commandKey: body.commandKey }, 'TransferComplete for no task of ours');
      return;
    }
    const transfer = { faultCode: body.faultCode, faultString: body.faultString };
    const result = { ...(task.result as object | null), transfer };
    await this.#d.tasks.amend(task.id, result, body.faultCode === 0 ? null : { code: body.faultCode, message: body.faultString || 'transfer failed' });
  }

  /** The CPE's answer to the RPC in flight; a reply when the task needs another RPC in this session. */
  async #answer(session: Session, body: CpeBody): Promise<CpeReply | undefined> {
    const task = session.current;
    if (task && this.#d.leases.shared && this.#d.clock.now() >= session.leaseUntil) {
      // Past its lease another node's session may have sent the RPC again: this answer is not the one that counts.
      this.#d.log.warn({ device: session.device.id, task: task.id }, 'CPE answer after the CWMP session lease ran out: ignored; the RPC goes out again');
      session.current = undefined;
      this.#endLater(session, 'lost');
      return undefined;
    }
    if (!task) {
      this.#d.log.warn({ device: session.device.id, kind: body.kind }, 'CPE answer to no RPC of ours');
      return undefined;
    }
    if (session.read) return this.#readStep(session, task, body);
    const partial = this.#partialRead(task, session.dataModel);
    if (partial && body.kind === 'Fault') {
      // Many CPEs fault a partial path they cannot walk: read the subtree name by name instead.
      this.#d.log.info({ device: session.device.id, task: task.id, fault: body.code }, 'partial-path read refused; reading the subtree name by name');
      session.read = new SubtreeRead(partial, this.#o.subtreeBatchSize);
      return this.#sendStep(session, task);
    }
    session.current = undefined;
    const outcome = outcomeOf(this.#d.soap, task, body);
    if (!outcome.ok) {
      await this.#d.tasks.fail(task, outcome.fault);
      return undefined;
    }
    if (task.request.kind === 'upload') {
      await this.#d.uploads.answered(task, outcome.result as { status: number });
      return undefined;
    }
    await this.#done(session, task, outcome.values, outcome.result);
    return undefined;
  }

  /** The names a task reads when it reads a subtree (refresh, or a GetParameterValues of a partial path). */
  #partialRead(task: Task, root: DataModelRoot): readonly string[] | undefined {
    const r = task.request;
    if (r.kind === 'refresh') return [refreshPath(r, root)];
    // '' is the whole tree: the data model's root.
    if (r.kind === 'getParameterValues' && readsSubtree(r.names)) return r.names.map((n) => n || root);
    return undefined;
  }

  async #readStep(session: Session, task: Task, body: CpeBody): Promise<CpeReply | undefined> {
    const read = session.read!;
    if (body.kind === 'Fault' || body.kind !== 'Response') {
      this.#finishRead(session);
      const outcome = outcomeOf(this.#d.soap, task, body);
      await this.#d.tasks.fail(task, outcome.ok ? { code: 0, message: `the CPE answered ${body.kind}` } : outcome.fault);
      return undefined;
    }
    if (session.step?.kind === 'names') {
      read.names(this.#d.soap.parameterNames(body.body).map((p) => p.name));
    } else {
      read.values(this.#d.soap.parameterValues(body.body));
    }
    return this.#sendStep(session, task);
  }

  /** The next RPC of a name-by-name read, or the task's completion once every value is in. */
  async #sendStep(session: Session, task: Task): Promise<CpeReply | undefined> {
    const read = session.read!;
    const step = read.step();
    session.step = step;
    if (step) {
      const id = `${task.id}.${++session.steps}`;
      const body =
        step.kind === 'names'
          ? this.#d.soap.getParameterNames(session.version, id, step.path, false)
          : this.#d.soap.getParameterValues(session.version, id, step.names);
      return { status: 200, body };
    }
    const values = [...read.result];
    this.#finishRead(session);
    if (!(await this.#d.state.get(session.device.id))?.partialPathUnsupported) {
      await this.#d.state.setPartialPathUnsupported(session.device.id, true);
      this.#d.log.info({ device: session.device.id }, 'the CPE cannot read partial paths: subtrees are read name by name from now on');
    }
    await this.#done(session, task, values, { parameters: values });
    return undefined;
  }

  #finishRead(session: Session): void {
    session.current = undefined;
    session.read = undefined;
    session.step = undefined;
  }

  /** The task's answer: values it read or set become the last known ones (as many as the cap allows). */
  async #done(session: Session, task: Task, values: readonly { name: string; value: string; type: string }[], result: unknown): Promise<void> {
    const { state, tasks, clock, log } = this.#d;
    const now = clock.now();
    const r = task.request;
    const left = r.kind === 'refresh' ? await state.putParameters(session.device.id, values, now, refreshPath(r, session.dataModel)) : values.length > 0 ? await state.putParameters(session.device.id, values, now) : 0;
    if (left === 0) {
      await tasks.complete(task, result);
      return;
    }
    const fault = state.capFault(left);
    log.warn({ device: session.device.id, task: task.id, notStored: left }, 'parameter values not stored: the device is at [cwmp] max_parameters_per_device');
    // A read exists to store what it read: it failed. A set did what it was asked: the CPE event tells.
    if (r.kind === 'setParameterValues') {
      await state.recordCpeEvent(session.device.id, now, 'SetParameterValues', { task: task.id, ...fault });
      await tasks.complete(task, result);
    } else await tasks.fail(task, fault, result);
  }

  async #next(session: Session): Promise<CpeReply> {
    // A task queued after the Inform was recorded either set queuedMeanwhile (queued on this node) or brings the
    // device back with its connection request, as one queued just after the read below would.
    const known = session.queueEmpty && !session.queuedMeanwhile;
    session.queueEmpty = false;
    const task = known ? undefined : await this.#d.tasks.next(session.device.id);
    if (!task) {
      await this.#end(session, 'completed');
      return { status: 204 };
    }
    session.current = task;
    const partial = this.#partialRead(task, session.dataModel);
    if (partial && (await this.#d.state.get(session.device.id))?.partialPathUnsupported) {
      session.read = new SubtreeRead(partial, this.#o.subtreeBatchSize);
      const reply = await this.#sendStep(session, task);
      if (reply) return reply;
      return this.#next(session);
    }
    const uploadUrl = task.request.kind === 'upload' ? this.#d.uploads.url(task, session.origin) : undefined;
    return { status: 200, body: rpcEnvelope(this.#d.soap, session.version, task, await this.#d.tasks.sendable(task), session.dataModel, uploadUrl) };
  }

  #touch(session: Session): void {
    const { scheduler, clock } = this.#d;
    const now = clock.now();
    // Renewed with less than a session timeout left, not per message: one statement per session timeout at most.
    if (this.#d.leases.shared && session.leaseUntil - now < this.#o.sessionTimeoutMs) {
      session.leaseUntil = now + 2 * this.#o.sessionTimeoutMs;
      this.#d.leases.renew(session.device.id, session.token, session.leaseUntil).then(
        (held) => {
          if (held || this.#byToken.get(session.token) !== session) return;
          this.#d.log.warn({ device: session.device.id, task: session.current?.id }, 'CWMP session lease taken over by another node: this session ends');
          this.#endLater(session, 'lost');
        },
        (err: unknown) => this.#d.log.warn({ device: session.device.id, err: (err as Error).message }, 'renewing the CWMP session lease failed'),
      );
    }
    if (session.timeout !== undefined) scheduler.cancel(session.timeout);
    session.timeout = scheduler.at(clock.now() + this.#o.sessionTimeoutMs, () => {
      session.timeout = undefined;
      if (this.#byToken.get(session.token) !== session) return;
      this.#d.log.warn({ device: session.device.id, task: session.current?.id }, 'CWMP session timed out');
      this.#endLater(session, 'lost');
    });
  }

  /** #end from a timer or the transport, where no one awaits it: a failure is logged. */
  #endLater(session: Session, result: 'completed' | 'lost'): void {
    this.#end(session, result).catch((err: unknown) => {
      // An RPC in flight then stays sent: the device's next session finds it at the head of its queue, and sends it again.
      if (isStoreUnavailable(err)) this.#d.log.warn({ device: session.device.id, err: (err as Error).message }, 'ending the CWMP session: the store is unavailable; an RPC it had in flight goes out again when the device next calls in');
      else this.#d.log.error({ err, device: session.device.id }, 'ending the CWMP session failed');
    });
  }

  /**
   * Forgets the session at once (no later request finds it); then its RPC in flight goes back to the queue.
   * `callBack`: after a lost session, ask the device to call in again for the RPC it did not answer.
   */
  async #end(session: Session, result: 'completed' | 'lost', callBack = true): Promise<void> {
    if (this.#byToken.get(session.token) !== session) return;
    this.#byToken.delete(session.token);
    if (this.#byDevice.get(session.device.id) === session) this.#byDevice.delete(session.device.id);
    this.#byConnection.delete(session.connection);
    if (session.timeout !== undefined) this.#d.scheduler.cancel(session.timeout);
    this.#d.metrics?.session(result);
    try {
      await this.#settle(session, result, callBack);
    } finally {
      // After its RPC went back to the queue: a session elsewhere then finds it queued, not in flight.
      await this.#d.leases.release(session.device.id, session.token).catch((err: unknown) => this.#d.log.warn({ device: session.device.id, err: (err as Error).message }, 'giving up the CWMP session lease failed; it runs out by itself'));
    }
  }

  /** The ended session's RPC in flight back to the queue (and the device asked to call in again). */
  async #settle(session: Session, result: 'completed' | 'lost', callBack: boolean): Promise<void> {
    const task = session.current;
    const reading = session.read !== undefined;
    this.#finishRead(session);
    if (!task) {
      if (session.queuedMeanwhile && callBack && !this.#stopping && (await this.#d.tasks.hasOpen(session.device.id))) await this.#d.requester.request(session.device.id);
      return;
    }
    // A CPE that drops the session rather than answer a partial-path read: read name by name next time.
    if (result === 'lost' && !reading && !this.#stopping && this.#partialRead(task, session.dataModel)) await this.#d.state.setPartialPathUnsupported(session.device.id, true);
    const again = await this.#d.tasks.requeue(task);
    if (again?.status === 'queued' && callBack) await this.#d.requester.request(session.device.id);
  }
}
