import type pg from 'pg';
import type { NodeRepo } from './cluster/node-repo.js';
import { PgNodeRepo } from './cluster/pg-node-repo.js';
import { SqliteNodeRepo } from './cluster/sqlite-node-repo.js';
import { type CaRepo, PgCaRepo, SqliteCaRepo } from './ca/ca-repo.js';
import type { CampaignRepo } from './campaigns/campaign-repo.js';
import { PgCampaignRepo } from './campaigns/pg-campaign-repo.js';
import { SqliteCampaignRepo } from './campaigns/sqlite-campaign-repo.js';
import { type CasCertificateRepo, PgCasCertificateRepo, SqliteCasCertificateRepo } from './cas/cas-certificate-repo.js';
import type { CertRepo } from './certs/cert-repo.js';
import { PgCertRepo } from './certs/pg-cert-repo.js';
import { SqliteCertRepo } from './certs/sqlite-cert-repo.js';
import type { DeviceRepo } from './devices/device-repo.js';
import { PgDeviceRepo } from './devices/pg-device-repo.js';
import { SqliteDeviceRepo } from './devices/sqlite-device-repo.js';
import { PgSelectionRepo } from './devices/pg-selection-repo.js';
import { PgTagRepo } from './devices/pg-tag-repo.js';
import type { SelectionRepo } from './devices/selection-repo.js';
import { SqliteSelectionRepo } from './devices/sqlite-selection-repo.js';
import { SqliteTagRepo } from './devices/sqlite-tag-repo.js';
import type { TagRepo } from './devices/tag-repo.js';
import { PgPresenceRepo, type PresenceRepo, SqlitePresenceRepo } from './keepalive/presence-repo.js';
import type { CwmpDeviceRepo } from './management/cwmp-device-repo.js';
import { PgCwmpDeviceRepo } from './management/pg-cwmp-device-repo.js';
import { PgTaskRepo } from './management/pg-task-repo.js';
import { SqliteCwmpDeviceRepo } from './management/sqlite-cwmp-device-repo.js';
import { SqliteTaskRepo } from './management/sqlite-task-repo.js';
import type { TaskRepo } from './management/task-repo.js';
import { PgUploadRepo } from './management/pg-upload-repo.js';
import { SqliteUploadRepo } from './management/sqlite-upload-repo.js';
import type { UploadRepo } from './management/upload-repo.js';
import type { FileRepo } from './files/file-repo.js';
import { PgFileRepo } from './files/pg-file-repo.js';
import { SqliteFileRepo } from './files/sqlite-file-repo.js';
import { LocalSessionLeases, type SessionLeaseRepo } from './management/session-lease-repo.js';
import { PgSessionLeases } from './management/pg-session-lease-repo.js';
import { PgPoolRepo } from './pool/pg-pool-repo.js';
import type { PoolRepo } from './pool/pool-repo.js';
import { PgProfileRepo } from './profiles/pg-profile-repo.js';
import type { ProfileRepo } from './profiles/profile-repo.js';
import { SqliteProfileRepo } from './profiles/sqlite-profile-repo.js';
import { SqlitePoolRepo } from './pool/sqlite-pool-repo.js';
import type { Sealer } from './sealed-text.js';
import { StoreBackup } from './store/backup.js';
import type { Database } from './store/database.js';
import { DeadlineRepo, PgDeadlineRepo } from './store/deadline-repo.js';
import { type HealthProbeRepo, PgHealthProbeRepo, SqliteHealthProbeRepo } from './store/health-probe-repo.js';
import type { DeadlineStore } from './timer/scheduler.js';

/**
 * Every feature's repository on one open store. The daemon builds its services from these and never learns
 * which engine is underneath; the one thing that differs for an operator is how the store is backed up.
 */
