import { booleanField, durationField, integerField, optionalPathField, stringField, type Field, listenField, oneOfField, optionalDurationField, optionalIpv6ListenField, optionalListenField, cidrListField, pathField, sizeField } from './fields.js';

/** A listener's timeouts are at least this (src/listeners/ arms one timer per deadline). */
const timeout = (d: string) => durationField(d, 100);
const connections = (d: number) => integerField(d, 1, 1_000_000);

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;

/**
 * Every key stbd understands, by section, with its default. Keys are spelled as in the TOML file.
 * config/stbd.toml lists the same keys with the same defaults (a test keeps the two in step).
 */
export const configSchema = {
  store: {
    kind: oneOfField(['sqlite', 'postgres'], 'sqlite'),
    path: pathField('./var/stbd.db'),
    synchronous: oneOfField(['normal', 'full'], 'normal'),
    busy_timeout: durationField('5s'),
    // PostgreSQL (kind = "postgres"): checked together in load.ts.
    url: stringField(''),
    password_file: optionalPathField(''),
    pool_size: integerField(10, 1, 1000),
    statement_timeout: durationField('5s', 100),
  },
  api: {
    listen: listenField('127.0.0.1:7557'),
    token_file: pathField('./var/api.token'),
    bss_token_file: pathField('./var/bss.token'),
    header_timeout: timeout('15s'),
    // CSV imports up to 256 MiB over a management network.
    body_timeout: timeout('5m'),
    idle_timeout: timeout('60s'),
    max_connections: connections(256),
    max_connections_per_source: connections(256),
  },
  devices: {
    min_password_length: integerField(12, 1, 128),
  },
  stun: {
    listen: listenField('0.0.0.0:3478'),
    listen_v6: optionalIpv6ListenField(''),
    integrity: oneOfField(['binding', 'always'], 'binding'),
    answer_anonymous: booleanField(true),
    reauth_after: durationField('10m'),
    keepalive_period: durationField('30s', 1000),
    offline_after: optionalDurationField('', 1000),
    challenges_per_second: integerField(100, 0, 1_000_000),
    challenge_burst: integerField(1000, 1, 1_000_000),
    auth_failures_per_minute: integerField(600, 0, 1_000_000),
    auth_failure_burst: integerField(100, 1, 1_000_000),
  },
  cwmp: {
    listen: optionalListenField('0.0.0.0:7547'),
    tls_listen: optionalListenField(''),
    tls_cert_file: optionalPathField(''),
    tls_key_file: optionalPathField(''),
    client_ca_file: optionalPathField(''),
    trusted_proxies: cidrListField(),
    auto_register: booleanField(false),
    session_timeout: durationField('30s', 1000),
    body_limit: integerField(1_048_576, 4096, 64 * 1_048_576),
    stun_address: stringField(''),
    stun_port: integerField(0, 0, 65_535),
    task_expiry: durationField('7d', 1000),
    task_retention: durationField('30d', 60_000),
    connection_request_retry: durationField('1s', 10),
    connection_request_timeout: durationField('30s', 100),
    bootstrap_credentials_file: optionalPathField(''),
    bootstrap_reuse: booleanField(true),
    provisioning_attempts: integerField(3, 1, 100),
    subtree_batch_size: integerField(32, 1, 1000),
    // The built-in profile: PeriodicInformEnable, PeriodicInformInterval and a PeriodicInformTime of each device's own.
    periodic_inform_profile: booleanField(true),
    periodic_inform_interval: durationField('1h', 60_000),
    max_parameters_per_device: integerField(20_000, 1, 10_000_000),
    connection_request_allow_basic: booleanField(false),
    digest_allow_rfc2069: booleanField(false),
    digest_nonce_capacity: integerField(100_000, 1000, 10_000_000),
    challenges_per_second: integerField(20, 0, 1_000_000),
    challenge_burst: integerField(200, 1, 1_000_000),
    auth_failures_per_minute: integerField(60, 0, 1_000_000),
    auth_failure_burst: integerField(30, 1, 1_000_000),
    header_timeout: timeout('15s'),
    body_timeout: timeout('30s'),
    // "": session_timeout (a CPE without cookies keeps its session by keeping its connection).
    idle_timeout: optionalDurationField('', 100),
    max_connections: connections(10_000),
    // Generous: many STBs may share one address behind a carrier-grade NAT.
    max_connections_per_source: connections(100),
  },
  uploads: {
    max_size: integerField(4_194_304, 1024, 64 * 1_048_576),
    keep_per_device: integerField(5, 1, 100),
    transfer_timeout: durationField('1h', 60_000),
    max_concurrent: integerField(16, 1, 1000),
    // "": the scheme and host the CPE's CWMP session came in on.
    url: stringField(''),
  },
  files: {
    dir: pathField('./var/files'),
    max_size: sizeField('512MiB', 1, 64 * 1024 ** 3),
    // The contents of the files being served, kept in memory (least recently served out first); 0: off.
    cache_size: sizeField('256MiB', 0, 64 * 1024 ** 3),
    listen: optionalListenField('0.0.0.0:7550'),
    tls_listen: optionalListenField(''),
    tls_cert_file: optionalPathField(''),
    tls_key_file: optionalPathField(''),
    // "": the scheme, address and port of a listener (HTTPS first).
    url: stringField(''),
    url_validity: durationField('24h', 60_000),
    header_timeout: timeout('15s'),
    idle_timeout: timeout('30s'),
    max_connections: connections(2000),
    // High: a campaign's boxes may share one address behind a carrier-grade NAT, and a shed fetch is a failed Download.
    max_connections_per_source: connections(1000),
  },
  campaigns: {
    // How long a firmware device has, after its Download, to report (TransferComplete) and come back on the new version.
    verify_timeout: durationField('1h', 60_000),
    // How often the driver looks at the running campaigns.
    tick: durationField('5s', 100),
    // A node that stops renewing its lease on a campaign for this long loses it to another node.
    lease: durationField('30s', 1000),
  },
  pool: {
    max_bound_per_account: integerField(5, 1, 100_000),
    max_pooled_per_account: integerField(3, 1, 100_000),
    recycle_after: durationField('7d', 1000),
  },
  cas: {
    kind: oneOfField(['builtin', 'http'], 'builtin'),
    url: stringField(''),
    token_file: optionalPathField(''),
    timeout: durationField('5s', 100),
    certificate_validity: durationField('3650d', 86_400_000),
  },
  ca: {
    master_key_file: pathField('./var/master.key'),
    create_master_key: booleanField(true),
    kind: oneOfField(['builtin', 'http'], 'builtin'),
    url: stringField(''),
    token_file: optionalPathField(''),
    timeout: durationField('10s', 100),
  },
  certs: {
    listen: listenField('0.0.0.0:7548'),
    tls_cert_file: optionalPathField(''),
    tls_key_file: optionalPathField(''),
    validity: durationField('365d', 60_000),
    renew_at_percent: integerField(67, 1, 99),
    renew_jitter_percent: integerField(5, 0, 50),
    media_token_file: pathField('./var/media.token'),
    header_timeout: timeout('15s'),
    body_timeout: timeout('10s'),
    idle_timeout: timeout('5s'),
    max_connections: connections(10_000),
    max_connections_per_source: connections(100),
    max_per_device: integerField(4, 1, 1000),
    derived_id_prefix: stringField('media-'),
    nonce_capacity: integerField(100_000, 1, 10_000_000),
    device_requests_per_minute: integerField(30, 1, 60_000),
    device_request_burst: integerField(10, 1, 10_000),
  },
  cluster: {
    // "": the host name. Unique in the cluster.
    node_id: stringField(''),
    // "": [cwmp] stun_address and stun_port, as before.
    stun_address: stringField(''),
    lease: durationField('15s', 3000),
    steering: oneOfField(['session', 'hash'], 'session'),
  },
  log: {
    level: oneOfField(LOG_LEVELS, 'info'),
  },
} satisfies Record<string, Record<string, Field<unknown>>>;

type Schema = typeof configSchema;
type ValueOf<F> = F extends Field<infer T> ? T : never;

/** The validated configuration: every key present and typed; paths absolute; durations in ms. */
export type Config = { readonly file: string } & {
  readonly [S in keyof Schema]: { readonly [K in keyof Schema[S]]: ValueOf<Schema[S][K]> };
};
