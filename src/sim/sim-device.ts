import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TransportAddress } from '../stun/address.js';
import { MessageType } from '../stun/constants.js';
import { decode, DecodeError } from '../stun/decode.js';
import { type AcsTls, acsTlsOf } from './acs-tls.js';
import { CertClient, type CertFetchResult } from './cert-client.js';
import type { CpeSoap, AcsMessage, CwmpVersion } from './cpe-soap.js';
import { credentialsOf, type SimCredentials } from './credentials.js';
import { CwmpAgent, type InformEvent } from './cwmp-agent.js';
import { CwmpFault, FaultCode } from './cwmp-fault.js';
import { runSession } from './cwmp-session.js';
import { type DataModel, MANUFACTURER, MODEL_PATHS, type ModelPaths, OUI, PRODUCT_CLASS, treeDefinition, VOLATILE } from './data-model.js';
import { HttpCrServer } from './http-cr-server.js';
import type { ResolvedOptions } from './options.js';
import { ParamTree } from './param-tree.js';
import { phaseOf } from './periodic-schedule.js';
import { type AfterSession, handleRpc } from './rpc-handler.js';
import { downloadFile } from './download-client.js';
import { FIRMWARE_HEADER_BYTES, firmwareVersionOf } from './firmware-image.js';
import { uploadFile } from './upload-client.js';
import { SessionHttp } from './session-http.js';
import type { SimEventMap, SimStats } from './sim-events.js';
import { type StunConfig, StunAgent } from './stun-agent.js';
import { UdpCrValidator } from './udp-cr.js';

export interface SimDeviceDeps {
  readonly id: string;
  readonly model: DataModel;
  readonly options: ResolvedOptions;
  readonly stats: SimStats;
  readonly soap: CpeSoap;
  emit<K extends keyof SimEventMap>(event: K, ...args: SimEventMap[K]): void;
}

interface PendingTransfer {
  readonly commandKey: string;
  readonly faultCode: number;
  readonly faultString: string;
  readonly startTime: string;
  readonly completeTime: string;
}

const ev = (code: string, commandKey = ''): InformEvent => ({ code, commandKey });
const BOOT = ev('1 BOOT');
const BOOTSTRAP = ev('0 BOOTSTRAP');
/** Fetches after a certificate update notice while the proxy still serves the old version (backoff doubles). */
const NOTICE_FETCHES = 8;
/** Lines of the device's log (what an Upload of "2 Vendor Log File" sends), newest kept. */
const LOG_LINES = 500;

/** What a device remembers of its certificate: never the key. */
export interface CertificateState {
  readonly certId: string;
  readonly version: number;
  /** ISO time. */
  readonly notAfter: string;
  readonly updatePending: boolean;
}

/**
 * One simulated STB: its parameter tree, the UDP socket that sends STUN keepalives and receives UDP
 * Connection Requests, an optional HTTP connection-request endpoint on the same port number, and the
 * CWMP agent that opens sessions and answers RPCs.
 */
export class SimDevice {
  readonly id: string;
  readonly model: DataModel;
  readonly credentials: SimCredentials;
  readonly tree: ParamTree;
  readonly paths: ModelPaths;
  /** The last session: its Inform events, outcome and the RPCs it carried. */
  lastSession: SimEventMap['session-end'][0] | undefined;
  /** The certificate the media system tells this STB to present (seed 002 step 1). */
  certId: string;

  readonly #d: SimDeviceDeps;
  readonly #o: ResolvedOptions;
  readonly #stun: StunAgent;
  readonly #agent: CwmpAgent;
  readonly #cr = new UdpCrValidator();
  readonly #timers = new Set<NodeJS.Timeout>();
  #socket: Socket | undefined;
  #http: HttpCrServer | undefined;
  #abort: AbortController | undefined;
  #crReceived = 0;
  #down = false;
  /** A firmware install bricked it: it never comes back. */
  #bricked = false;
  #bootedAt = 0;
  #bootstrapped = false;
  #informId = 0;
  #stunKey = '';
  #periodicKey = '';
  #transfer: PendingTransfer | undefined;
  #certificate: CertificateState | undefined;
  /** Certificate fetches run one after another. */
  #certChain: Promise<unknown> = Promise.resolve();
  #certAbort: AbortController | undefined;
  #live = false;
  readonly #acsTls: AcsTls;
  /** Uploads in flight stop with the device. */
  #transferAbort: AbortController | undefined;
  readonly #log: string[] = [];

