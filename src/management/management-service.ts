import { Counter, Gauge, type Registry } from 'prom-client';
import type { Clock } from '../clock.js';
import type { ListenAddress } from '../config/listen.js';
import type { DeviceRegistry } from '../devices/registry.js';
import { guardListener, type ListenerGuardDeps, type ListenerLimits } from '../listeners/listener-guard.js';
import type { KeepaliveService } from '../keepalive/keepalive-service.js';
import type { Logger } from '../log/logger.js';
import { authThrottledCounter } from '../rate-limit/auth-throttled-metric.js';
import type { Scheduler } from '../timer/scheduler.js';
import type { TimerHandle } from '../timer/wheel.js';
import { ConnectionRequester } from './connection-requester.js';
import type { CwmpDeviceRepo, CwmpDeviceState } from './cwmp-device-repo.js';
import { CpeLogins } from './cpe-logins.js';
import { CwmpListeners, type CwmpListenersOptions } from './cwmp-listeners.js';
import { CwmpServer } from './cwmp-server.js';
import { CwmpSessions } from './cwmp-sessions.js';
import { CwmpSoap, type Inform } from './cwmp-soap.js';
import { LoginThrottle } from './login-throttle.js';
import { CpeHttpAuth } from './http-auth.js';
import { httpConnectionRequest } from './http-connection-request.js';
import { Provisioning } from './provisioning.js';
import { ProvisioningFingerprints } from './provisioning-fingerprints.js';
import { FINISHED, type Task } from './task.js';
import type { StunAdvert } from './nat-detection.js';
import type { Steering } from '../cluster/steering.js';
import { TaskQueue } from './task-queue.js';
import type { TaskRepo } from './task-repo.js';
import { UploadEndpoint } from './upload-endpoint.js';
import type { UploadRepo } from './upload-repo.js';
import type { SessionLeaseRepo } from './session-lease-repo.js';
import { type UploadOptions, UploadService } from './upload-service.js';
import type { Sealer } from '../sealed-text.js';
import { ConnectionRequestSequencer } from './udp-connection-request.js';
import type { WorkSlices } from '../listeners/work-slices.js';


/** Told of a recorded Inform: the device, what it sent, and its state as recorded. */
export type InformListener = (deviceId: string, inform: Inform, state: CwmpDeviceState) => void | Promise<void>;
export interface ManagementDeps {
  readonly registry: DeviceRegistry;
  /** The CWMP state of the devices and their last known parameters. */
  readonly state: CwmpDeviceRepo;
  /** The tasks (their secrets sealed under the master key). */
  readonly tasks: TaskRepo;
  /** Files CPEs uploaded. */
  readonly uploads: UploadRepo;
  /** One CWMP session per device in the cluster. */
  readonly leases: SessionLeaseRepo;
  /** The master key's sealer: upload URLs carry tokens sealed under it. */
  readonly sealer: Sealer;
  /** Derived from the master key: what was provisioned on devices (passwords among it) is fingerprinted under it. */
  readonly fingerprintKey: Buffer;
  readonly keepalive: KeepaliveService;
  readonly scheduler: Scheduler;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: Registry;
  readonly listeners: ListenerGuardDeps;
  /** A cluster's steering of STBs to nodes; absent: the configured STUN address. */
  readonly steering?: Steering;
  /** The daemon's slices of loop time: CWMP requests start in them. */
  readonly slices: Pick<WorkSlices, 'run'>;
}

