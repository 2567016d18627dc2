import { writeFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { Problem, sizeField } from '../config/fields.js';
import { firmwareImage } from '../sim/firmware-image.js';
import { CWMP_VERSIONS } from '../sim/cpe-soap.js';
import { credentialsOf, deviceIds, simDeviceCsv } from '../sim/credentials.js';
import { DEFAULTS, parseCredentials, parseHostPort, resolveOptions, SimOptionError, type SimulatorOptions } from '../sim/options.js';
import { Simulator } from '../sim/simulator.js';
import { statusLine } from '../sim/status-line.js';
import { packageVersion } from '../version.js';
import { ApiClient } from './stbctl/api-client.js';
import { CliError } from './stbctl/cli-error.js';
import { plural } from './stbctl/output.js';
import { resolveTarget, type TargetOptions } from './stbctl/target.js';

/** Exit codes: 0 success, 1 the run failed (e.g. registration), 2 the command line was wrong. */

const number = (v: string): number => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError('not a number.');
  return n;
};
/** A SimOptionError from a parser, as commander's usage error. */
const argument =
  <T>(parse: (v: string) => T) =>
  (v: string): T => {
    try {
      return parse(v);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  };
const hostPort = argument((v) => parseHostPort(v));
const credentials = argument(parseCredentials);

interface RawOptions extends TargetOptions {
  count: number;
  start: number;
  prefix: string;
  secret: string;
  dataModel: NonNullable<SimulatorOptions['dataModel']>;
  acs: string;
  caFile?: string;
  cert?: string;
  key?: string;
  auth: NonNullable<SimulatorOptions['auth']>;
  cwmpVersion: NonNullable<SimulatorOptions['cwmpVersion']>;
  informInterval: number;
  keepaliveInterval?: number;
  rebootDelay: number;
  downloadDelay: number;
  sessionTimeout: number;
  retryDelay: number;
  behindNat: boolean;
  bind: string;
  advertiseHost?: string;
  httpCr: boolean;
  stun?: { host: string; port: number };
  bootInform: boolean;
  loss: number;
  dropCr: number;
  responseDelay: number;
  faultRate: number;
  downloadFailRate: number;
  brickRate: number;
  lieRate: number;
  factoryCredentials?: { username: string; password: string };
  partialPath: boolean;
  contentType: string;
  certs?: string;
  certIdPrefix: string;
  fetchCertEvery?: number;
  certNoticeDelay: number;
  valueChangeEvery?: number;
  uploadMethod: 'PUT' | 'POST';
  register: boolean;
}

function simulatorOptions(o: RawOptions): SimulatorOptions {
  return {
    count: o.count,
    start: o.start,
    prefix: o.prefix,
    secret: o.secret,
    dataModel: o.dataModel,
    acsUrl: o.acs,
    auth: o.auth,
    cwmpVersion: o.cwmpVersion,
    informIntervalS: o.informInterval,
    rebootDelayMs: o.rebootDelay,
    downloadDelayMs: o.downloadDelay,
    sessionTimeoutMs: o.sessionTimeout,
    retryDelayMs: o.retryDelay,
    behindNat: o.behindNat,
    bind: o.bind,
    httpCr: o.httpCr,
    bootInform: o.bootInform,
    loss: o.loss,
    dropCr: o.dropCr,
    responseDelayMs: o.responseDelay,
    faultRate: o.faultRate,
    downloadFailRate: o.downloadFailRate,
    brickRate: o.brickRate,
    lieRate: o.lieRate,
    partialPath: o.partialPath,
    contentType: o.contentType,
    certIdPrefix: o.certIdPrefix,
    certNoticeDelayMs: o.certNoticeDelay,
    uploadMethod: o.uploadMethod,
    ...(o.valueChangeEvery !== undefined ? { valueChangeEveryS: o.valueChangeEvery } : {}),
    ...(o.certs !== undefined ? { certsUrl: o.certs } : {}),
    ...(o.caFile !== undefined ? { caFile: o.caFile } : {}),
    ...(o.cert !== undefined ? { certFile: o.cert } : {}),
    ...(o.key !== undefined ? { keyFile: o.key } : {}),
    ...(o.fetchCertEvery !== undefined ? { fetchCertEveryS: o.fetchCertEvery } : {}),
    ...(o.keepaliveInterval !== undefined ? { keepaliveIntervalS: o.keepaliveInterval } : {}),
    ...(o.advertiseHost !== undefined ? { advertiseHost: o.advertiseHost } : {}),
    ...(o.stun ? { stun: o.stun } : {}),
    ...(o.factoryCredentials ? { factoryCredentials: o.factoryCredentials } : {}),
  };
}

/** The identity options, shared by the run and `csv`. */
function identityOptions(cmd: Command): Command {
  return cmd
    .option('-n, --count <n>', 'number of simulated STBs', number, DEFAULTS.count)
    .option('--start <i>', 'index of the first STB (ids are PREFIX + index zero-padded to 4 digits)', number, DEFAULTS.start)
    .option('--prefix <text>', 'device id prefix', DEFAULTS.prefix)
    .option('--secret <text>', 'secret all credentials are derived from (HMAC-SHA256), so stbd can be told them', DEFAULTS.secret);
}

/** POST /v1/devices for every device; 409 (already registered) is fine. */
async function register(o: RawOptions): Promise<void> {
  const client = new ApiClient(resolveTarget(o, process.env));
  const ids = deviceIds(o);
  let created = 0;
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next++] as string;
      try {
        const { cwmpUsername, cwmpPassword, ...others } = credentialsOf(o.secret, id);
        // With factory credentials the STB does not know its derived CWMP pair: the ACS sets its own.
        const json = { id, ...others, ...(o.factoryCredentials ? {} : { cwmpUsername, cwmpPassword }) };
        await client.request('POST', '/v1/devices', { json });
        created++;
      } catch (err) {
        if (!(err instanceof CliError && err.code === 'conflict')) throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(16, ids.length) }, worker));
  process.stderr.write(`stbsim: registered ${plural(created, 'device')} with stbd at ${client.target.baseUrl} (${ids.length - created} already there)\n`);
}