  constructor(deps: SimDeviceDeps) {
    this.#d = deps;
    this.#o = deps.options;
    this.id = deps.id;
    this.model = deps.model;
    this.credentials = credentialsOf(this.#o.secret, deps.id);
    this.#acsTls = acsTlsOf(this.#o, deps.id);
    this.certId = `${this.#o.certIdPrefix}${deps.id}`;
    this.paths = MODEL_PATHS[deps.model];
    const c = this.credentials;
    const stun = this.#o.stun ? { ...this.#o.stun, username: c.stunUsername, password: c.stunPassword } : undefined;
    this.tree = new ParamTree(
      treeDefinition(deps.model, {
        id: deps.id,
        acsUrl: this.#o.acsUrl,
        // The factory defaults: tree.reset() (FactoryReset) brings them back.
        cwmpUsername: this.#o.factoryCredentials?.username ?? c.cwmpUsername,
        cwmpPassword: this.#o.factoryCredentials?.password ?? c.cwmpPassword,
        crUsername: c.crUsername,
        crPassword: c.crPassword,
        informIntervalS: this.#o.informIntervalS,
        wanAddress: this.#o.advertiseHost,
        ...(stun ? { stun } : {}),
      }),
    );
    this.#stun = new StunAgent({
      send: (bytes, port, host) => this.#socket?.send(bytes, port, host, () => {}),
      onBinding: (address, changed) => this.#onBinding(address, changed),
      onOutcome: (o) => {
        const s = this.#d.stats;
        if (o === 'sent') s.stunSent++;
        else if (o === 'lost') s.stunLost++;
        else if (o === 'timeout') s.stunTimeouts++;
        else s.stunResponses++;
        if (o === 'unauthorized') s.stun401++;
        this.#d.emit('stun', { device: this.id, outcome: o });
      },
      loss: this.#o.loss,
      random: this.#o.random,
    });
    this.#agent = new CwmpAgent({
      session: (events, retryCount) => this.#session(events, retryCount),
      abort: () => this.#abort?.abort(),
      random: this.#o.random,
      retryDelayMs: this.#o.retryDelayMs,
      now: this.#o.now,
    });
  }

  /** The UDP (and HTTP) connection-request port. */
  get crPort(): number | undefined {
    return this.#socket?.address().port;
  }

  /** The mapped address of the last STUN success response. */
  get stunBinding(): TransportAddress | undefined {
    return this.#stun.binding;
  }

  /** Events not yet delivered by an Inform. */
  get pendingEvents(): readonly InformEvent[] {
    return this.#agent.pending;
  }

  /** The certificate last fetched (id, version, validity), or undefined: the key itself is never kept. */
  get certificate(): CertificateState | undefined {
    return this.#certificate;
  }

  /** True between a reboot's "down" and "up". */
  get rebooting(): boolean {
    return this.#down;
  }

  /** A firmware install (--brick-rate) left it dead: down for good. */
  get bricked(): boolean {
    return this.#bricked;
  }

  /** DeviceInfo.SoftwareVersion: the firmware it runs. */
  get softwareVersion(): string {
    return this.tree.value(`${this.paths.root}DeviceInfo.SoftwareVersion`) ?? '';
  }

  #ms(name: string): string {
    return `${this.paths.root}ManagementServer.${name}`;
  }

  async start(): Promise<void> {
    const socket = createSocket(isIPv6(this.#o.bind) ? 'udp6' : 'udp4');
    socket.on('message', (msg) => this.#onDatagram(msg));
    // Send failures (unreachable STUN server, say) are the network's business: keepalives retransmit.
    socket.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, this.#o.bind, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    this.#socket = socket;
    this.#live = true;
    this.#certAbort = new AbortController();
    this.#transferAbort = new AbortController();
    this.#armCertFetch(true);
    this.#armValueChanges(true);
    const port = socket.address().port;
    if (this.#o.httpCr) {
      this.#http = new HttpCrServer({
        credentials: () => this.#crCredentials(),
        onAccepted: () => this.#crAccepted('http'),
        onRejected: () => {
          this.#d.stats.crRejected['bad-auth']++;
          this.#d.emit('cr-rejected', { device: this.id, transport: 'http', reason: 'bad-auth' });
        },
      });
      await this.#http.listen(port, this.#o.bind);
    }
    const host = isIPv6(this.#o.advertiseHost) ? `[${this.#o.advertiseHost}]` : this.#o.advertiseHost;
    this.changeValue(this.#ms('ConnectionRequestURL'), `http://${host}:${port}/`);
    const events = this.#bootstrapped ? [BOOT] : [BOOTSTRAP, BOOT];
    this.#bootstrapped = true;
    this.#boot(events, this.#o.bootInform);
  }

  async stop(): Promise<void> {
    this.#live = false;
    this.#certAbort?.abort();
    this.#transferAbort?.abort();
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#stun.stop();
    this.#stunKey = '';
    await this.#agent.stop();
    await this.#http?.close();
    this.#http = undefined;
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
    await this.#certChain;
  }

  /**
   * Seed 002 steps 2–5 from the STB's side: asks the certificate proxy for `certId` (default: this.certId);
   * on not-found/expired acknowledges and asks again; on valid unwraps the key, signs `challenge` (default:
   * random) with it once and forgets it. The result carries what a media system would verify. Emits `cert`.
   * Fetches run one at a time, in call order. Never rejects.
   */
  fetchCertificate(opts: { readonly certId?: string; readonly challenge?: string } = {}): Promise<CertFetchResult> {
    const run = async (): Promise<CertFetchResult> => {
      const certId = opts.certId ?? this.certId;
      const { stats, emit } = this.#d;
      const url = this.#o.certsUrl;
      const result: CertFetchResult =
        url === undefined
          ? { status: 'error', certId, error: 'no certificate proxy URL (--certs URL)' }
          : await new CertClient({
              url,
              stbId: this.id,
              secret: () => this.tree.value(this.#ms('Password')) ?? this.credentials.cwmpPassword,
              timeoutMs: this.#o.sessionTimeoutMs,
              now: this.#o.now,
              ...(this.#certAbort ? { signal: this.#certAbort.signal } : {}),
              onRequest: () => stats.certRequests++,
            }).fetch(certId, opts.challenge);
      if (result.status === 'valid') {
        stats.certsValid++;
        this.#certificate = { certId, version: result.version, notAfter: result.notAfter, updatePending: result.updatePending };
      } else {
        stats.certsFailed++;
        if (result.status !== 'error' && this.#certificate?.certId === certId) this.#certificate = undefined;
      }
      emit('cert', { device: this.id, ...result });
      return result;
    };
    const p = this.#certChain.then(run);
    this.#certChain = p.catch(() => undefined);
    return p;
  }

  /** --fetch-cert-every: the first fetch at a random point of the first period (STBs do not all ask at once). */
  #armCertFetch(first: boolean): void {
    const every = this.#o.fetchCertEveryS;
    if (every === undefined) return;
    this.#later(every * 1000 * (first ? this.#o.random() : 1), async () => {
      if (!this.#down) await this.fetchCertificate();
      if (this.#live) this.#armCertFetch(false);
    });
  }

  /** After an update notice: fetch until the proxy serves the renewed certificate (it renews after our answer). */
  async #fetchAfterNotice(certId: string, attempt: number): Promise<void> {
    if (!this.#live) return;
    const r = await this.fetchCertificate({ certId });
    const stale = r.status === 'error' || (r.status === 'valid' && r.updatePending);
    if (!stale || attempt + 1 >= NOTICE_FETCHES || !this.#live) return;
    this.#later((this.#o.certNoticeDelayMs || 50) * 2 ** attempt, () => this.#fetchAfterNotice(certId, attempt + 1));
  }

  /**
   * The device itself changes a value (a viewer zapping, say), as opposed to the ACS: with active notification
   * it calls in at once with "4 VALUE CHANGE", with passive the change goes with its next Inform.
   * @returns the parameter's notification level (0: the change is not reported)
   */
  changeValue(name: string, value: string): 0 | 1 | 2 {
    const level = this.tree.setInternal(name, value);
    if (level === 0) return 0;
    this.#d.stats.valueChanges++;
    this.#note(`value change ${name}=${value} (${level === 2 ? 'active' : 'passive'} notification)`);
    this.#d.emit('value-change', { device: this.id, name, value, notification: level === 2 ? 'active' : 'passive' });
    if (level === 2) this.#agent.trigger(ev('4 VALUE CHANGE'));
    else this.#agent.queue(ev('4 VALUE CHANGE'));
    return level;
  }

  /** --value-change-every: the box changes one of its volatile values (VOLATILE) at random, first at a random point of the first period. */
  #armValueChanges(first: boolean): void {
    const every = this.#o.valueChangeEveryS;
    if (every === undefined) return;
    this.#later(every * 1000 * (first ? this.#o.random() : 1), () => {
      if (!this.#live) return;
      if (!this.#down) {
        const v = VOLATILE[Math.min(VOLATILE.length - 1, Math.floor(this.#o.random() * VOLATILE.length))]!;
        const name = `${this.paths.root}${v.name}`;
        this.changeValue(name, v.next(this.#o.random(), this.tree.value(name) ?? ''));
      }
      this.#armValueChanges(false);
    });
  }

  /** The device's log: what an Upload of its log file sends. */
  #note(line: string): void {
    this.#log.push(`${this.#iso()} ${line}`);
    if (this.#log.length > LOG_LINES) this.#log.splice(0, this.#log.length - LOG_LINES);
  }

  /**
   * SetParameterValues as the ACS would send it, outside a session: keepalives and the periodic timer
   * follow the new values. @throws CwmpFault
   */
  setParameters(values: readonly { readonly name: string; readonly value: string }[], parameterKey = ''): readonly string[] {
    const changed = this.tree.setValues(values, parameterKey);
    this.#applyChanges(changed);
    return changed;
  }

  #applyChanges(changed: readonly string[] | undefined): void {
    if (!changed || changed.length === 0) return;
    this.#applyStun();
    this.#applyPeriodic();
  }

  /** Resolves when no session is running. */
  idle(): Promise<void> {
    return this.#agent.idle();
  }

  #boot(events: InformEvent[], inform: boolean): void {
    this.#bootedAt = this.#o.now();
    this.#down = false;
    this.#applyStun();
    this.#applyPeriodic();
    this.#agent.start();
    if (inform) this.#agent.trigger(...events);
    else this.#agent.queue(...events);
  }

  #later(ms: number, fn: () => void | Promise<void>): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      void fn();
    }, ms);
    this.#timers.add(t);
  }

  // ---- STUN and connection requests ----

  #stunConfig(): StunConfig | undefined {
    const v = (n: string) => this.tree.value(this.#ms(n)) ?? '';
    const port = Number(v('STUNServerPort'));
    if (v('STUNEnable') !== 'true' || !(port > 0)) return undefined;
    // An empty STUNServerAddress means the ACS's host (TR-098/TR-181).
    const host = v('STUNServerAddress') || new URL(v('URL') || this.#o.acsUrl).hostname.replace(/^\[|\]$/g, '');
    const periodS = this.#o.keepaliveIntervalS ?? (Number(v('STUNMinimumKeepAlivePeriod')) || 30);
    return { host, port, username: v('STUNUsername') || this.credentials.stunUsername, password: v('STUNPassword') || this.credentials.stunPassword, intervalMs: periodS * 1000 };
  }

  /** (Re)starts keepalives when their parameters changed; a reboot always restarts them. */
  #applyStun(): void {
    const config = this.#stunConfig();
    const key = JSON.stringify(config ?? null);
    if (key === this.#stunKey) return;
    this.#stunKey = key;
    this.#stun.configure(config);
    // Behind NAT the STB says so from the start, STUN on or not (TR-111 allows NATDetected before STUN).
    this.changeValue(this.#ms('NATDetected'), String(this.#o.behindNat));
    if (!config) this.changeValue(this.#ms('UDPConnectionRequestAddress'), '');
  }

  /** Re-arms the periodic timer when PeriodicInformEnable/Interval/Time changed (the agent re-arms it at boot). */
  #applyPeriodic(): void {
    const enabled = this.tree.value(this.#ms('PeriodicInformEnable')) === 'true';
    const intervalMs = Number(this.tree.value(this.#ms('PeriodicInformInterval'))) * 1000;
    const phaseMs = phaseOf(this.tree.value(this.#ms('PeriodicInformTime')));
    const key = `${enabled}/${intervalMs}/${phaseMs}`;
    if (key === this.#periodicKey) return;
    this.#periodicKey = key;
    this.#agent.setPeriodic(enabled, intervalMs, phaseMs);
  }

  /** When the next periodic Inform is due (Unix ms), or undefined when they are off. */
  get nextPeriodicInformAt(): number | undefined {
    return this.#agent.nextPeriodicAt;
  }

  #onBinding(address: TransportAddress, changed: boolean): void {
    const local = this.#socket?.address();
    const natted = this.#o.behindNat || address.address !== local?.address || address.port !== local?.port;
    this.changeValue(this.#ms('NATDetected'), String(natted));
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    this.changeValue(this.#ms('UDPConnectionRequestAddress'), `${host}:${address.port}`);
    this.#d.emit('stun-binding', { device: this.id, address, changed });
  }

  #crCredentials(): { username: string; password: string } {
    return { username: this.tree.value(this.#ms('ConnectionRequestUsername')) ?? '', password: this.tree.value(this.#ms('ConnectionRequestPassword')) ?? '' };
  }

  #onDatagram(msg: Buffer): void {
    if (this.#down) return;
    const packet = decode(msg);
    if (!(packet instanceof DecodeError) && (packet.type === MessageType.BindingSuccess || packet.type === MessageType.BindingError)) {
      this.#stun.handle(packet);
      return;
    }
    // Anything else is taken for a connection request: a bad one is counted as bad-format.
    const { stats, emit } = this.#d;
    const drop = this.#crReceived++ < this.#o.dropCr ? 'drop-cr' : this.#o.loss > 0 && this.#o.random() < this.#o.loss ? 'loss' : undefined;
    if (drop) {
      stats.crDropped++;
      emit('cr-dropped', { device: this.id, why: drop });
      return;
    }
    const verdict = this.#cr.check(msg, this.#crCredentials());
    if (verdict.ok) return this.#crAccepted('udp');
    stats.crRejected[verdict.reason]++;
    emit('cr-rejected', { device: this.id, transport: 'udp', reason: verdict.reason });
  }

  #crAccepted(transport: 'udp' | 'http'): void {
    this.#d.stats.crAccepted++;
    this.#d.emit('cr-accepted', { device: this.id, transport });
    this.#agent.trigger(ev('6 CONNECTION REQUEST'));
  }

  // ---- CWMP sessions ----

  #iso(ms = this.#o.now()): string {
    return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }

  /** `changed`: notified values the device changed since the last delivered Inform (TR-069 3.2.1), in its ParameterList too. */
  #informXml(events: readonly InformEvent[], retryCount: number, changed: readonly { name: string; value: string; type: string }[]): string {
    const r = this.paths.root;
    const names = [`${r}DeviceInfo.HardwareVersion`, `${r}DeviceInfo.SoftwareVersion`, `${r}DeviceInfo.ProvisioningCode`, this.#ms('ConnectionRequestURL'), this.#ms('ParameterKey')];
    if (this.tree.value(this.#ms('STUNEnable')) === 'true') names.push(this.#ms('NATDetected'), this.#ms('UDPConnectionRequestAddress'));
    else if (this.#o.behindNat) names.push(this.#ms('NATDetected'));
    names.push(this.paths.wanAddress);
    return this.#d.soap.inform(this.#o.cwmpVersion, `${this.id}-${++this.#informId}`, {
      deviceId: { manufacturer: MANUFACTURER, oui: OUI, productClass: PRODUCT_CLASS, serialNumber: this.id },
      events,
      currentTime: this.#iso(),
      retryCount,
      parameters: [...this.tree.getValues(names), ...changed.filter((c) => !names.includes(c.name))],
    });
  }

  async #session(events: readonly InformEvent[], retryCount: number): Promise<void> {
    const { stats, emit, soap } = this.#d;
    emit('session-start', { device: this.id, events, retryCount });
    stats.informs++;
    const abort = new AbortController();
    this.#abort = abort;
    const ms = (n: string) => this.tree.value(this.#ms(n)) ?? '';
    const http = new SessionHttp({
      url: ms('URL') || this.#o.acsUrl,
      auth: this.#o.auth,
      // Whatever the tree holds: the factory pair until the ACS sets its own.
      username: ms('Username'),
      password: ms('Password'),
      contentType: this.#o.contentType,
      charset: soap.charset,
      timeoutMs: this.#o.sessionTimeoutMs,
      signal: abort.signal,
      tls: this.#acsTls,
    });
    const transfer = this.#transfer;
    const after: AfterSession[] = [];
    const rpcs: string[] = [];
    const changed = this.tree.changed();
    this.#note(`session: ${events.map((e) => e.code).join(', ')}`);
    try {
      const result = await runSession(http, soap, {
        inform: this.#informXml(events, retryCount, changed),
        ...(transfer ? { transferComplete: soap.transferComplete(this.#o.cwmpVersion, `${this.id}-${++this.#informId}`, transfer) } : {}),
        answer: (m) => {
          rpcs.push(m.method);
          return this.#answer(m, after, abort.signal);
        },
      });
      if (result.transferCompleteDelivered && this.#transfer === transfer) this.#transfer = undefined;
    } catch (err) {
      stats.sessionsFailed++;
      this.#note(`session failed: ${(err as Error).message}`);
      this.lastSession = { device: this.id, ok: false, events, rpcs, error: (err as Error).message };
      emit('session-end', this.lastSession);
      throw err;
    } finally {
      http.close();
      this.#abort = undefined;
    }
    stats.sessionsOk++;
    this.tree.delivered(changed.map((c) => c.name));
    this.#note(`session over: ${rpcs.length > 0 ? rpcs.join(', ') : 'no RPCs'}`);
    this.lastSession = { device: this.id, ok: true, events, rpcs };
    emit('session-end', this.lastSession);
    // After the session has ended (the agent's bookkeeping included): a CPE never reboots mid-session.
    if (after.length > 0) this.#later(0, () => this.#afterSession(after));
  }

  async #answer(msg: AcsMessage, after: AfterSession[], signal: AbortSignal): Promise<string> {
    const { stats, emit, soap } = this.#d;
    stats.rpcs[msg.method] = (stats.rpcs[msg.method] ?? 0) + 1;
    if (this.#o.responseDelayMs > 0) await sleep(this.#o.responseDelayMs, undefined, { signal }).catch(() => {});
    const version: CwmpVersion = msg.version;
    try {
      if (this.#o.faultRate > 0 && this.#o.random() < this.#o.faultRate) throw new CwmpFault(FaultCode.InternalError);
      this.changeValue(`${this.paths.root}DeviceInfo.UpTime`, String(Math.max(0, Math.floor((this.#o.now() - this.#bootedAt) / 1000))));
      const result = handleRpc(this.tree, msg, { partialPath: this.#o.partialPath });
      this.#applyChanges(result.changed);
      if (result.after) after.push(result.after);
      if (result.after?.kind === 'cert-update') {
        stats.certNotices++;
        emit('cert-update-notice', { device: this.id, certId: result.after.certId });
      }
      this.#note(`${msg.method} answered`);
      emit('rpc', { device: this.id, method: msg.method });
      return soap.envelope(version, msg.id, result.method, result.content);
    } catch (err) {
      const fault = err instanceof CwmpFault ? err : new CwmpFault(FaultCode.InternalError, (err as Error).message);
      stats.faultsSent++;
      this.#note(`${msg.method} answered with fault ${fault.code}: ${fault.message}`);
      emit('rpc', { device: this.id, method: msg.method, fault: fault.code });
      return soap.fault(version, msg.id, fault);
    }
  }

  async #afterSession(actions: readonly AfterSession[]): Promise<void> {
    const sessionEnd = this.#iso();
    for (const a of actions) {
      if (a.kind === 'download') {
        this.#later(this.#o.downloadDelayMs, () => this.#download(a, sessionEnd));
      } else if (a.kind === 'upload') {
        this.#later(a.delaySeconds * 1000, () => this.#upload(a, sessionEnd));
      } else if (a.kind === 'schedule-inform') {
        this.#later(a.delaySeconds * 1000, () => this.#agent.trigger(ev('3 SCHEDULED'), ev('M ScheduleInform', a.commandKey)));
      } else if (a.kind === 'cert-update') {
        this.#later(this.#o.certNoticeDelayMs, () => this.#fetchAfterNotice(a.certId, 0));
      }
    }
    const reset = actions.some((a) => a.kind === 'factory-reset');
    const reboot = actions.find((a) => a.kind === 'reboot');
    if (reset) await this.#reboot([BOOTSTRAP, BOOT], true);
    else if (reboot) await this.#reboot([ev('M Reboot', reboot.commandKey), BOOT], false);
  }

  /**
   * TR-069 Upload for real: the configuration file (every writable parameter, passwords empty) or the log,
   * PUT (--upload-method) to the URL, then a session with "7 TRANSFER COMPLETE", "M Upload" reports how it went.
   */
  async #upload(a: Extract<AfterSession, { kind: 'upload' }>, startTime: string): Promise<void> {
    if (!this.#live) return;
    const { stats, emit } = this.#d;
    const body = Buffer.from(a.what === 'config' ? this.tree.configFile() : `${this.#log.join('\n')}\n`, 'utf8');
    const outcome = await uploadFile({
      url: a.url,
      method: this.#o.uploadMethod,
      body,
      contentType: 'text/plain; charset=utf-8',
      username: a.username,
      password: a.password,
      timeoutMs: this.#o.sessionTimeoutMs,
      tls: this.#acsTls,
      ...(this.#transferAbort ? { signal: this.#transferAbort.signal } : {}),
    });
    if (!this.#live) return;
    if (outcome.ok) stats.uploads++;
    else stats.uploadsFailed++;
    this.#note(`upload of the ${a.what === 'config' ? 'configuration' : 'log'} (${body.length} bytes): ${outcome.ok ? `HTTP ${outcome.status}` : outcome.error}`);
    emit('upload', { device: this.id, commandKey: a.commandKey, what: a.what, bytes: body.length, ok: outcome.ok, ...(outcome.status === undefined ? {} : { status: outcome.status }) });
    this.#transfer = {
      commandKey: a.commandKey,
      faultCode: outcome.ok ? 0 : FaultCode.UploadFailure,
      faultString: outcome.ok ? '' : `Upload failure: ${outcome.error}`,
      startTime,
      completeTime: this.#iso(),
    };
    this.#agent.trigger(ev('7 TRANSFER COMPLETE'), ev('M Upload', a.commandKey));
  }

  /**
   * TR-069 Download for real: GET of the URL (http or https, the token in it), the size checked against
   * FileSize. A simulator firmware image sent as "1 Firmware Upgrade Image" is installed: the STB reboots
   * into its version and reports the transfer in its first session after ("1 BOOT", "7 TRANSFER COMPLETE",
   * "M Download"), as a real CPE does. Any other file is kept (no reboot). --download-fail-rate,
   * --brick-rate and --lie-rate make it fail, die, or report success and stay on its old version.
   */
  async #download(a: Extract<AfterSession, { kind: 'download' }>, startTime: string): Promise<void> {
    if (!this.#live) return;
    const { stats, emit } = this.#d;
    const got = await downloadFile({ url: a.url, timeoutMs: this.#o.sessionTimeoutMs, keepBytes: FIRMWARE_HEADER_BYTES, tls: this.#acsTls, ...(this.#transferAbort ? { signal: this.#transferAbort.signal } : {}) });
    if (!this.#live) return;
    const random = () => this.#o.random();
    let error = got.ok ? undefined : got.error;
    if (got.ok && a.fileSize > 0 && got.size !== a.fileSize) error = `got ${got.size} bytes, FileSize says ${a.fileSize}`;
    if (error === undefined && this.#o.downloadFailRate > 0 && random() < this.#o.downloadFailRate) error = 'simulated failure (--download-fail-rate)';
    const bytes = got.ok ? got.size : 0;
    const status = got.status === undefined ? {} : { status: got.status };
    const report = (faultString: string) => {
      this.#transfer = { commandKey: a.commandKey, faultCode: faultString === '' ? 0 : FaultCode.DownloadFailure, faultString, startTime, completeTime: this.#iso() };
    };
    if (error !== undefined) {
      stats.downloadsFailed++;
      this.#note(`download of ${a.url.split('?')[0]} failed: ${error}`);
      emit('download', { device: this.id, commandKey: a.commandKey, ok: false, bytes, ...status, outcome: 'failed', error });
      report(`Download failure: ${error}`);
      this.#agent.trigger(ev('7 TRANSFER COMPLETE'), ev('M Download', a.commandKey));
      return;
    }
    stats.downloads++;
    const firmware = got.ok && a.fileType.startsWith('1 ') ? firmwareVersionOf(got.head) : undefined;
    if (firmware === undefined) {
      this.#note(`download of ${bytes} bytes stored`);
      emit('download', { device: this.id, commandKey: a.commandKey, ok: true, bytes, ...status, outcome: 'stored' });
      report('');
      this.#agent.trigger(ev('7 TRANSFER COMPLETE'), ev('M Download', a.commandKey));
      return;
    }
    if (this.#o.brickRate > 0 && random() < this.#o.brickRate) {
      stats.bricked++;
      this.#note(`firmware ${firmware}: install failed, the box is dead`);
      emit('download', { device: this.id, commandKey: a.commandKey, ok: true, bytes, ...status, firmware, outcome: 'bricked' });
      this.#bricked = true;
      await this.#reboot([], false);
      return;
    }
    const lies = this.#o.lieRate > 0 && random() < this.#o.lieRate;
    if (!lies) {
      stats.firmwareInstalled++;
      this.tree.setInternal(`${this.paths.root}DeviceInfo.SoftwareVersion`, firmware);
    }
    this.#note(`firmware ${firmware} ${lies ? 'reported installed, old version kept' : 'installed'}; rebooting`);
    emit('download', { device: this.id, commandKey: a.commandKey, ok: true, bytes, ...status, firmware, outcome: lies ? 'lied' : 'installed' });
    report('');
    await this.#reboot([ev('7 TRANSFER COMPLETE'), ev('M Download', a.commandKey), BOOT], false);
  }

  /** Goes down (no keepalives, deaf to connection requests), loses its STUN state, comes back and Informs (unless bricked). */
  async #reboot(events: InformEvent[], factoryReset: boolean): Promise<void> {
    this.#down = true;
    this.#d.emit('reboot', { device: this.id, phase: 'down' });
    this.#stun.stop();
    this.#stunKey = '';
    await this.#agent.stop();
    // What a reboot makes moot; a factory reset forgets everything.
    this.#agent.discard(factoryReset ? this.#agent.pending.map((e) => e.code) : ['6 CONNECTION REQUEST', '2 PERIODIC']);
    if (factoryReset) {
      const crUrl = this.tree.value(this.#ms('ConnectionRequestURL')) ?? '';
      this.tree.reset();
      this.tree.setInternal(this.#ms('ConnectionRequestURL'), crUrl);
      this.#transfer = undefined;
    }
    if (this.#bricked) return;
    this.#later(this.#o.rebootDelayMs, () => {
      this.#d.emit('reboot', { device: this.id, phase: 'up' });
      this.#boot(events, true);
    });
  }
}
