import type { AddressInfo } from 'node:net';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Clock } from '../clock.js';
import type { ListenAddress } from '../config/listen.js';
import type { DeviceRegistry } from '../devices/registry.js';
import { ListenError } from '../errors.js';
import type { KeepaliveService } from '../keepalive/keepalive-service.js';
import type { Logger } from '../log/logger.js';
import type { Sealer } from '../sealed-text.js';
import type { Database } from '../store/database.js';
import type { Scheduler } from '../timer/scheduler.js';
import { ConnectionRequester } from './connection-requester.js';
import { CwmpDeviceRepo } from './cwmp-device-repo.js';
import { CpeLogins } from './cpe-logins.js';
import { CwmpServer } from './cwmp-server.js';
import { CwmpSessions } from './cwmp-sessions.js';
import { CwmpSoap } from './cwmp-soap.js';
import { CpeHttpAuth } from './http-auth.js';
import { httpConnectionRequest } from './http-connection-request.js';
import { Provisioning } from './provisioning.js';
import { FINISHED, type Task } from './task.js';
import { TaskQueue } from './task-queue.js';
import { TaskRepo } from './task-repo.js';
import { ConnectionRequestSequencer } from './udp-connection-request.js';

export interface ManagementDeps {
  readonly db: Database;
  /** Seals the secrets inside queued tasks (the master key). */
  readonly sealer: Sealer;
  readonly registry: DeviceRegistry;
  readonly keepalive: KeepaliveService;
  readonly scheduler: Scheduler;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: Registry;
}

export interface ManagementOptions {
  readonly listen: ListenAddress;
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
  /** Last known parameter values stored per device, at most. */
  readonly maxParametersPerDevice: number;
}

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
  readonly #server: CwmpServer;
  readonly #d: ManagementDeps;
  readonly #o: ManagementOptions;
  #address: ListenAddress | undefined;

  constructor(deps: ManagementDeps, opts: ManagementOptions) {
    this.#d = deps;
    this.#o = opts;
    const { db, sealer, registry, keepalive, scheduler, clock, metrics } = deps;
    const log = deps.log.child({ component: 'cwmp' });
    this.state = new CwmpDeviceRepo(db, opts.maxParametersPerDevice);
    this.tasks = new TaskQueue({ repo: new TaskRepo(db, sealer), scheduler, clock, log, deviceExists: (id) => registry.get(id) !== undefined, defaultExpiryMs: opts.taskExpiryMs, retentionMs: opts.taskRetentionMs });
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
    const provisioning = new Provisioning(
      { tasks: this.tasks, state: this.state, registry, stunAdvert: (host) => this.#stunAdvert(host), log },
      { maxFailures: opts.provisioningAttempts },
    );
    const auth = new CpeHttpAuth('stbd', () => clock.now());
    this.sessions = new CwmpSessions(
      {
        soap: new CwmpSoap(),
        auth,
        logins: new CpeLogins({ auth, registry, bootstrap: opts.bootstrapCredentials, autoRegister: opts.autoRegister }),
        registry,
        tasks: this.tasks,
        state: this.state,
        provisioning,
        requester: this.requester,
        scheduler,
        clock,
        log,
        metrics: { session: (result) => m.sessions.inc({ result }), bootstrap: (result) => m.bootstrap.inc({ result }), parsed: () => m.parsed.inc() },
      },
      { sessionTimeoutMs: opts.sessionTimeoutMs, autoRegister: opts.autoRegister, bootstrapReuse: opts.bootstrapReuse, subtreeBatchSize: opts.subtreeBatchSize },
    );
    this.tasks.subscribe({
      queued: (t) => {
        if (!this.sessions.inSession(t.deviceId)) this.requester.request(t.deviceId);
      },
      finished: (t) => {
        m.tasks.inc({ status: t.status });
        if (FINISHED.has(t.status) && !this.tasks.hasOpen(t.deviceId)) this.requester.forget(t.deviceId);
      },
    });
    registry.subscribe({ added: () => undefined, removed: (id) => this.requester.forget(id) });
    this.#server = new CwmpServer(this.sessions, log, opts.bodyLimit, opts.sessionTimeoutMs);
  }

  /** Where the CWMP endpoint listens (the port is known even when the config said 0). */
  get address(): ListenAddress | undefined {
    return this.#address;
  }

  /** Why an open task is still waiting, in words for the operator; undefined once it is finished. */
  pending(t: Task): string | undefined {
    if (t.status === 'sent') return 'sent to the device in its CWMP session; waiting for its answer';
    if (t.status !== 'queued') return undefined;
    if (this.sessions.inSession(t.deviceId)) return 'the device is in a CWMP session: the task goes out in it';
    return this.requester.status(t.deviceId)?.message ?? 'waiting for the device to call in';
  }

  /**
   * An operator asks for provisioning again: the count of refusals starts over and the device is asked to
   * call in (provisioning happens in its next session).
   */
  provisionAgain(deviceId: string): { readonly called: boolean; readonly message: string } {
    const s = this.state.retryProvisioning(deviceId);
    if (!s) return { called: false, message: 'the device has not called in yet: it is provisioned in its first session' };
    this.requester.request(deviceId);
    const called = this.requester.status(deviceId)?.state !== 'offline';
    return { called, message: called ? 'provisioning is retried in the session the connection request asks for' : 'provisioning is retried at the device\'s next Inform' };
  }

  /** Listens, then asks every device with queued work to call in (work queued before a restart). */
  async start(): Promise<void> {
    try {
      await this.#server.listen(this.#o.listen.host, this.#o.listen.port);
    } catch (err) {
      await this.#server.close();
      throw new ListenError('[cwmp] listen', this.#o.listen, err as NodeJS.ErrnoException);
    }
    const bound = this.#server.address as AddressInfo;
    this.#address = { host: bound.address, port: bound.port };
    for (const id of this.tasks.devicesWithOpenTasks()) this.requester.request(id);
    this.tasks.startRetention();
  }

  async stop(): Promise<void> {
    this.tasks.stopRetention();
    this.requester.stop();
    await this.#server.close();
    this.sessions.stop();
    this.tasks.releaseWaiters();
  }

  #stunAdvert(host: string) {
    const seconds = Math.max(1, Math.round(this.#o.keepalivePeriodMs / 1000));
    return {
      address: this.#o.stunAddress || host,
      port: this.#o.stunPort || (this.#d.keepalive.addresses.v4?.port ?? this.#d.keepalive.addresses.v6?.port ?? 3478),
      minKeepAlive: seconds,
      maxKeepAlive: seconds,
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
    bootstrap: new Counter({ name: 'stbd_cwmp_bootstrap_logins_total', help: 'CWMP logins with a factory credential, by result (accepted, refused)', labelNames: ['result'] as const, registers: [registry] }),
  };
}
