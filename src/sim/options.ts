import { isIP } from 'node:net';
import { CWMP_VERSIONS, type CwmpVersion } from './cpe-soap.js';

/** The LAN address simulated STBs behind NAT report (RFC 1918; never contacted). */
export const SIMULATED_LAN_HOST = '192.168.1.2';

export type DataModelChoice = 'tr098' | 'tr181' | 'mixed';

/** Everything a Simulator can be told; every field has a default (see DEFAULTS). */
export interface SimulatorOptions {
  readonly count?: number;
  readonly start?: number;
  readonly prefix?: string;
  readonly secret?: string;
  readonly dataModel?: DataModelChoice;
  readonly acsUrl?: string;
  /** https:// ACS: a PEM file of the CAs to trust (default: Node's), and a client certificate and key to present ({id}: the STB's id). */
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  readonly auth?: 'digest' | 'basic';
  readonly cwmpVersion?: CwmpVersion;
  readonly informIntervalS?: number;
  /** Overrides STUNMinimumKeepAlivePeriod as the keepalive period (seconds; fractions allowed). */
  readonly keepaliveIntervalS?: number;
  readonly rebootDelayMs?: number;
  readonly downloadDelayMs?: number;
  /** How long to wait for the ACS's answer to one POST before the session counts as failed. */
  readonly sessionTimeoutMs?: number;
  /** TR-069 retry backoff base (m): the n-th retry waits m·2^(n-1) to twice that. */
  readonly retryDelayMs?: number;
  readonly behindNat?: boolean;
  readonly bind?: string;
  /** The host in ConnectionRequestURL; default: `bind`, or a private LAN address with `behindNat`. */
  readonly advertiseHost?: string;
  readonly httpCr?: boolean;
  /** Pre-provisioned STUN server. */
  readonly stun?: { readonly host: string; readonly port: number };
  /** Inform ("1 BOOT") at start; false waits for a connection request or the periodic timer. */
  readonly bootInform?: boolean;
  readonly loss?: number;
  readonly dropCr?: number;
  readonly responseDelayMs?: number;
  readonly faultRate?: number;
  /** Probability that a Download that arrived whole is still reported failed (TransferComplete with fault 9010). */
  readonly downloadFailRate?: number;
  /** Probability that an STB installing a firmware image never comes back (bricked: no Inform, no keepalive). */
  readonly brickRate?: number;
  /** Probability that an STB installing a firmware image reports success and reboots, but stays on its old version. */
  readonly lieRate?: number;
  /**
   * The ManagementServer.Username/Password every STB leaves the factory with (one pair for all, as real CPE
   * models have), instead of its derived CWMP credentials. A FactoryReset brings it back.
   */
  readonly factoryCredentials?: { readonly username: string; readonly password: string };
  /** false: a GetParameterValues naming a partial path ("….") is answered with fault 9005, as some CPEs do. */
  readonly partialPath?: boolean;
  /**
   * The Content-Type of the STB's CWMP POSTs, verbatim ('' sends none). A charset of ISO-8859-1 (or latin1)
   * anywhere in it makes the bodies ISO-8859-1, their XML declaration included.
   */
  readonly contentType?: string;
  /** The certificate proxy's STB endpoint, e.g. https://127.0.0.1:7548 (the server certificate is not verified). */
  readonly certsUrl?: string;
  /** Certificate ids are this prefix + the device id ("media-sim-0001"): the daemon's derived ids with the default [certs] derived_id_prefix. */
  readonly certIdPrefix?: string;
  /** Fetch the certificate every this many seconds (first at a random point of the first period). */
  readonly fetchCertEveryS?: number;
  /** After a "certificate needs update" notice: wait this long after the session, then fetch; also the base of the retry backoff. */
  readonly certNoticeDelayMs?: number;
  /**
   * Every this many seconds (the first at a random point of the first period) the STB changes one of its
   * volatile values (X_STBSIM_Player.Channel, Volume, Standby) at random, as a viewer would: with passive or
   * active notification set on it by the ACS, the change is reported with "4 VALUE CHANGE".
   */
  readonly valueChangeEveryS?: number;
  /** How an Upload sends its file: PUT (TR-069's advice) or POST. */
  readonly uploadMethod?: 'PUT' | 'POST';
  readonly random?: () => number;
  /** Unix ms (CurrentTime, UpTime, TransferComplete times). */
  readonly now?: () => number;
}