async function run(o: RawOptions): Promise<void> {
  const options = simulatorOptions(o);
  resolveOptions(options); // a bad value is a usage error: before registering anything
  if (o.register) await register(o);
  const sim = new Simulator(options);
  await sim.start();
  const n = sim.devices.length;
  const certs = sim.options.certsUrl === undefined ? '' : `, certificates from ${sim.options.certsUrl}${sim.options.fetchCertEveryS === undefined ? '' : ` every ${sim.options.fetchCertEveryS} s`}`;
  process.stderr.write(`stbsim: ${plural(n, 'STB')} ${sim.devices[0]?.id}…${sim.devices.at(-1)?.id} → ACS ${sim.options.acsUrl}, CR ports on ${sim.options.bind}${certs}\n`);
  const status = setInterval(() => process.stderr.write(`stbsim: ${statusLine(n, sim.stats)}\n`), 5000);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  clearInterval(status);
  await sim.stop();
  process.stderr.write(`stbsim: stopped. ${statusLine(n, sim.stats)}\n`);
}

const program = identityOptions(
  new Command('stbsim')
    .description(
      'Simulates set-top boxes for stbd: each STB sends STUN keepalives (TR-111) from its own UDP port, takes UDP ' +
        '(and with --http-cr HTTP) Connection Requests on that port, and runs CWMP (TR-069) sessions against the ACS. ' +
        'With --certs, STBs fetch their media certificate from the certificate proxy (--fetch-cert-every, and after each ' +
        '"certificate needs update" notice, the vendor parameter X_STBD_Certificate.UpdateRequired). ' +
        'Runs until SIGINT/SIGTERM, with a status line every 5 s on stderr.',
    )
    .version(packageVersion()),
)
  .addOption(new Option('--data-model <model>', 'TR-098 (InternetGatewayDevice.), TR-181 (Device.) or both alternately').choices(['tr098', 'tr181', 'mixed']).default(DEFAULTS.dataModel))
  .option('--acs <url>', 'ACS (stbd CWMP endpoint) URL: http://, or https:// for [cwmp] tls_listen', DEFAULTS.acsUrl)
  .option('--ca-file <file>', 'with an https:// ACS: trust the CAs in this PEM file (e.g. from `stbctl ca --pem`) instead of Node\'s')
  .option('--cert <file>', 'with an https:// ACS: present this client certificate (PEM; {id} in the path is each STB\'s id), so the ACS knows the STB by it ([cwmp] client_ca_file); needs --key')
  .option('--key <file>', 'the private key of --cert (PEM; {id} as in --cert)')
  .addOption(new Option('--auth <scheme>', 'CWMP HTTP authentication: answer Digest challenges, or send Basic up front').choices(['digest', 'basic']).default(DEFAULTS.auth))
  .addOption(new Option('--cwmp-version <v>', 'CWMP namespace version of our messages (urn:dslforum-org:cwmp-V)').choices([...CWMP_VERSIONS]).default(DEFAULTS.cwmpVersion))
  .option('--inform-interval <s>', 'periodic Inform interval in seconds (PeriodicInformInterval, until the ACS sets it)', number, DEFAULTS.informIntervalS)
  .option('--keepalive-interval <s>', 'STUN keepalive period in seconds (default: STUNMinimumKeepAlivePeriod, 30)', number)
  .option('--stun <host:port>', 'pre-provision STUN: keepalives to this server from the start (else when the ACS enables them)', hostPort)
  .option('--behind-nat', 'act as if behind a home NAT (loopback has none): report NATDetected=true and a private LAN host (192.168.1.2) in ConnectionRequestURL, so the ACS provisions STUN keepalives', false)
  .option('--bind <ip>', 'local address of the STBs\' UDP/HTTP sockets', DEFAULTS.bind)
  .option('--advertise-host <host>', 'host in ConnectionRequestURL (default: --bind, or 192.168.1.2 with --behind-nat)')
  .option('--http-cr', 'also accept HTTP connection requests (Digest, realm "stbsim") on each STB\'s port, over TCP', false)
  .option('--no-boot-inform', 'do not Inform at start; wait for a connection request or the periodic timer')
  .option('--reboot-delay <ms>', 'how long a Reboot keeps the STB down', number, DEFAULTS.rebootDelayMs)
  .option('--download-delay <ms>', 'time from the end of the session that sent a Download to fetching its file', number, DEFAULTS.downloadDelayMs)
  .option('--download-fail-rate <p>', 'probability of reporting a Download failed (TransferComplete with fault 9010) although the file arrived', number, DEFAULTS.downloadFailRate)
  .option('--brick-rate <p>', 'probability that installing a firmware image kills the STB: it never comes back', number, DEFAULTS.brickRate)
  .option('--lie-rate <p>', 'probability that an STB reports a firmware install successful, reboots, and stays on its old version', number, DEFAULTS.lieRate)
  .option('--session-timeout <ms>', 'how long to wait for each ACS answer before the session fails', number, DEFAULTS.sessionTimeoutMs)
  .option('--retry-delay <ms>', 'base of the retry backoff after a failed session (n-th retry: base·2^(n-1) to twice that)', number, DEFAULTS.retryDelayMs)
  .option('--loss <p>', 'probability of losing each incoming UDP connection request and each outgoing STUN packet', number, DEFAULTS.loss)
  .option('--drop-cr <n>', 'drop the first N UDP connection requests each STB receives', number, DEFAULTS.dropCr)
  .option('--response-delay <ms>', 'wait this long before answering each RPC', number, DEFAULTS.responseDelayMs)
  .option('--fault-rate <p>', 'probability of answering an RPC with fault 9002 (Internal error)', number, DEFAULTS.faultRate)
  .option(
    '--factory-credentials <user:pass>',
    'every STB leaves the factory with ManagementServer.Username/Password USER/PASS (one pair for all, as real CPE models ' +
      'have; PASS may be empty) instead of its derived CWMP credentials, and logs in with it until the ACS sets its own; ' +
      'a FactoryReset brings it back. Run stbd with a bootstrap credentials file listing the pair ([cwmp] ' +
      'bootstrap_credentials_file) and usually [cwmp] auto_register; --register then registers the STBs without CWMP credentials',
    credentials,
  )
  .option('--no-partial-path', 'answer a GetParameterValues that names a partial path ("….") with fault 9005, as some CPEs do (GetParameterNames still works)')
  .option(
    '--content-type <value>',
    'Content-Type of the CWMP POSTs, sent verbatim (e.g. xml, "text/xml,charset=utf-8", application/soap+xml; "" sends none). ' +
      'A charset of ISO-8859-1 or latin1 in it makes the bodies ISO-8859-1, XML declaration included',
    DEFAULTS.contentType,
  )
  .option('--certs <url>', 'the certificate proxy\'s STB endpoint ([certs] listen), e.g. https://127.0.0.1:7548; its TLS certificate is not verified')
  .option('--cert-id-prefix <text>', 'each STB\'s certificate id is this prefix + its device id (the daemon lets an STB create only [certs] derived_id_prefix + its id)', DEFAULTS.certIdPrefix)
  .option('--fetch-cert-every <s>', 'fetch the certificate (proof, unwrap, sign once, forget the key) every this many seconds; needs --certs', number)
  .option('--cert-notice-delay <ms>', 'after a "certificate needs update" notice, fetch this long after the session (also the retry backoff base)', number, DEFAULTS.certNoticeDelayMs)
  .option(
    '--value-change-every <s>',
    'every this many seconds (the first at a random point of the first period) the STB changes one of its own values at random ' +
      '(X_STBSIM_Player.Channel, Volume, Standby, as a viewer would); once the ACS set passive or active notification on it ' +
      '(stbctl set-attributes), the change is reported in an Inform with "4 VALUE CHANGE" (active: at once)',
    number,
  )
  .addOption(new Option('--upload-method <method>', 'how an Upload sends its file to the URL the ACS gave').choices(['PUT', 'POST']).default(DEFAULTS.uploadMethod))
  .option('--register', 'first register the STBs with stbd\'s admin API (409 already registered is fine)', false)
  .option('-c, --config <file>', 'with --register: read [api] listen and [api] token_file from this stbd config file')
  .option('--api <url>', 'with --register: admin API base URL (env STBD_API)')
  .option('--token <token>', 'with --register: admin API bearer token (env STBD_TOKEN)')
  .allowExcessArguments(false)
  .exitOverride()
  .addHelpText(
    'after',
    `
Examples:
  stbsim --count 100 --register --behind-nat          STBs behind a (simulated) NAT, registered through the API
  stbsim --count 20 --factory-credentials acs:secret  CPEs sharing one factory login (stbd needs a bootstrap file)
  stbsim --count 10 --loss 0.2 --drop-cr 2             a lossy network: lost keepalives and connection requests
  stbsim csv --count 1000 > devices.csv                the devices' CSV for 'stbctl devices import'
  stbsim make-firmware 2.1.0 fw.bin --size 4MiB        a firmware image the STBs install (then: stbctl file add)

Exit codes: 0 ok (stopped with Ctrl-C), 1 the run failed (e.g. registration), 2 the command line was wrong.`,
  )
  .action(async (_opts, cmd: Command) => run(cmd.opts<RawOptions>()));