/** `listen`, `tlsListen`, …: the CWMP endpoints (see CwmpListenersOptions). */
export interface ManagementOptions extends CwmpListenersOptions {
  /** `[cwmp]` header_timeout … max_connections_per_source; idle_timeout is session_timeout unless set. */
  readonly limits: ListenerLimits;
  readonly bodyLimit: number;
  readonly sessionTimeoutMs: number;
  readonly autoRegister: boolean;
  /** Advertised STUN server; empty: the host the CPE used to reach us. */
  readonly stunAddress: string;
  /** 0: the port the STUN socket is bound to. */
  readonly stunPort: number;
  readonly keepalivePeriodMs: number;
  readonly taskExpiryMs: number;
  readonly taskRetentionMs: number;
  readonly connectionRequestRetryMs: number;
  readonly connectionRequestTimeoutMs: number;
  /** Factory CWMP username → password ([cwmp] bootstrap_credentials_file). */
  readonly bootstrapCredentials: ReadonlyMap<string, string>;
  readonly bootstrapReuse: boolean;
  readonly provisioningAttempts: number;
  readonly subtreeBatchSize: number;
  readonly connectionRequestAllowBasic: boolean;
  /** Digest without qop (RFC 2069) accepted. */
  readonly digestAllowRfc2069: boolean;
  /** Used Digest nonces remembered at most. */
  readonly digestNonceCapacity: number;
  /** Per source address; 0: no limit. */
  readonly challengesPerSecond: number;
  readonly challengeBurst: number;
  readonly authFailuresPerMinute: number;
  readonly authFailureBurst: number;
  /** `[uploads]`. */
  readonly uploads: UploadOptions;
}

/** How often the aggregated refused-login lines are written. */
const LOG_FLUSH_MS = 60_000;

/**
 * The management channel (seed 001 steps 1, 2, 5, 6): the CWMP endpoint, the task queue, NAT detection
 * and keepalive provisioning, and connection requests. Construct before the scheduler starts (it
 * registers the task-expiry deadline); start after the keepalive service.
 */
export class ManagementService {
  readonly tasks: TaskQueue;
  readonly state: CwmpDeviceRepo;
  readonly requester: ConnectionRequester;
  readonly sessions: CwmpSessions;
  readonly uploads: UploadService;
  readonly #server: CwmpServer;
  readonly #listeners: CwmpListeners;
  readonly #d: ManagementDeps;
  readonly #o: ManagementOptions;
  readonly #throttle: LoginThrottle;
  readonly #informListeners: InformListener[] = [];
  readonly #provisioning: Provisioning;
  #flushTimer: TimerHandle | undefined;
  #address: ListenAddress | undefined;
  #tlsAddress: ListenAddress | undefined;