type Filled<T> = { readonly [K in keyof T]-?: T[K] };
type Optional = 'keepaliveIntervalS' | 'stun' | 'certsUrl' | 'fetchCertEveryS' | 'valueChangeEveryS' | 'factoryCredentials' | 'caFile' | 'certFile' | 'keyFile';
export type ResolvedOptions = Filled<Omit<SimulatorOptions, Optional | 'advertiseHost'>> & Pick<SimulatorOptions, Optional> & { readonly advertiseHost: string };

export const DEFAULTS = {
  count: 1,
  start: 1,
  prefix: 'sim-',
  secret: 'stbsim',
  dataModel: 'tr098',
  acsUrl: 'http://127.0.0.1:7547/',
  auth: 'digest',
  cwmpVersion: '1-0',
  informIntervalS: 300,
  rebootDelayMs: 500,
  downloadDelayMs: 1000,
  sessionTimeoutMs: 30_000,
  retryDelayMs: 5000,
  behindNat: false,
  bind: '127.0.0.1',
  httpCr: false,
  bootInform: true,
  loss: 0,
  dropCr: 0,
  responseDelayMs: 0,
  faultRate: 0,
  downloadFailRate: 0,
  brickRate: 0,
  lieRate: 0,
  partialPath: true,
  contentType: 'text/xml; charset="utf-8"',
  certIdPrefix: 'media-',
  certNoticeDelayMs: 100,
  uploadMethod: 'PUT',
} as const satisfies SimulatorOptions;

/** A bad option value, named by its command-line flag. */
export class SimOptionError extends Error {
  override name = 'SimOptionError';
}

const fail = (flag: string, want: string, got: unknown): never => {
  throw new SimOptionError(`${flag} must be ${want}, got ${JSON.stringify(got)}`);
};
const integer = (flag: string, v: number, min: number) => (Number.isSafeInteger(v) && v >= min ? v : fail(flag, min === 0 ? 'an integer ≥ 0' : `an integer ≥ ${min}`, v));
const nonNegative = (flag: string, v: number) => (Number.isFinite(v) && v >= 0 ? v : fail(flag, 'a number ≥ 0', v));
const probability = (flag: string, v: number) => (Number.isFinite(v) && v >= 0 && v <= 1 ? v : fail(flag, 'a probability between 0 and 1', v));