export interface Repositories {
  readonly engine: 'sqlite' | 'postgres';
  readonly devices: DeviceRepo;
  readonly tags: TagRepo;
  /** Devices by selector (stbctl --where, ?where=). */
  readonly selection: SelectionRepo;
  readonly presence: PresenceRepo;
  readonly tasks: TaskRepo;
  readonly cwmpDevices: CwmpDeviceRepo;
  readonly uploads: UploadRepo;
  /** The files stbd serves (stbctl file). */
  readonly files: FileRepo;
  /** Staged campaigns and their devices. */
  readonly campaigns: CampaignRepo;
  /** Profiles and each device's standing with them. */
  readonly profiles: ProfileRepo;
  /** One CWMP session per device cluster-wide (on SQLite the one node's own map of sessions). */
  readonly sessionLeases: SessionLeaseRepo;
  readonly pool: PoolRepo;
  readonly ca: CaRepo;
  readonly casCertificates: CasCertificateRepo;
  readonly certs: CertRepo;
  readonly deadlines: DeadlineStore;
  readonly healthProbe: HealthProbeRepo;
  /** The nodes of the cluster (on SQLite the one node). */
  readonly nodes: NodeRepo;
  /** SQLite's online backup (`stbctl backup`); PostgreSQL is backed up with its own tools. */
  readonly backup: StoreBackup | undefined;
}

export interface RepositoryOptions {
  readonly sealer: Sealer;
  readonly maxParametersPerDevice: number;
  /** This node's id in the cluster: PostgreSQL's writes are fenced by it. */
  readonly nodeId: string;
}

export function sqliteRepositories(db: Database, path: string, o: RepositoryOptions): Repositories {
  return {
    engine: 'sqlite',
    devices: new SqliteDeviceRepo(db, o.sealer),
    tags: new SqliteTagRepo(db),
    selection: new SqliteSelectionRepo(db, o.sealer),
    presence: new SqlitePresenceRepo(db),
    tasks: new SqliteTaskRepo(db, o.sealer),
    cwmpDevices: new SqliteCwmpDeviceRepo(db, o.maxParametersPerDevice),
    uploads: new SqliteUploadRepo(db),
    files: new SqliteFileRepo(db),
    campaigns: new SqliteCampaignRepo(db),
    profiles: new SqliteProfileRepo(db, o.sealer),
    sessionLeases: new LocalSessionLeases(),
    pool: new SqlitePoolRepo(db),
    ca: new SqliteCaRepo(db),
    casCertificates: new SqliteCasCertificateRepo(db),
    certs: new SqliteCertRepo(db),
    deadlines: new DeadlineRepo(db),
    healthProbe: new SqliteHealthProbeRepo(db),
    nodes: new SqliteNodeRepo(db),
    backup: new StoreBackup(db, path),
  };
}

export function postgresRepositories(pool: pg.Pool, o: RepositoryOptions): Repositories {
  return {
    engine: 'postgres',
    devices: new PgDeviceRepo(pool, o.sealer),
    tags: new PgTagRepo(pool),
    selection: new PgSelectionRepo(pool, o.sealer),
    presence: new PgPresenceRepo(pool, o.nodeId),
    tasks: new PgTaskRepo(pool, o.sealer, o.nodeId),
    cwmpDevices: new PgCwmpDeviceRepo(pool, o.maxParametersPerDevice, o.nodeId),
    uploads: new PgUploadRepo(pool),
    files: new PgFileRepo(pool),
    campaigns: new PgCampaignRepo(pool),
    profiles: new PgProfileRepo(pool, o.sealer),
    sessionLeases: new PgSessionLeases(pool),
    pool: new PgPoolRepo(pool, o.nodeId),
    ca: new PgCaRepo(pool),
    casCertificates: new PgCasCertificateRepo(pool),
    certs: new PgCertRepo(pool, o.nodeId),
    deadlines: new PgDeadlineRepo(pool, o.nodeId),
    healthProbe: new PgHealthProbeRepo(pool),
    nodes: new PgNodeRepo(pool),
    backup: undefined,
  };
}
