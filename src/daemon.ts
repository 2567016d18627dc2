import { randomUUID } from 'node:crypto';
import { WorkSlices } from './listeners/work-slices.js';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { TokenAuth } from './api/auth.js';
import { buildApi } from './api/server.js';
import { loadOrCreateToken } from './api/token-file.js';
import { readSecretToken } from './secret-file.js';
import { BUILTIN_CA_NAME, BuiltinCa } from './ca/builtin-ca.js';
import { BuiltinCertAuthority } from './ca/builtin-cert-authority.js';
import { SigningPool } from './ca/signing-pool.js';
import type { CertificateAuthority } from './ca/cert-authority.js';
import { HttpCertAuthority } from './ca/http-cert-authority.js';
import { registerCertMetrics } from './certs/cert-metrics.js';
import { CertService } from './certs/cert-service.js';
import { DerivedIdRule } from './certs/certificate.js';
import { StbEndpoint } from './certs/stb-endpoint.js';
import { certOfNotice, noticeRequest } from './certs/update-notice.js';
import { builtinServerTls, CERTS_ENDPOINT, CWMP_ENDPOINT, FILES_ENDPOINT, endpointNames, loadCaFile, loadTlsFiles, type ServerTls, type TlsEndpoint } from './ca/server-tls.js';
import { loadMasterKey } from './ca/master-key.js';
import { SealError, SealedBox } from './ca/sealed-box.js';
import { BuiltinCas } from './cas/builtin-cas.js';
import type { Cas } from './cas/cas.js';
import { HttpCas } from './cas/http-cas.js';
import { CallOutcomeRecorder } from './call-outcome.js';
import { type Clock, systemClock } from './clock.js';
import type { Config } from './config/schema.js';
import { formatListen, type ListenAddress } from './config/listen.js';
import { DeviceRegistry } from './devices/registry.js';
import { DeviceSelection } from './devices/selection.js';
import { CampaignDriver } from './campaigns/campaign-driver.js';
import { CampaignOutcomes } from './campaigns/campaign-outcomes.js';
import { CampaignService } from './campaigns/campaign-service.js';
import { loadTimeZoneData } from './campaigns/maintenance-window.js';
import { formatDuration } from './config/duration.js';
import { DeviceTags } from './devices/tags.js';
import { PeriodicInformProfile } from './profiles/builtin-periodic-inform.js';
import { ProfileCatalog } from './profiles/profile-catalog.js';
import { ProfileEngine } from './profiles/profile-engine.js';
import { ProfileService } from './profiles/profile-service.js';
import { generateSecret } from './devices/secrets.js';
import { ListenError, OperatorError } from './errors.js';
import { callCheck } from './health/call-check.js';
import { HealthService } from './health/health-service.js';
import { type Listener, listenersCheck } from './health/listeners-check.js';
import { schedulerCheck } from './health/scheduler-check.js';
import { storeCheck } from './health/store-check.js';
import { fileBaseUrl } from './files/file-base-url.js';
import { FileCatalog } from './files/file-catalog.js';
import { registerFileMetrics } from './files/file-metrics.js';
import { FileServer } from './files/file-server.js';
import { DiskCheck } from './files/disk-check.js';
import { FileCache, sha256OffLoop } from './files/file-cache.js';
import { FileStore } from './files/file-store.js';
import { KeepaliveService } from './keepalive/keepalive-service.js';
import { descriptorsNeeded, ownOpenFileLimit } from './listeners/descriptor-budget.js';
import { guardListener, type ListenerGuardDeps, type ListenerLimits } from './listeners/listener-guard.js';
import { registerListenerMetrics } from './listeners/listener-metrics.js';
import type { Logger } from './log/logger.js';
import { loadBootstrapCredentials } from './management/bootstrap-credentials.js';
import { ManagementService } from './management/management-service.js';
import { registerPoolMetrics } from './pool/pool-metrics.js';
import { PoolService } from './pool/pool-service.js';
import { ensureDirectory, openDatabase } from './store/database.js';
import { openPostgresStore, postgresOptions, storeName } from './store/open-store.js';
import { ClusterNode } from './cluster/cluster-node.js';
import { nodeIdOf } from './cluster/node-id.js';
import { openPgNodeChannel } from './cluster/pg-node-channel.js';
import { RoutedRequests } from './cluster/routed-requests.js';
import { parseStunAddress } from './cluster/stun-address.js';
import { Steering } from './cluster/steering.js';
import { Drain } from './cluster/drain.js';
import { type NodeRow, parseAnnouncement } from './cluster/node-repo.js';
import { postgresRepositories, type Repositories, sqliteRepositories } from './repositories.js';
import type { CasCertificateRepo } from './cas/cas-certificate-repo.js';
import { acquireInstanceLock, InstanceLockedError } from './store/instance-lock.js';
import { NewFiles } from './new-files.js';
import { Scheduler } from './timer/scheduler.js';
import { nodeTimers, type TimerHost } from './timer/timers.js';
import { packageVersion } from './version.js';

