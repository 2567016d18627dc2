import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { DeviceRecord } from '../devices/device.js';
import type { DeviceRegistry } from '../devices/registry.js';
import type { Logger } from '../log/logger.js';
import type { Scheduler } from '../timer/scheduler.js';
import type { TimerHandle } from '../timer/wheel.js';
import type { ConnectionRequester } from './connection-requester.js';
import type { CwmpDeviceRepo } from './cwmp-device-repo.js';
import { type CpeMessage, type CwmpSoap, type CwmpVersion, type Inform, SoapError } from './cwmp-soap.js';
import { type CpeHttpAuth, parseAuthorization } from './http-auth.js';
import { dataModelOf, detectNat } from './nat-detection.js';
import type { Provisioning } from './provisioning.js';
import { outcomeOf, refreshPath, rpcEnvelope, taskOfCommandKey } from './rpc.js';
import { type DataModelRoot, isSecretParameter, type Task } from './task.js';
import type { TaskQueue } from './task-queue.js';

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
  /** The host name the CPE used to reach us (the default STUN server address we advertise). */
  readonly host: string;
}

export type CpeReply =
  | { readonly status: 200; readonly body: string; readonly cookie?: string }
  | { readonly status: 204 }
  | { readonly status: 401; readonly challenge: string }
  | { readonly status: 400; readonly message: string };

interface Session {
  readonly token: string;
  readonly device: DeviceRecord;
  readonly version: CwmpVersion;
  readonly dataModel: DataModelRoot;
  readonly connection: object;
  current: Task | undefined;
  timeout: TimerHandle | undefined;
}

export interface CwmpSessionsDeps {
  readonly soap: CwmpSoap;
  readonly auth: CpeHttpAuth;
  readonly registry: DeviceRegistry;
  readonly tasks: TaskQueue;
  readonly state: CwmpDeviceRepo;
  readonly provisioning: Provisioning;
  readonly requester: ConnectionRequester;
  readonly scheduler: Scheduler;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics?: { session(result: 'completed' | 'lost' | 'refused'): void };
}

export interface CwmpSessionsOptions {
  readonly sessionTimeoutMs: number;
  readonly autoRegister: boolean;
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

