import type { Drain } from '../cluster/drain.js';
import type { ClusterNode } from '../cluster/cluster-node.js';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { CampaignService } from '../campaigns/campaign-service.js';
import type { CertService } from '../certs/cert-service.js';
import type { Clock } from '../clock.js';
import type { Registry } from 'prom-client';
import type { DeviceRegistry } from '../devices/registry.js';
import type { DeviceSelection } from '../devices/selection.js';
import type { DeviceTags } from '../devices/tags.js';
import type { FileCatalog } from '../files/file-catalog.js';
import type { ProfileService } from '../profiles/profile-service.js';
import type { HealthService } from '../health/health-service.js';
import type { StoreBackup } from '../store/backup.js';
import type { KeepaliveService } from '../keepalive/keepalive-service.js';
import type { PoolService } from '../pool/pool-service.js';
import type { ManagementService } from '../management/management-service.js';
import type { Logger } from '../log/logger.js';
import type { Role, TokenAuth } from './auth.js';
import { ApiError, installErrorHandling } from './errors.js';
import { campaignRoutes } from './routes/campaigns.js';
import { certRoutes } from './routes/certs.js';
import { fileRoutes } from './routes/files.js';
import { deviceRoutes } from './routes/devices.js';
import { backupRoutes } from './routes/backup.js';
import { caRoutes } from './routes/ca.js';
import { clusterRoutes } from './routes/cluster.js';
import { healthRoutes } from './routes/health.js';
import { metricsRoutes } from './routes/metrics.js';
import { poolRoutes } from './routes/pool.js';
import { profileRoutes } from './routes/profiles.js';
import { tagRoutes } from './routes/tags.js';
import { taskRoutes } from './routes/tasks.js';
import { uploadRoutes } from './routes/uploads.js';

export interface ApiDeps {
  readonly log: Logger;
  readonly clock: Clock;
  readonly auth: TokenAuth;
  readonly registry: DeviceRegistry;
  readonly selection: DeviceSelection;
  readonly tags: DeviceTags;
  readonly campaigns: CampaignService;
  readonly profiles: ProfileService;
  readonly keepalive: KeepaliveService;
  readonly pool: PoolService;
  readonly management: ManagementService;
  readonly certs: CertService;
  readonly files: FileCatalog;
  readonly metrics: Registry;
  readonly health: HealthService;
  /** Undefined on PostgreSQL, which is backed up with its own tools. */
  readonly backup: StoreBackup | undefined;
  /** The builtin CA's certificate, if it exists. */
  readonly builtinCaPem: () => Promise<string | undefined>;
  readonly cluster: ClusterNode;
  /** `cluster drain` (PostgreSQL only: on SQLite there is no other node to move STBs to). */
  readonly drain: Drain | undefined;
  readonly version: string;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call the route: anyone, the BSS or the media system (and the admin), or the admin only (the default). */
    access?: 'public' | Role;
  }
}

/** JSON bodies are small; CSV imports get their own, larger limit on their route. */
const JSON_BODY_LIMIT = 1024 * 1024;

/** The admin HTTP API: thin routes over the features. */
export function buildApi(deps: ApiDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.log.child({ component: 'api' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: JSON_BODY_LIMIT,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // Ids in paths are up to 256 characters, more once URL-encoded; the route schemas enforce the real limits.
    routerOptions: { maxParamLength: 4096 },
    // Unknown fields are errors, not silently dropped.
    ajv: { customOptions: { removeAdditional: false } },
  });
  installErrorHandling(app);
  app.addHook('onRequest', async (req) => {
    const access = req.routeOptions.config.access ?? 'admin';
    if (access === 'public') return;
    const role = deps.auth.roleOf(req.headers.authorization);
    if (role === undefined) throw new ApiError(401, 'unauthorized', 'missing or wrong bearer token (see [api] token_file)');
    if (role !== 'admin' && role !== access) throw new ApiError(403, 'forbidden', `this token may not call ${req.method} ${req.routeOptions.url}`);
  });
  app.addHook('onResponse', async (req, reply) => {
    req.log.debug({ method: req.method, url: req.routeOptions.url, status: reply.statusCode, ms: reply.elapsedTime }, 'request');
  });
  healthRoutes(app, deps);
  backupRoutes(app, deps);
  caRoutes(app, deps);
  clusterRoutes(app, deps);
  metricsRoutes(app, deps);
  deviceRoutes(app, deps);
  tagRoutes(app, deps);
  profileRoutes(app, deps);
  poolRoutes(app, deps);
  taskRoutes(app, deps);
  uploadRoutes(app, deps);
  fileRoutes(app, deps);
  certRoutes(app, deps);
  campaignRoutes(app, deps);
  return app;
}