export interface RunningDaemon {
  /** Where the admin API actually listens (the port is known even when the config said 0). */
  readonly api: ListenAddress;
  readonly keepalive: KeepaliveService;
  readonly management: ManagementService;
  readonly certs: CertService;
  /** Where the STB certificate endpoint (HTTPS) listens. */
  readonly certsEndpoint: ListenAddress;
  /** The files stbd serves, and their per-device download URLs. */
  readonly files: FileCatalog;
  /** Where the file server listens (HTTP, HTTPS), when it does. */
  readonly filesEndpoint: { readonly plain: ListenAddress | undefined; readonly tls: ListenAddress | undefined };
  /** This stbd as a node of the cluster (on SQLite the one node). */
  readonly cluster: ClusterNode;
  /** Graceful stop: stop accepting, finish in-flight work, flush, close the database. */
  stop(): Promise<void>;
}

export interface DaemonDeps {
  readonly config: Config;
  readonly log: Logger;
  readonly clock: Clock;
  /** Real timers by default; tests pass a host they can step. */
  readonly timerHost?: TimerHost;
  /** stbd cannot go on (it was logged): the caller stops it, exiting non-zero. */
  readonly onFatal?: () => void;
}

/** The composition root: builds every part from the config and starts it. */
export async function startDaemon({ config, log, clock, timerHost, onFatal }: DaemonDeps): Promise<RunningDaemon> {
  const host = timerHost ? { host: timerHost } : {};
  const store = config.store.path;
  // [files] dir first: a failed start removes it (when empty) before the directories it may be in.
  const created = new NewFiles([join(config.files.dir, 'placeholder'), store, `${store}-wal`, `${store}-shm`, `${store}.lock`, `${store}.pid`, config.api.token_file, config.api.bss_token_file, config.certs.media_token_file, config.ca.master_key_file]);
  const stops: (() => Promise<void> | void)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop();
  };
  let box: SealedBox;
  let repos: Repositories;
  const nodeId = nodeIdOf(config.cluster.node_id, hostname());
  // The node channel's notifications, once the parts that serve them exist.
  let routed: RoutedRequests | undefined;
  let lostBinding: ((deviceId: string) => void) | undefined;
  let learnDevices: ((payload: string) => void) | undefined;
  let taskDoneElsewhere: ((id: number) => void) | undefined;
  try {
    // Before the store: SQLite's migrations seal stored secrets under it, and every repository seals with it.
    const repositoryOptions = () => ({ sealer: box, maxParametersPerDevice: config.cwmp.max_parameters_per_device, nodeId });
    if (config.store.kind === 'sqlite') {
      ensureDirectory(store);
      const lock = acquireInstanceLock(store);
      stops.push(() => lock.release());
      box = new SealedBox(loadMasterKey(config.ca.master_key_file, config.ca.create_master_key));
      const db = openDatabase(store, { synchronous: config.store.synchronous, busyTimeoutMs: config.store.busy_timeout, sealer: box, onWarning: (message) => log.warn(`database: ${message}`) });
      stops.push(() => void db.close());
      repos = sqliteRepositories(db, store, repositoryOptions());
    } else {
      const channel = await openPgNodeChannel(postgresOptions(config.store), storeName(config.store), nodeId, {
        onLockLost: (reason) => {
          // Two processes as one node would both claim its bindings and its work: this one stops.
          log.fatal(`the node's lock was lost while its connection was down: ${reason}; stopping`);
          onFatal?.();
        },
        onRouted: (deviceId) => routed?.routed(deviceId),
        onLost: (deviceId) => lostBinding?.(deviceId),
        onDevices: (payload) => learnDevices?.(payload),
        onTaskDone: (id) => taskDoneElsewhere?.(id),
        onListening: () => void routed?.rescan(),
      });
      stops.push(() => channel.close());
      box = new SealedBox(loadMasterKey(config.ca.master_key_file, config.ca.create_master_key));
      const pool = await openPostgresStore(config.store, { onWarning: (message) => log.warn(`database: ${message}`) });
      stops.push(() => pool.end());
      repos = postgresRepositories(pool, repositoryOptions());
    }
  } catch (err) {
    await stopAll();
    // Files that exist now but not at our start belong to the stbd that holds the lock.
    if (!(err instanceof InstanceLockedError)) created.discard();
    throw err;
  }
  try {
    // The admin token may be shared with the admins' group (stbctl); the others go to one system each.
    const token = loadOrCreateToken(config.api.token_file, '[api] token_file', true);
    const bssToken = loadOrCreateToken(config.api.bss_token_file, '[api] bss_token_file');
    const mediaToken = loadOrCreateToken(config.certs.media_token_file, '[certs] media_token_file');
    const metrics = new Registry();
    collectDefaultMetrics({ register: metrics, prefix: 'stbd_' });
    // Connection deadlines run on real time: a test moving the daemon's clock by days must not cut the
    // connections it is using, and the tests of these limits use short timeouts instead.
    const guards: ListenerGuardDeps = { clock: systemClock, timers: nodeTimers, log, metrics: registerListenerMetrics(metrics) };
    // Registered before any once-only work is claimed in its name; its counts come from the keepalive path once it runs.
    let held = () => ({ owned: 0, online: 0 });
    const steering = config.store.kind === 'postgres' ? new Steering(nodeId, config.cluster.steering) : undefined;
    const cluster = new ClusterNode(
      {
        repo: repos.nodes,
        clock,
        log: log.child({ component: 'cluster' }),
        counts: () => held(),
        onFenced: (reason) => {
          log.fatal(`${reason}; stopping`);
          onFatal?.();
        },
        // A node being drained is no candidate for new STBs.
        ...(steering ? { onLive: (nodes: readonly NodeRow[]) => steering.update(nodes.filter((n) => n.drainTotal === null)) } : {}),
      },
      { nodeId, stunAddress: config.cluster.stun_address || formatListen({ host: config.cwmp.stun_address || config.stun.listen.host, port: config.cwmp.stun_port || config.stun.listen.port }), leaseMs: config.cluster.lease },
    );
    await cluster.start();
    stops.push(() => cluster.stop());
    const registry = await DeviceRegistry.open(repos.devices, clock, generateSecret, config.devices.min_password_length);
    await checkMasterKey(registry, storeName(config.store), config.ca.master_key_file);

    const scheduler = new Scheduler({ clock, store: repos.deadlines, claimRetryMs: config.cluster.lease, ...(config.store.kind === 'postgres' ? { scanMs: 2 * config.cluster.lease } : {}), onError: (err, context) => log.error({ err, context }, 'scheduled work failed'), ...host });
    // One builtin CA for the CAS and the certificate proxy, created on first use (never twice at once). It
    // signs on worker threads (started on the first certificate), never on the event loop.
    const signer = new SigningPool();
    stops.push(() => signer.close());
    const caRepo = repos.ca;
    let ca: Promise<BuiltinCa> | undefined;
    const openCa = () =>
      (ca ??= BuiltinCa.open(caRepo, box, clock, signer).catch((err: unknown) => {
        ca = undefined;
        throw err;
      }));
    // The pool revokes a recycled device's certificates; the proxy is built after it.
    let certs: CertService | undefined;
    // The HTTP adapters record their last call's outcome for /health; the builtin ones need no recorder.
    const casCalls = config.cas.kind === 'http' ? new CallOutcomeRecorder(clock) : undefined;
    const caCalls = config.ca.kind === 'http' ? new CallOutcomeRecorder(clock) : undefined;
    // Bursts (a campaign wave, sessions after a power cut, a backlog of pool entries due) start in 2 ms slices of
    // loop time, and file bodies are written in them: a keepalive arriving meanwhile waits for about one slice,
    // not for the whole burst.
    const slices = new WorkSlices(2, () => performance.now(), (fn) => void setImmediate(fn));
    const poolRepo = repos.pool;
    const pool = new PoolService(
      {
        repo: poolRepo,
        cas: makeCas(config, repos.casCertificates, box, clock, openCa, casCalls),
        scheduler,
        clock,
        log: log.child({ component: 'pool' }),
        metrics: registerPoolMetrics(metrics, { entries: () => poolRepo.countEntries(), deregistering: () => poolRepo.countDeregistering() }),
        // Like the scheduler's scan: entries pooled by a node that dies are recycled by another.
        ...(config.store.kind === 'postgres' ? { recycleScanMs: 2 * config.cluster.lease } : {}),
        pace: slices,
        onRecycled: (deviceId) => void certs?.revokeDevice(deviceId).catch((err: unknown) => log.error({ err, device: deviceId }, 'revoking the certificates of a recycled device failed')),
      },
      { maxBoundPerAccount: config.pool.max_bound_per_account, maxPooledPerAccount: config.pool.max_pooled_per_account, recycleAfterMs: config.pool.recycle_after },
    );
    const offlineAfterMs = config.stun.offline_after ?? 3 * config.stun.keepalive_period;
    const keepalive = new KeepaliveService(
      { presence: repos.presence, registry, clock, log, metrics, ...host },
      {
        listen: config.stun.listen,
        listenV6: config.stun.listen_v6,
        integrity: config.stun.integrity,
        reauthAfterMs: config.stun.reauth_after,
        offlineAfterMs,
        answerAnonymous: config.stun.answer_anonymous,
        challengesPerSecond: config.stun.challenges_per_second,
        challengeBurst: config.stun.challenge_burst,
        authFailuresPerMinute: config.stun.auth_failures_per_minute,
        authFailureBurst: config.stun.auth_failure_burst,
        nodeId: config.store.kind === 'postgres' ? nodeId : undefined,
      },
    );
    const c = config.cwmp;
    // Provisioning advertises this node's public STUN address when [cluster] stun_address names it.
    const advertised = parseStunAddress(config.cluster.stun_address);
    const serverTls = (section: 'certs' | 'cwmp' | 'files', endpoint: TlsEndpoint, listen: ListenAddress, files: { tls_cert_file: string | undefined; tls_key_file: string | undefined }): Promise<ServerTls> =>
      files.tls_cert_file !== undefined && files.tls_key_file !== undefined
        ? Promise.resolve(loadTlsFiles(`[${section}]`, files.tls_cert_file, files.tls_key_file))
        : builtinServerTls({ repo: caRepo, box, clock, openCa, endpoint, names: endpointNames(listen) });
    const cwmpTls = c.tls_listen ? await serverTls('cwmp', CWMP_ENDPOINT, c.tls_listen, c) : undefined;
    const management = new ManagementService(
      { registry, state: repos.cwmpDevices, tasks: repos.tasks, uploads: repos.uploads, leases: repos.sessionLeases, ...(steering ? { steering } : {}), sealer: box, fingerprintKey: box.derive('provisioning fingerprints'), keepalive, scheduler, clock, log, metrics, listeners: guards, slices },
      {
        listen: c.listen,
        tlsListen: c.tls_listen,
        tls: cwmpTls,
        clientCa: c.client_ca_file ? loadCaFile('[cwmp] client_ca_file', c.client_ca_file) : undefined,
        trustedProxies: c.trusted_proxies,
        limits: limitsOf(c, c.idle_timeout ?? c.session_timeout),
        bodyLimit: c.body_limit,
        sessionTimeoutMs: c.session_timeout,
        autoRegister: c.auto_register,
        stunAddress: advertised?.host ?? c.stun_address,
        stunPort: advertised?.port ?? c.stun_port,
        keepalivePeriodMs: config.stun.keepalive_period,
        taskExpiryMs: c.task_expiry,
        taskRetentionMs: c.task_retention,
        connectionRequestRetryMs: c.connection_request_retry,
        connectionRequestTimeoutMs: c.connection_request_timeout,
        bootstrapCredentials: c.bootstrap_credentials_file ? loadBootstrapCredentials(c.bootstrap_credentials_file) : new Map(),
        bootstrapReuse: c.bootstrap_reuse,
        provisioningAttempts: c.provisioning_attempts,
        subtreeBatchSize: c.subtree_batch_size,
        connectionRequestAllowBasic: c.connection_request_allow_basic,
        digestAllowRfc2069: c.digest_allow_rfc2069,
        digestNonceCapacity: c.digest_nonce_capacity,
        challengesPerSecond: c.challenges_per_second,
        challengeBurst: c.challenge_burst,
        authFailuresPerMinute: c.auth_failures_per_minute,
        authFailureBurst: c.auth_failure_burst,
        uploads: {
          maxBytes: config.uploads.max_size,
          keepPerDevice: config.uploads.keep_per_device,
          transferTimeoutMs: config.uploads.transfer_timeout,
          maxConcurrent: config.uploads.max_concurrent,
          baseUrl: config.uploads.url.replace(/\/$/, ''),
        },
      },
    );
    const certRepo = repos.certs;
    const certMetrics = registerCertMetrics(metrics, () => certRepo.countsByStatus());
    certs = new CertService(
      {
        repo: certRepo,
        ca: makeCertAuthority(config, openCa, caCalls),
        box,
        scheduler,
        clock,
        log: log.child({ component: 'certs' }),
        deviceExists: (id) => registry.exists(id),
        notify: async (deviceId, certId) => (await management.tasks.queue(deviceId, noticeRequest((await repos.cwmpDevices.get(deviceId))?.dataModel ?? 'InternetGatewayDevice.', certId), { origin: 'certs' })).task.id,
        onExpiredUnacknowledged: () => certMetrics.expiredUnacknowledged.inc(),
      },
      {
        validityMs: config.certs.validity,
        renewFraction: config.certs.renew_at_percent / 100,
        renewJitter: config.certs.renew_jitter_percent / 100,
        maxPerDevice: config.certs.max_per_device,
        derivedIds: new DerivedIdRule(config.certs.derived_id_prefix),
      },
    );
    const certService = certs;
    await certService.start();
    management.tasks.subscribe({
      finished: (t) => {
        const certId = certOfNotice(t);
        if (certId !== undefined) void certService.noticeAnswered(certId, t.id, t.status === 'done');
      },
    });

    const isOnline = (id: string) => keepalive.presenceOf(id)?.online ?? false;
    const onlineAmong = (ids: readonly string[]) => keepalive.onlineAmong(ids);
    // Presence is memory's: the selection asks the keepalive path who is online (in a cluster, any node's), after a flush.
    const selection = new DeviceSelection(repos.selection, clock, {
      flush: () => keepalive.flush(),
      seenSince: (now) => keepalive.persistedSeenSince(now),
      onlineAmong,
    });
    const profileCatalog = new ProfileCatalog({ repo: repos.profiles, scheduler, clock, log: log.child({ component: 'profiles' }) });
    const periodicInform = c.periodic_inform_profile ? new PeriodicInformProfile(c.periodic_inform_interval) : undefined;
    const profileEngine = new ProfileEngine({
      catalog: profileCatalog,
      periodicInform,
      repo: repos.profiles,
      tasks: management.tasks,
      state: repos.cwmpDevices,
      selection,
      isOnline,
      clock,
      log: log.child({ component: 'profiles' }),
    });
    management.onInform((_id, inform, state) => profileEngine.onInform(state, inform.parameters, state.lastEvents));
    const profiles = new ProfileService(profileCatalog, profileEngine, repos.profiles, periodicInform);
    await profileCatalog.start();
    stops.push(() => profileCatalog.stop());
    await scheduler.start();
    stops.push(() => scheduler.stop());
    await pool.start();
    stops.push(() => pool.stop());
    await keepalive.start();
    stops.push(() => keepalive.stop());
    held = () => ({ owned: keepalive.heldCount, online: keepalive.onlineCount });
    lostBinding = (id) => keepalive.bindingTaken(id);
    if (config.store.kind === 'postgres') {
      // Devices registered or removed through another node reach this node's keepalive path (only ids travel).
      const nodes = repos.nodes;
      const announce = (changes: string[]) => void nodes.announceDevices(nodeId, changes).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'cluster: announcing devices to the other nodes failed; they learn them at their next start'));
      registry.subscribe({
        added: (devices, elsewhere) => void (!elsewhere && announce(devices.map((d) => `+${d.id}`))),
        removed: (id, elsewhere) => void (!elsewhere && announce([`-${id}`])),
      });
      // An operator's command (`?wait=`) may be waiting on another node for a task this one ran.
      management.tasks.subscribe({
        finished: (t) => void (t.origin === 'api' && nodes.announceTaskDone(t.id).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'cluster: announcing a finished task failed; a call waiting for it on another node answers at its timeout'))),
      });
      taskDoneElsewhere = (id) => void management.tasks.finishedElsewhere(id).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'cluster: reading a task another node finished failed'));
      learnDevices = (payload) => {
        const a = parseAnnouncement(payload);
        if (a.from === nodeId) return;
        registry.learn(a.added, a.removed, (id) => keepalive.presenceOf(id) !== undefined).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'cluster: reading devices another node registered failed'));
      };
    }
    await management.start();
    stops.push(() => management.stop());
    const stunBound = keepalive.addresses.v4 ?? keepalive.addresses.v6;
    await cluster.advertise(config.cluster.stun_address || formatListen({ host: c.stun_address || (stunBound?.address ?? ''), port: c.stun_port || (stunBound?.port ?? 3478) }));
    let drain: Drain | undefined;
    if (config.store.kind === 'postgres') {
      const nodes = repos.nodes;
      routed = new RoutedRequests(
        { holds: (id) => keepalive.holdsBinding(id), request: (id) => management.callIn(id), devicesToCall: () => nodes.devicesToCall(nodeId), log: log.child({ component: 'cluster' }) },
        2 * config.cluster.lease,
      );
      routed.start();
      stops.push(() => routed?.stop());
      drain = new Drain({ repo: nodes, rehome: (id) => management.rehome(id), refresh: () => cluster.heartbeat(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)), log: log.child({ component: 'cluster' }) });
      const draining = drain;
      stops.push(() => draining.stop());
      void routed.rescan();
    }
    if (cwmpTls) log.info({ source: cwmpTls.source, notAfter: cwmpTls.notAfter.toISOString(), clientCertificates: c.client_ca_file !== undefined, trustedProxies: c.trusted_proxies.length }, 'CWMP HTTPS endpoint: server certificate loaded');
    const tls = await serverTls('certs', CERTS_ENDPOINT, config.certs.listen, config.certs);
    const stbEndpoint = new StbEndpoint(
      {
        certs: certService,
        // The STB's CWMP password: the secret it already shares with stbd (seed 002 steps 3 and 4).
        secretOf: async (id) => (await registry.get(id))?.credentials.cwmpPassword,
        clock,
        log: log.child({ component: 'certs' }),
        metrics: certMetrics,
        listeners: guards,
      },
      {
        listen: config.certs.listen,
        tls,
        limits: limitsOf(config.certs, config.certs.idle_timeout),
        nonceCapacity: config.certs.nonce_capacity,
        deviceRate: { perMinute: config.certs.device_requests_per_minute, burst: config.certs.device_request_burst },
      },
    );
    await stbEndpoint.start();
    log.info({ source: tls.source, notAfter: tls.notAfter.toISOString() }, 'STB certificate endpoint: server certificate loaded');
    stops.push(() => stbEndpoint.stop());

    const f = config.files;
    const fileStore = new FileStore(f.dir);
    await fileStore.open();
    const fileServerBox: { server?: FileServer } = {};
    const files = new FileCatalog(
      {
        repo: repos.files,
        store: fileStore,
        sealer: box,
        clock,
        log: log.child({ component: 'files' }),
        baseUrl: () => {
          const base = fileBaseUrl(f.url, { tls: fileServerBox.server?.tlsAddress, plain: fileServerBox.server?.address }, hostname());
          if (base === undefined) throw new OperatorError('devices cannot fetch files: [files] listen and tls_listen are both off and [files] url is empty');
          return base;
        },
      },
      { maxBytes: f.max_size, urlValidityMs: f.url_validity },
    );
    const fileServer = new FileServer(
      { catalog: files, store: fileStore, cache: new FileCache({ load: (name) => fileStore.readAll(name), stamp: (name) => fileStore.stamp(name), sha256: sha256OffLoop }, f.cache_size), check: new DiskCheck({ stamp: (name) => fileStore.stamp(name), read: (name, start, end) => fileStore.read(name, start, end), pace: slices }), pace: slices, log: log.child({ component: 'files' }), metrics: registerFileMetrics(metrics), listeners: guards },
      {
        listen: f.listen,
        tlsListen: f.tls_listen,
        tls: f.tls_listen ? await serverTls('files', FILES_ENDPOINT, f.tls_listen, f) : undefined,
        limits: { headerTimeoutMs: f.header_timeout, bodyTimeoutMs: f.header_timeout, idleTimeoutMs: f.idle_timeout, maxConnections: f.max_connections, maxConnectionsPerSource: f.max_connections_per_source },
      },
    );
    await fileServer.start();
    fileServerBox.server = fileServer;
    stops.push(() => fileServer.stop());

    const auth = new TokenAuth([
      { token, role: 'admin' },
      { token: bssToken, role: 'bss' },
      { token: mediaToken, role: 'media' },
    ]);
    // The API's own listener is read once the app exists (health is built before it).
    let app: FastifyInstance | undefined;
    const listeners: Listener[] = [
      { name: 'stun', bound: () => keepalive.addresses.v4 && formatListen({ host: keepalive.addresses.v4.address, port: keepalive.addresses.v4.port }) },
      ...(config.stun.listen_v6 ? [{ name: 'stun6', bound: () => keepalive.addresses.v6 && formatListen({ host: keepalive.addresses.v6.address, port: keepalive.addresses.v6.port }) }] : []),
      ...(c.listen ? [{ name: 'cwmp', bound: () => management.address && formatListen(management.address) }] : []),
      ...(c.tls_listen ? [{ name: 'cwmp-tls', bound: () => management.tlsAddress && formatListen(management.tlsAddress) }] : []),
      { name: 'certs', bound: () => (stbEndpoint.listening && stbEndpoint.address ? formatListen(stbEndpoint.address) : undefined) },
      { name: 'api', bound: () => boundAt(app?.server) },
      ...(f.listen ? [{ name: 'files', bound: () => fileServer.address && formatListen(fileServer.address) }] : []),
      ...(f.tls_listen ? [{ name: 'files-tls', bound: () => fileServer.tlsAddress && formatListen(fileServer.tlsAddress) }] : []),
    ];
    const health = new HealthService({
      store: storeCheck(repos.healthProbe, clock),
      listeners: listenersCheck(listeners),
      cas: callCheck('CAS', casCalls, clock),
      ca: callCheck('CA', caCalls, clock),
      scheduler: schedulerCheck(() => scheduler.backlog()),
    });
    const tags = new DeviceTags(repos.tags, clock);
    // Staged campaigns: the driver on this node's timer, outcomes from the management channel's events.
    const campaignLog = log.child({ component: 'campaigns' });
    loadTimeZoneData();
    const driver = new CampaignDriver(
      { repo: repos.campaigns, queue: (id, request, opts) => management.tasks.queue(id, request, opts), files, onlineAmong, scheduler, clock, log: campaignLog, nodeId: randomUUID(), slices },
      { tickMs: config.campaigns.tick, leaseMs: config.campaigns.lease, verifyTimeoutMs: config.campaigns.verify_timeout, verifyTimeoutText: formatDuration(config.campaigns.verify_timeout) },
    );
    const outcomes = new CampaignOutcomes({ repo: repos.campaigns, clock, log: campaignLog, watching: () => driver.firmwareActive }, config.campaigns.verify_timeout);
    management.tasks.subscribe({ finished: (t) => outcomes.taskFinished(t), transferred: (t) => outcomes.transferred(t) });
    management.onInform((deviceId, inform) => outcomes.informed(deviceId, inform));
    const campaigns = new CampaignService({ repo: repos.campaigns, selection, files, onlineAmong, cancelTask: (id) => management.tasks.cancel(id), clock, log: campaignLog, wake: () => void driver.tick(), slices });
    files.addUseChecker(campaigns.fileInUse);
    await driver.start();
    stops.push(() => driver.stop());
    app = buildApi({ log, clock, auth, registry, selection, tags, profiles, campaigns, keepalive, pool, management, certs: certService, files, metrics, health, backup: repos.backup, builtinCaPem: async () => (await caRepo.get(BUILTIN_CA_NAME))?.certPem, cluster, drain, version: packageVersion() });
    guardListener(app.server, { name: 'api', limits: limitsOf(config.api, config.api.idle_timeout), pastLimit: 'refuse' }, guards);
    try {
      await app.listen({ host: config.api.listen.host, port: config.api.listen.port });
    } catch (err) {
      await app.close();
      throw new ListenError('[api] listen', config.api.listen, err as NodeJS.ErrnoException);
    }
    stops.push(() => app.close());
    const bound = app.server.address() as AddressInfo;
    const api = { host: bound.address, port: bound.port };
    warnOnDescriptorBudget(config, log);
    log.info(
      { api: formatListen(api), stun: keepalive.addresses, cwmp: management.address && formatListen(management.address), cwmpTls: management.tlsAddress && formatListen(management.tlsAddress), certs: stbEndpoint.address && formatListen(stbEndpoint.address), files: fileServer.address && formatListen(fileServer.address), filesTls: fileServer.tlsAddress && formatListen(fileServer.tlsAddress), store: storeName(config.store), node: nodeId, devices: registry.count, online: keepalive.onlineCount, version: packageVersion() },
      'stbd started',
    );
    keepalive.openInBackground();
    pool.recycleInBackground();
    return {
      api,
      keepalive,
      management,
      certs: certService,
      certsEndpoint: stbEndpoint.address!,
      files,
      filesEndpoint: { plain: fileServer.address, tls: fileServer.tlsAddress },
      cluster,
      async stop() {
        await stopAll();
        log.info('stbd stopped');
      },
    };
  } catch (err) {
    await stopAll();
    created.discard();
    throw err;
  }
}