  handle(req: CpeRequest): CpeReply {
    let session = (req.cookie !== undefined ? this.#byToken.get(req.cookie) : undefined) ?? this.#byConnection.get(req.connection);
    const hasBody = req.body.trim() !== '';
    // A session can only begin with an authenticated Inform: challenge first, parse after (most CPEs send
    // their first Inform without credentials, and parsing is the dearest step of a session).
    if (!session && hasBody && !req.authorization) return { status: 401, challenge: this.#d.auth.challenge() };
    let message: CpeMessage | undefined;
    if (hasBody) {
      try {
        message = this.#d.soap.parse(req.body);
      } catch (err) {
        if (!(err instanceof SoapError)) throw err;
        this.#d.log.warn({ device: session?.device.id, source: req.sourceAddress, err: err.message }, 'malformed CWMP body; session ended');
        if (session) this.#end(session, 'lost');
        return { status: 400, message: err.message };
      }
    }
    if (message?.body.kind === 'Inform') return this.#inform(req, message as CpeMessage & { body: Inform }, session);
    if (!session) {
      this.#d.log.warn({ source: req.sourceAddress }, 'CWMP request outside a session');
      return { status: 400, message: 'no session: a CWMP session begins with an Inform' };
    }
    this.#touch(session);
    const body = message?.body;
    if (body?.kind === 'TransferComplete') {
      this.#transferComplete(session, body);
      return { status: 200, body: this.#d.soap.transferCompleteResponse(session.version, message?.id) };
    }
    if (body?.kind === 'GetRPCMethods') return { status: 200, body: this.#d.soap.getRPCMethodsResponse(session.version, message?.id) };
    if (body) this.#answer(session, body);
    return this.#next(session);
  }

  /** Ends the session a refused request belonged to (an oversize body). */
  abandon(cookie: string | undefined, connection: object): void {
    const session = (cookie !== undefined ? this.#byToken.get(cookie) : undefined) ?? this.#byConnection.get(connection);
    if (session) this.#end(session, 'lost');
  }

  /** Ends every session (shutdown): RPCs in flight go back to their queues. */
  stop(): void {
    for (const s of [...this.#byToken.values()]) this.#end(s, 'lost', false);
  }

  #inform(req: CpeRequest, message: CpeMessage & { body: Inform }, previous: Session | undefined): CpeReply {
    const { registry, auth, log } = this.#d;
    const inform = message.body;
    const credentials = parseAuthorization(req.authorization);
    if (!credentials) return { status: 401, challenge: auth.challenge() };
    let device = registry.byCwmpUsername(credentials.username);
    let registered = false;
    if (!device) {
      if (!this.#o.autoRegister) {
        log.warn({ username: credentials.username, source: req.sourceAddress }, 'CWMP session refused: unknown username');
        this.#d.metrics?.session('refused');
        return { status: 401, challenge: auth.challenge() };
      }
      device = this.#register(inform, credentials.username, req.sourceAddress);
      if (!device) return { status: 401, challenge: auth.challenge() };
      registered = true;
    } else if (!auth.verify(credentials, device.credentials.cwmpPassword, req.method, req.uri)) {
      log.warn({ device: device.id, scheme: credentials.scheme, source: req.sourceAddress }, 'CWMP session refused: wrong credentials');
      this.#d.metrics?.session('refused');
      return { status: 401, challenge: auth.challenge() };
    }
    if (previous) this.#end(previous, 'lost', false);
    const old = this.#byDevice.get(device.id);
    if (old) {
      log.info({ device: device.id }, 'new Inform replaces an open session');
      this.#end(old, 'lost', false);
    }
    const now = this.#d.clock.now();
    const dataModel = dataModelOf(inform.parameters);
    const nat = detectNat(inform.parameters, dataModel, req.sourceAddress);
    const state = this.#d.state.recordInform(
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
      inform.parameters.filter((p) => !isSecretParameter(p.name)),
    );
    const session: Session = { token: randomUUID(), device, version: message.version, dataModel, connection: req.connection, current: undefined, timeout: undefined };
    this.#byToken.set(session.token, session);
    this.#byDevice.set(device.id, session);
    this.#byConnection.set(req.connection, session);
    this.#touch(session);
    this.#d.requester.answered(device.id);
    log.debug({ device: device.id, events: state.lastEvents, behindNat: state.behindNat, natId: state.natId }, 'Inform');
    this.#d.provisioning.onInform(device, state, req.host, registered);
    return { status: 200, body: this.#d.soap.informResponse(message.version, message.id), cookie: session.token };
  }

  /** auto_register: a device we do not know, named as CWMP names devices (OUI-ProductClass-SerialNumber). */
  #register(inform: Inform, username: string, source: string): DeviceRecord | undefined {
    const { oui, productClass, serialNumber } = inform.deviceId;
    const id = [oui, productClass, serialNumber].filter((s) => s !== '').join('-');
    const input = { id, cwmpUsername: username };
    const problem = this.#d.registry.validator.problem(input);
    if (problem || this.#d.registry.get(id)) {
      this.#d.log.warn({ id, username, source, problem: problem ?? 'id already registered under another CWMP username' }, 'auto-registration refused');
      return undefined;
    }
    const device = this.#d.registry.create(input);
    this.#d.log.info({ device: id, source }, 'device auto-registered');
    return device;
  }

  #transferComplete(session: Session, body: Extract<CpeMessage['body'], { kind: 'TransferComplete' }>): void {
    const id = taskOfCommandKey(body.commandKey);
    const task = id === undefined ? undefined : this.#d.tasks.get(id);
    if (!task || task.deviceId !== session.device.id || task.request.kind !== 'download') {
      this.#d.log.info({ device: session.device.id, commandKey: body.commandKey }, 'TransferComplete for no task of ours');
      return;
    }
    const transfer = { faultCode: body.faultCode, faultString: body.faultString };
    const result = { ...(task.result as object | null), transfer };
    this.#d.tasks.amend(task.id, result, body.faultCode === 0 ? null : { code: body.faultCode, message: body.faultString || 'transfer failed' });
  }

  #answer(session: Session, body: NonNullable<CpeMessage['body']>): void {
    const task = session.current;
    if (!task) {
      this.#d.log.warn({ device: session.device.id, kind: body.kind }, 'CPE answer to no RPC of ours');
      return;
    }
    session.current = undefined;
    const outcome = outcomeOf(this.#d.soap, task, body);
    if (!outcome.ok) {
      this.#d.tasks.fail(task, outcome.fault);
      return;
    }
    const now = this.#d.clock.now();
    const values = outcome.values.filter((v) => !isSecretParameter(v.name));
    const r = task.request;
    if (r.kind === 'refresh') this.#d.state.putParameters(session.device.id, values, now, refreshPath(r, session.dataModel));
    else if (values.length > 0) this.#d.state.putParameters(session.device.id, values, now);
    this.#d.tasks.complete(task, outcome.result);
  }

  #next(session: Session): CpeReply {
    const task = this.#d.tasks.next(session.device.id);
    if (!task) {
      this.#end(session, 'completed');
      return { status: 204 };
    }
    session.current = task;
    return { status: 200, body: rpcEnvelope(this.#d.soap, session.version, task, session.dataModel) };
  }

  #touch(session: Session): void {
    const { scheduler, clock } = this.#d;
    if (session.timeout !== undefined) scheduler.cancel(session.timeout);
    session.timeout = scheduler.at(clock.now() + this.#o.sessionTimeoutMs, () => {
      session.timeout = undefined;
      if (this.#byToken.get(session.token) !== session) return;
      this.#d.log.warn({ device: session.device.id, task: session.current?.id }, 'CWMP session timed out');
      this.#end(session, 'lost');
    });
  }

  /** `callBack`: after a lost session, ask the device to call in again for the RPC it did not answer. */
  #end(session: Session, result: 'completed' | 'lost', callBack = true): void {
    if (this.#byToken.get(session.token) !== session) return;
    this.#byToken.delete(session.token);
    if (this.#byDevice.get(session.device.id) === session) this.#byDevice.delete(session.device.id);
    this.#byConnection.delete(session.connection);
    if (session.timeout !== undefined) this.#d.scheduler.cancel(session.timeout);
    this.#d.metrics?.session(result);
    const task = session.current;
    session.current = undefined;
    if (!task) return;
    const again = this.#d.tasks.requeue(task);
    if (again?.status === 'queued' && callBack) this.#d.requester.request(session.device.id);
  }
}