  constructor(deps: ManagementDeps, opts: ManagementOptions) {
    this.#d = deps;
    this.#o = opts;
    const { registry, keepalive, scheduler, clock, metrics } = deps;
    const log = deps.log.child({ component: 'cwmp' });
    this.state = deps.state;
    this.tasks = new TaskQueue({ repo: deps.tasks, scheduler, clock, log, defaultExpiryMs: opts.taskExpiryMs, retentionMs: opts.taskRetentionMs });
    const m = registerManagementMetrics(metrics, () => this.sessions.activeCount);
    this.requester = new ConnectionRequester(
      {
        keepalive,
        device: (id) => registry.get(id),
        cwmpState: (id) => this.state.get(id),
        httpRequest: httpConnectionRequest,
        sequencer: new ConnectionRequestSequencer(() => clock.now()),
        scheduler,
        clock,
        log,
        onResult: (via, result) => m.connectionRequests.inc({ via, result }),
      },
      {
        retryMs: opts.connectionRequestRetryMs,
        timeoutMs: opts.connectionRequestTimeoutMs,
        allowBasic: opts.connectionRequestAllowBasic,
      },
    );
    this.uploads = new UploadService({ repo: deps.uploads, tasks: this.tasks, sealer: deps.sealer, clock, log }, opts.uploads);
    const provisioning = (this.#provisioning = new Provisioning(
      { tasks: this.tasks, state: this.state, registry, stunAdvert: (host, deviceId, fits) => this.#stunAdvert(host, deviceId, fits), fingerprints: new ProvisioningFingerprints(deps.fingerprintKey), log },
      { maxFailures: opts.provisioningAttempts },
    ));
    const auth = new CpeHttpAuth('stbd', () => clock.now(), { allowRfc2069: opts.digestAllowRfc2069, nonceCapacity: opts.digestNonceCapacity });
    const throttled = authThrottledCounter(metrics);
    this.#throttle = new LoginThrottle(
      { log, throttled: () => throttled.inc({ listener: 'cwmp' }) },
      { challengesPerSecond: opts.challengesPerSecond, challengeBurst: opts.challengeBurst, failuresPerMinute: opts.authFailuresPerMinute, failureBurst: opts.authFailureBurst, now: () => clock.now() },
    );
    this.sessions = new CwmpSessions(
      {
        soap: new CwmpSoap(),
        auth,
        logins: new CpeLogins({ auth, registry, bootstrap: opts.bootstrapCredentials, autoRegister: opts.autoRegister }),
        throttle: this.#throttle,
        registry,
        tasks: this.tasks,
        uploads: this.uploads,
        state: this.state,
        provisioning,
        leases: deps.leases,
        requester: this.requester,
        scheduler,
        clock,
        log,
        informed: async (deviceId, inform, state) => {
          const failed: unknown[] = [];
          for (const l of this.#informListeners) await Promise.resolve(l(deviceId, inform, state)).catch((err: unknown) => void failed.push(err));
          if (failed.length > 0) throw failed[0];
        },
        metrics: { session: (result) => m.sessions.inc({ result }), bootstrap: (result) => m.bootstrap.inc({ result }), parsed: () => m.parsed.inc(), refused: (reason) => m.refused.inc({ reason }) },
      },
      { sessionTimeoutMs: opts.sessionTimeoutMs, autoRegister: opts.autoRegister, bootstrapReuse: opts.bootstrapReuse, subtreeBatchSize: opts.subtreeBatchSize },
    );
    this.tasks.subscribe({
      queued: (t) => this.callIn(t.deviceId),
      finished: async (t) => {
        m.tasks.inc({ status: t.status });
        if (FINISHED.has(t.status) && !(await this.tasks.hasOpen(t.deviceId))) this.requester.forget(t.deviceId);
      },
    });
    registry.subscribe({ added: () => undefined, removed: (id) => this.requester.forget(id) });
    this.#listeners = new CwmpListeners(opts, log, (source, reason) => {
      this.#throttle.refused(source, { kind: 'client_certificate', reason: `CWMP client certificate refused ([cwmp] client_ca_file); connection closed: ${reason}` });
      m.refused.inc({ reason: 'client_certificate' });
    });
    const transport = this.#listeners.transport;
    const uploadEndpoint = new UploadEndpoint({ service: this.uploads, tasks: this.tasks, sealer: deps.sealer, clock, log, sourceOf: (req) => transport.sourceOf(req) });
    this.#server = new CwmpServer(this.sessions, log, opts.bodyLimit, deps.slices, transport, uploadEndpoint);
    for (const server of this.#listeners.servers) {
      this.#server.serve(server);
      // After serve(): the guard takes the request handlers there are, so a shed request reaches none of them.
      // Past its limits the CWMP listener sheds load (503, Retry-After): CPEs come back later.
      guardListener(server, { name: 'cwmp', limits: opts.limits, pastLimit: 'shed', sourceOf: this.#listeners.sourceOf }, deps.listeners);
    }
  }

  /**
   * `listener` is told of every Inform once it is recorded and provisioning saw it, before its InformResponse
   * (profiles: their tasks go out in that session; campaigns verify firmware versions). Listeners are called
   * one after the other; a failure is logged and neither stops the others nor the session.
   */
  onInform(listener: InformListener): void {
    this.#informListeners.push(listener);
  }

  /** Where the CWMP endpoint listens (the port is known even when the config said 0); undefined: HTTP is off. */
  get address(): ListenAddress | undefined {
    return this.#address;
  }

  /** Where the HTTPS CWMP endpoint listens; undefined: it is off. */
  get tlsAddress(): ListenAddress | undefined {
    return this.#tlsAddress;
  }

  /** Why an open task is still waiting, in words for the operator; undefined once it is finished. */
  pending(t: Task): string | undefined {
    if (t.status === 'sent') return 'sent to the device in its CWMP session; waiting for its answer';
    if (t.status === 'transferring') return `the device accepted the transfer; waiting for its file and its TransferComplete until ${new Date(t.expiresAt).toISOString()}`;
    if (t.status !== 'queued') return undefined;
    if (this.sessions.inSession(t.deviceId)) return 'the device is in a CWMP session: the task goes out in it';
    return this.requester.status(t.deviceId)?.message ?? 'waiting for the device to call in';
  }

  /**
   * An operator asks for provisioning again: the count of refusals starts over and the device is asked to
   * call in (provisioning happens in its next session).
   */
  async provisionAgain(deviceId: string): Promise<{ readonly called: boolean; readonly message: string }> {
    const s = await this.state.retryProvisioning(deviceId);
    if (!s) return { called: false, message: 'the device has not called in yet: it is provisioned in its first session' };
    await this.requester.request(deviceId);
    const called = this.requester.status(deviceId)?.state !== 'offline';
    return { called, message: called ? 'provisioning is retried in the session the connection request asks for' : 'provisioning is retried at the device\'s next Inform' };
  }

  /**
   * Work was queued for the device (here, or on another node that routed it here): its open session on this
   * node sees to it; otherwise a connection request asks it to call in.
   */
  async callIn(deviceId: string): Promise<void> {
    if (!this.sessions.takesQueued(deviceId)) await this.requester.request(deviceId);
  }

  /** Queues the STUN settings of the node the device is steered to now (`cluster drain`); false: nothing to change. */
  async rehome(deviceId: string): Promise<boolean> {
    const device = await this.#d.registry.get(deviceId);
    return device ? this.#provisioning.rehome(device) : false;
  }

  /** Listens, then asks every device with queued work to call in (work queued before a restart). */
  async start(): Promise<void> {
    await this.#listeners.listen();
    this.#address = this.#listeners.address;
    this.#tlsAddress = this.#listeners.tlsAddress;
    for (const id of await this.tasks.devicesWithOpenTasks()) void this.requester.request(id);
    await this.tasks.startRetention();
    this.#flushLogs();
  }

  async stop(): Promise<void> {
    if (this.#flushTimer !== undefined) this.#d.scheduler.cancel(this.#flushTimer);
    this.#throttle.drain();
    this.tasks.stopRetention();
    this.requester.stop();
    this.#listeners.dropPending();
    await this.#server.close();
    await this.sessions.stop();
    await this.tasks.releaseWaiters();
  }

  #flushLogs(): void {
    this.#throttle.flush();
    this.#flushTimer = this.#d.scheduler.at(this.#d.clock.now() + LOG_FLUSH_MS, () => this.#flushLogs());
  }

  #stunAdvert(host: string, deviceId: string, fits: (advert: StunAdvert) => boolean): StunAdvert {
    const seconds = Math.max(1, Math.round(this.#o.keepalivePeriodMs / 1000));
    const timing = { minKeepAlive: seconds, maxKeepAlive: seconds };
    // A cluster: the node the STB is steered to ([cluster] steering).
    const steered = this.#d.steering?.choose(deviceId, (a) => fits({ address: a.host, port: a.port, ...timing }));
    if (steered) return { address: steered.host, port: steered.port, ...timing };
    return {
      address: this.#o.stunAddress || host,
      port: this.#o.stunPort || (this.#d.keepalive.addresses.v4?.port ?? this.#d.keepalive.addresses.v6?.port ?? 3478),
      ...timing,
    };
  }
}

function registerManagementMetrics(registry: Registry, active: () => number) {
  new Gauge({ name: 'stbd_cwmp_sessions_active', help: 'CWMP sessions open now', registers: [registry], collect() { this.set(active()); } });
  return {
    sessions: new Counter({ name: 'stbd_cwmp_sessions_total', help: 'CWMP sessions, by how they ended (completed, lost, refused)', labelNames: ['result'] as const, registers: [registry] }),
    tasks: new Counter({ name: 'stbd_tasks_finished_total', help: 'tasks finished, by final status', labelNames: ['status'] as const, registers: [registry] }),
    connectionRequests: new Counter({
      name: 'stbd_connection_requests_total',
      help: 'connection requests, by transport (udp, http) and result (sent; failed: could not be sent; answered: a session followed)',
      labelNames: ['via', 'result'] as const,
      registers: [registry],
    }),
    parsed: new Counter({ name: 'stbd_cwmp_bodies_parsed_total', help: 'CWMP bodies parsed (never before their credentials were checked)', registers: [registry] }),
    refused: new Counter({
      name: 'stbd_cwmp_logins_refused_total',
      help: 'CWMP logins refused, by reason (credentials, replay, rfc2069, deviceid_mismatch, bootstrap, registration)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    bootstrap: new Counter({ name: 'stbd_cwmp_bootstrap_logins_total', help: 'CWMP logins with a factory credential, by result (accepted, refused)', labelNames: ['result'] as const, registers: [registry] }),
  };
}