/** A listener's `[section]` limits, in the guard's terms. */
function limitsOf(s: { readonly header_timeout: number; readonly body_timeout: number; readonly max_connections: number; readonly max_connections_per_source: number }, idleTimeoutMs: number): ListenerLimits {
  return { headerTimeoutMs: s.header_timeout, bodyTimeoutMs: s.body_timeout, idleTimeoutMs, maxConnections: s.max_connections, maxConnectionsPerSource: s.max_connections_per_source };
}

/**
 * Past the open-file limit new connections fail and Node says nothing: warn at start when the
 * listeners' max_connections would let them reach it.
 */
function warnOnDescriptorBudget(config: Config, log: Logger): void {
  const limit = ownOpenFileLimit();
  const needed = descriptorsNeeded([
    // The plain and the HTTPS CWMP listeners each have the [cwmp] limits.
    ...[config.cwmp.listen, config.cwmp.tls_listen].filter((l) => l !== undefined).map(() => ({ maxConnections: config.cwmp.max_connections, sheds: true })),
    { maxConnections: config.certs.max_connections, sheds: false },
    { maxConnections: config.api.max_connections, sheds: false },
    ...[config.files.listen, config.files.tls_listen].filter((l) => l !== undefined).map(() => ({ maxConnections: config.files.max_connections, sheds: true })),
  ]);
  if (limit !== undefined && needed > limit) {
    log.warn({ openFileLimit: limit, needed }, 'the open-file limit is below what max_connections allows: connections past it fail without a log line; raise it (LimitNOFILE) or lower max_connections');
  }
}