/** Fills in the defaults and checks every value. @throws SimOptionError */
export function resolveOptions(o: SimulatorOptions): ResolvedOptions {
  const r = { ...DEFAULTS, random: Math.random, now: Date.now, ...o };
  integer('--count', r.count, 1);
  integer('--start', r.start, 0);
  integer('--inform-interval', r.informIntervalS, 0);
  for (const [flag, v] of [['--reboot-delay', r.rebootDelayMs], ['--download-delay', r.downloadDelayMs], ['--response-delay', r.responseDelayMs], ['--retry-delay', r.retryDelayMs], ['--cert-notice-delay', r.certNoticeDelayMs]] as const) nonNegative(flag, v);
  if (!(r.sessionTimeoutMs > 0)) fail('--session-timeout', 'a number > 0', r.sessionTimeoutMs);
  if (r.keepaliveIntervalS !== undefined && !(r.keepaliveIntervalS > 0)) fail('--keepalive-interval', 'a number of seconds > 0', r.keepaliveIntervalS);
  integer('--drop-cr', r.dropCr, 0);
  probability('--loss', r.loss);
  probability('--fault-rate', r.faultRate);
  probability('--download-fail-rate', r.downloadFailRate);
  probability('--brick-rate', r.brickRate);
  probability('--lie-rate', r.lieRate);
  if (!['tr098', 'tr181', 'mixed'].includes(r.dataModel)) fail('--data-model', 'tr098, tr181 or mixed', r.dataModel);
  if (!['digest', 'basic'].includes(r.auth)) fail('--auth', 'digest or basic', r.auth);
  if (!(CWMP_VERSIONS as readonly string[]).includes(r.cwmpVersion)) fail('--cwmp-version', `one of ${CWMP_VERSIONS.join(', ')}`, r.cwmpVersion);
  if (isIP(r.bind) === 0) fail('--bind', 'an IP address', r.bind);
  if (!/^https?:\/\/[^/]+/.test(r.acsUrl) || !URL.canParse(r.acsUrl)) fail('--acs', 'an http:// URL (or https://)', r.acsUrl);
  if ((r.certFile === undefined) !== (r.keyFile === undefined)) throw new SimOptionError('--cert and --key go together (the client certificate and its private key)');
  if (r.certsUrl !== undefined && (!/^https?:\/\/[^/]+/.test(r.certsUrl) || !URL.canParse(r.certsUrl))) fail('--certs', 'an https:// (or http://) URL', r.certsUrl);
  if (r.fetchCertEveryS !== undefined) {
    if (!(r.fetchCertEveryS > 0) || !Number.isFinite(r.fetchCertEveryS)) fail('--fetch-cert-every', 'a number of seconds > 0', r.fetchCertEveryS);
    if (r.certsUrl === undefined) throw new SimOptionError('--fetch-cert-every needs --certs URL');
  }
  if (r.valueChangeEveryS !== undefined && (!(r.valueChangeEveryS > 0) || !Number.isFinite(r.valueChangeEveryS))) fail('--value-change-every', 'a number of seconds > 0', r.valueChangeEveryS);
  if (!['PUT', 'POST'].includes(r.uploadMethod)) fail('--upload-method', 'PUT or POST', r.uploadMethod);
  if (r.factoryCredentials) checkCredentials(r.factoryCredentials.username, r.factoryCredentials.password);
  // Node refuses to send a header with control characters (and a line break would be header injection).
  if (typeof r.contentType !== 'string' || !/^[\t\x20-\x7e]*$/.test(r.contentType)) fail('--content-type', 'printable ASCII (or empty: no header)', r.contentType);
  if (r.stun && (r.stun.host === '' || !Number.isInteger(r.stun.port) || r.stun.port < 1 || r.stun.port > 65535)) fail('--stun', 'HOST:PORT', `${r.stun.host}:${r.stun.port}`);
  // Behind a (simulated) NAT the STB knows only its LAN address: that is what its ConnectionRequestURL shows,
  // and how stbd tells it is behind NAT even on loopback.
  return { ...r, advertiseHost: o.advertiseHost ?? (r.behindNat ? SIMULATED_LAN_HOST : r.bind) };
}

const CREDENTIALS = 'USER:PASS with a non-empty USER (PASS may be empty)';

function checkCredentials(username: string, password: string): void {
  // USER cannot hold ':' (Basic authentication splits there).
  if (typeof username !== 'string' || typeof password !== 'string' || username === '' || username.includes(':')) fail('--factory-credentials', CREDENTIALS, `${username}:${password}`);
}

/** "USER:PASS" (split at the first ':', so PASS may hold ':') → parts. @throws SimOptionError */
export function parseCredentials(text: string): { username: string; password: string } {
  const colon = text.indexOf(':');
  if (colon <= 0) return fail('--factory-credentials', CREDENTIALS, text);
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** "HOST:PORT" or "[IPv6]:PORT" → parts. @throws SimOptionError */
export function parseHostPort(text: string, flag = '--stun'): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const port = Number(m?.[3]);
  if (!m || port < 1 || port > 65535) return fail(flag, 'HOST:PORT (e.g. 127.0.0.1:3478)', text);
  return { host: (m[1] ?? m[2]) as string, port };
}