program
  .command('csv')
  .description('print the device CSV for `stbctl devices import FILE` (ids and credentials of --count STBs) and exit')
  .action((_opts, cmd: Command) => {
    const o = cmd.optsWithGlobals<RawOptions>();
    resolveOptions({ count: o.count, start: o.start });
    process.stdout.write(simDeviceCsv(o));
  });

program
  .command('make-firmware <version> <file>')
  .description(
    'write a simulator firmware image: a first line "STBSIM-FIRMWARE version=VERSION", padded to --size. A simulated STB ' +
      'that downloads it as "1 Firmware Upgrade Image" reboots into VERSION (DeviceInfo.SoftwareVersion); any other file it just keeps',
  )
  .option('--size <bytes>', 'pad the image to this size, up to 1GiB (bytes, or with KiB, MiB, GiB: "4MiB")')
  .action((version: string, file: string, opts: { size?: string }) => {
    let size: number | undefined;
    if (opts.size !== undefined) {
      const parsed = sizeField('0', 1, 1024 ** 3).parse(opts.size, { cwd: process.cwd() });
      if (parsed instanceof Problem) throw new SimOptionError(`--size: ${parsed.message}`);
      size = parsed;
    }
    let image: Buffer;
    try {
      image = firmwareImage(version, size);
    } catch (err) {
      throw new SimOptionError((err as Error).message);
    }
    try {
      writeFileSync(file, image);
    } catch (err) {
      throw new CliError('io', `cannot write ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    process.stderr.write(`stbsim: wrote firmware ${version} to ${file} (${plural(image.length, 'byte')})\n`);
  });

try {
  await program.parseAsync();
  process.exit(0);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2);
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`stbsim: ${message}\n`);
  process.exit(err instanceof SimOptionError || (err instanceof CliError && err.code === 'bad-usage') ? 2 : 1);
}