/** A database sealed under another master key is refused at start, in words, rather than failing per device. */
async function checkMasterKey(registry: DeviceRegistry, store: string, keyFile: string): Promise<void> {
  try {
    await registry.checkSealed();
  } catch (err) {
    if (err instanceof SealError) throw new OperatorError(`the device passwords in ${store} do not open with the master key ${keyFile} (another key sealed them): start with the key the database was made with`);
    throw err;
  }
}

/** Where a TCP server is bound now, or undefined when it is not listening. */
function boundAt(server: { listening: boolean; address(): AddressInfo | string | null } | undefined): string | undefined {
  const a = server?.listening ? server.address() : null;
  return a !== null && typeof a === 'object' ? formatListen({ host: a.address, port: a.port }) : undefined;
}

/** The CA of the certificate proxy, as `[ca] kind` chooses. */
function makeCertAuthority(config: Config, openCa: () => Promise<BuiltinCa>, calls: CallOutcomeRecorder | undefined): CertificateAuthority {
  if (config.ca.kind === 'http') return new HttpCertAuthority({ url: config.ca.url, token: readSecretToken('[ca] token_file', config.ca.token_file!), timeoutMs: config.ca.timeout }, calls);
  return new BuiltinCertAuthority(openCa);
}

/** The CAS adapter `[cas] kind` chooses. */
function makeCas(config: Config, certificates: CasCertificateRepo, box: SealedBox, clock: Clock, openCa: () => Promise<BuiltinCa>, calls: CallOutcomeRecorder | undefined): Cas {
  if (config.cas.kind === 'http') {
    return new HttpCas({ url: config.cas.url, token: readSecretToken('[cas] token_file', config.cas.token_file!), timeoutMs: config.cas.timeout }, calls);
  }
  return new BuiltinCas(certificates, openCa, box, clock, config.cas.certificate_validity);
}
