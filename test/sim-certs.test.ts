import { verify, X509Certificate } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { buildCertificate, newKeyPair, newSerial } from '../src/ca/x509.js';
import { wrapKey } from '../src/certs/key-wrap.js';
import { StbAuthenticator, type StbProof } from '../src/certs/stb-auth.js';
import { UPDATE_PARAMETER } from '../src/certs/update-notice.js';
import { CpeSoap } from '../src/sim/cpe-soap.js';
import { treeDefinition, type DeviceFacts } from '../src/sim/data-model.js';
import { ParamTree } from '../src/sim/param-tree.js';
import { handleRpc } from '../src/sim/rpc-handler.js';
import { SimOptionError, Simulator, type SimulatorOptions } from '../src/sim/index.js';
import { statusLine } from '../src/sim/status-line.js';
import { run, STBSIM } from './helpers/daemon.js';

const NO_ACS = 'http://127.0.0.1:9/';
const facts: DeviceFacts = { id: 'sim-0001', acsUrl: NO_ACS, cwmpUsername: 'sim-0001', cwmpPassword: 'pw', crUsername: 'sim-0001', crPassword: 'cr', informIntervalS: 300, wanAddress: '127.0.0.1' };
const soap = new CpeSoap();

const spv = (name: string, value: string, id = 'spv-1') => soap.parse(soap.envelope('1-0', id, 'SetParameterValues', { ParameterList: { ParameterValueStruct: [{ Name: name, Value: { '@xsi:type': 'xsd:string', '#text': value } }] }, ParameterKey: 'k' }));

t.test('the vendor parameter X_STBD_Certificate.UpdateRequired: writable string in both data models', async (t) => {
  t.equal(UPDATE_PARAMETER, 'X_STBD_Certificate.UpdateRequired');
  for (const [model, root] of [['tr098', 'InternetGatewayDevice.'], ['tr181', 'Device.']] as const) {
    const tree = new ParamTree(treeDefinition(model, facts));
    const name = `${root}${UPDATE_PARAMETER}`;
    t.same(tree.getValues([name]), [{ name, value: '', type: 'xsd:string' }], `${model}: present, empty`);
    t.same(tree.getNames(`${root}X_STBD_Certificate.`, true), [{ name, writable: true }]);
    const r = handleRpc(tree, spv(name, 'media-1'));
    t.same(r.content, { Status: 0 }, 'an ordinary SetParameterValuesResponse');
    t.same(r.after, { kind: 'cert-update', certId: 'media-1' }, 'a fetch after the session');
    t.same(handleRpc(tree, spv(name, 'media-1')).after, { kind: 'cert-update', certId: 'media-1' }, 'the same notice again counts again');
    t.equal(handleRpc(tree, spv(name, '')).after, undefined, 'clearing it is no notice');
    t.equal(handleRpc(tree, spv(`${root}Time.NTPServer1`, 'ntp')).after, undefined, 'other parameters: no notice');
  }
  const tree = new ParamTree(treeDefinition('tr098', facts));
  t.throws(() => handleRpc(tree, spv(`Device.${UPDATE_PARAMETER}`, 'x')), { code: 9005 }, 'the other root is no parameter of this tree');
});

t.test('options and the stbsim command line', async (t) => {
  t.throws(() => new Simulator({ certsUrl: 'ftp://x' }), SimOptionError);
  t.throws(() => new Simulator({ certsUrl: 'https://127.0.0.1:7548', fetchCertEveryS: 0 }), /--fetch-cert-every must be a number of seconds > 0/);
  t.throws(() => new Simulator({ fetchCertEveryS: 5 }), /--fetch-cert-every needs --certs URL/);
  t.throws(() => new Simulator({ certNoticeDelayMs: -1 }), /--cert-notice-delay/);
  const sim = new Simulator({ count: 2, prefix: 'box-', certIdPrefix: 'tv-' });
  t.same(sim.devices.map((d) => d.certId), ['tv-box-0001', 'tv-box-0002']);
  t.equal(new Simulator().devices[0]!.certId, 'media-sim-0001', 'default: media- + the device id');

  const help = await run(STBSIM, ['--help']);
  for (const flag of ['--certs', '--cert-id-prefix', '--fetch-cert-every', '--cert-notice-delay']) t.ok(help.stdout.includes(flag), `--help documents ${flag}`);
  const bad = await run(STBSIM, ['--fetch-cert-every', '10']);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /--fetch-cert-every needs --certs URL/);
  const badUrl = await run(STBSIM, ['--certs', 'nowhere']);
  t.equal(badUrl.code, 2);
  t.match(badUrl.stderr, /--certs must be an https:\/\/ \(or http:\/\/\) URL/);
});

interface FakeCert {
  owner: string;
  version: number;
  certPem: string;
  keyPem: string;
  state: 'valid' | 'expired' | 'revoked' | 'update-pending';
}

/**
 * The proxy's STB endpoint as its contract has it, over plain HTTP: proofs checked with the real
 * StbAuthenticator, keys wrapped with the real wrapKey. `misbehave` makes it answer wrongly.
 */
class FakeProxy {
  readonly certs = new Map<string, FakeCert>();
  readonly secrets = new Map<string, string>();
  readonly requests: { path: string; body: StbProof }[] = [];
  readonly #auth = new StbAuthenticator(() => Date.now(), { windowMs: 5 * 60_000, nonceCapacity: 10_000 });
  readonly #server: Server = createServer((req, res) => void this.#handle(req, res));
  misbehave: 'none' | 'ca-down' | 'other-cert' | 'wrong-secret' | 'foreign-key' | 'garbage' = 'none';
  /** Called before each answer to POST /v1/certificate (e.g. to renew after the STB's acknowledgement). */
  beforeAnswer: (c: FakeCert | undefined) => Promise<void> | void = () => {};
  url = '';

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  async issue(certId: string, owner: string, version = 1): Promise<FakeCert> {
    const keys = await newKeyPair();
    const now = Date.now();
    const certPem = buildCertificate({ commonName: certId, publicKeyPem: keys.publicKeyPem, serial: newSerial(), notBefore: new Date(now), notAfter: new Date(now + 3_600_000), isCa: false }, { privateKeyPem: keys.privateKeyPem });
    const c: FakeCert = { owner, version, certPem, keyPem: keys.privateKeyPem, state: 'valid' };
    this.certs.set(certId, c);
    return c;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString()) as StbProof;
    this.requests.push({ path: req.url ?? '', body });
    const send = (status: number, json: unknown): void => void res.writeHead(status, { 'content-type': 'application/json' }).end(typeof json === 'string' ? json : JSON.stringify(json));
    const secret = this.secrets.get(body.stbId);
    if (secret === undefined || this.#auth.check(body, secret) !== undefined) return send(401, { status: 'auth-failed' });
    let c = this.certs.get(body.certId);
    if (req.url === '/v1/certificate/ack') {
      if (this.misbehave === 'ca-down') return send(503, { status: 'ca-unavailable', message: 'the CA did not answer' });
      // As stbd: an STB creates no id but its derived one, and another STB's is not found.
      if (c ? c.owner !== body.stbId : body.certId !== `media-${body.stbId}`) return send(404, { status: 'not-found', message: `no certificate ${JSON.stringify(body.certId)} for this STB` });
      const issued = c && c.state !== 'expired' ? c : await this.issue(body.certId, body.stbId, (c?.version ?? 0) + 1);
      return send(200, { status: 'issued', certId: body.certId, version: issued.version, notAfter: new Date().toISOString() });
    }
    await this.beforeAnswer(c);
    c = this.certs.get(body.certId);
    if (this.misbehave === 'garbage') return send(500, 'not json');
    if (!c || c.owner !== body.stbId) return send(200, { status: 'not-found' });
    if (c.state === 'expired' || c.state === 'revoked') return send(200, { status: c.state });
    const version = c.version;
    const wrapWith = this.misbehave === 'wrong-secret' ? 'not-the-secret' : secret;
    const foreign = this.misbehave === 'foreign-key' ? (await newKeyPair()).privateKeyPem : c.keyPem;
    const key = wrapKey(wrapWith, { stbId: body.stbId, certId: body.certId, version, nonce: body.nonce }, { certificatePem: c.certPem, privateKeyPem: foreign });
    const certId = this.misbehave === 'other-cert' ? 'someone-else' : body.certId;
    send(200, { status: 'valid', certId, version, notAfter: Date.now() + 3_600_000, updatePending: c.state === 'update-pending', key });
  }
}

async function setup(t: { teardown(fn: () => unknown): void }, options: SimulatorOptions = {}) {
  const proxy = new FakeProxy();
  await proxy.start();
  t.teardown(() => proxy.close());
  const sim = new Simulator({ acsUrl: NO_ACS, bootInform: false, certsUrl: proxy.url, ...options });
  for (const d of sim.devices) proxy.secrets.set(d.id, d.credentials.cwmpPassword);
  t.teardown(() => sim.stop());
  return { proxy, sim, device: sim.devices[0]! };
}

t.test('fetchCertificate: not-found → acknowledgement → valid; the key is used once and not kept', async (t) => {
  const { proxy, sim, device } = await setup(t);
  const events = sim.waitFor('cert');
  const r = await device.fetchCertificate({ challenge: 'login-challenge-1' });
  t.equal(r.status, 'valid');
  if (r.status !== 'valid') return;
  t.same(proxy.requests.map((q) => q.path), ['/v1/certificate', '/v1/certificate/ack', '/v1/certificate']);
  t.equal(new Set(proxy.requests.map((q) => q.body.nonce)).size, 3, 'a fresh nonce each time');
  t.ok(proxy.requests.every((q) => q.body.stbId === 'sim-0001' && q.body.certId === 'media-sim-0001' && /^[0-9a-f]{64}$/.test(q.body.mac)));
  t.match(r, { certId: 'media-sim-0001', version: 1, updatePending: false, notAfter: /^\d{4}-\d\d-\d\dT/ });
  const stored = proxy.certs.get('media-sim-0001')!;
  t.equal(r.presented.certificatePem, stored.certPem);
  t.equal(r.presented.challenge, 'login-challenge-1');
  t.ok(verify('sha256', Buffer.from('login-challenge-1'), new X509Certificate(r.presented.certificatePem).publicKey, Buffer.from(r.presented.signature, 'base64')), 'what the media system verifies');
  t.match(await events, { device: 'sim-0001', status: 'valid', version: 1 });
  t.same(device.certificate, { certId: 'media-sim-0001', version: 1, notAfter: r.notAfter, updatePending: false }, 'only id, version and validity remembered');
  t.notMatch(JSON.stringify(device), /PRIVATE KEY/);
  t.match(sim.stats, { certRequests: 3, certsValid: 1, certsFailed: 0 });
  t.match(statusLine(1, sim.stats), /certs 1 fetched, 0 failed, 0 update notices/);

  const again = await device.fetchCertificate();
  t.equal(again.status, 'valid', 'the second time: one request');
  t.equal(proxy.requests.length, 4);
  t.match(again, { presented: { challenge: /^[0-9a-f]{32}$/ } }, 'a random challenge by default');
});

t.test('expired → acknowledgement → the next version; revoked; auth-failed; refusals and failures', async (t) => {
  const { proxy, sim, device } = await setup(t);
  const c = await proxy.issue(device.certId, device.id);
  c.state = 'expired';
  t.match(await device.fetchCertificate(), { status: 'valid', version: 2 });
  proxy.certs.get(device.certId)!.state = 'revoked';
  t.same(await device.fetchCertificate(), { status: 'revoked', certId: device.certId });
  t.equal(device.certificate, undefined, 'a revoked certificate is forgotten');

  t.same(await device.fetchCertificate({ certId: 'not-mine' }), { status: 'not-found', certId: 'not-mine' }, 'an id nobody created: not found after the acknowledgement');
  await proxy.issue('foreign', 'sim-9999');
  t.same(await device.fetchCertificate({ certId: 'foreign' }), { status: 'not-found', certId: 'foreign' }, "another STB's certificate stays not-found after the acknowledgement");

  proxy.secrets.set(device.id, 'changed');
  t.same(await device.fetchCertificate(), { status: 'auth-failed', certId: device.certId });
  proxy.secrets.set(device.id, device.credentials.cwmpPassword);

  proxy.certs.delete(device.certId);
  proxy.misbehave = 'ca-down';
  t.same(await device.fetchCertificate(), { status: 'error', certId: device.certId, error: 'the proxy answered HTTP 503: the CA did not answer' });
  await proxy.issue(device.certId, device.id);
  for (const [mode, error] of [
    ['other-cert', /another certificate/],
    ['wrong-secret', /unable to authenticate|Unsupported state/],
    ['foreign-key', /does not belong to the certificate/],
    ['garbage', /HTTP 500$/],
  ] as const) {
    proxy.misbehave = mode;
    const r = await device.fetchCertificate();
    t.match(r, { status: 'error', error }, mode);
  }
  proxy.misbehave = 'none';
  t.equal(sim.stats.certsFailed, 9);

  const closed = new Simulator({ acsUrl: NO_ACS, certsUrl: 'http://127.0.0.1:9' });
  t.match(await closed.devices[0]!.fetchCertificate(), { status: 'error', error: /ECONNREFUSED/ });
  t.match(await new Simulator({ acsUrl: NO_ACS }).devices[0]!.fetchCertificate(), { status: 'error', error: 'no certificate proxy URL (--certs URL)' });
});

t.test('Simulator.fetchCertificates and --fetch-cert-every', async (t) => {
  const { proxy, sim } = await setup(t, { count: 3 });
  const all = await sim.fetchCertificates(2);
  t.same(all.map((r) => r.status), ['valid', 'valid', 'valid']);
  t.same(all.map((r) => r.certId), ['media-sim-0001', 'media-sim-0002', 'media-sim-0003']);
  t.equal(proxy.certs.size, 3);

  const periodic = await setup(t, { fetchCertEveryS: 0.05, random: () => 0, prefix: 'per-' });
  await periodic.sim.start();
  const seen: number[] = [];
  periodic.sim.on('cert', (e) => seen.push(e.status === 'valid' ? e.version : 0));
  await periodic.sim.waitFor('cert', (e) => e.status === 'valid', 5000);
  await periodic.sim.waitFor('cert', (e) => e.status === 'valid', 5000);
  await periodic.sim.stop();
  t.ok(seen.length >= 2 && seen.every((v) => v === 1), 'fetched again and again, one certificate');
  const n = periodic.proxy.requests.length;
  await new Promise((r) => setTimeout(r, 120));
  t.equal(periodic.proxy.requests.length, n, 'no fetch after stop');
});

/** An ACS that answers Inform, then sends one SetParameterValues of the update parameter, then 204. */
async function noticeAcs(t: { teardown(fn: () => unknown): void }, name: string, certId: string) {
  let sent = false;
  let answered = '';
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString();
    if (text.includes('Inform>')) return res.writeHead(200, { 'content-type': 'text/xml' }).end(soap.envelope('1-0', 'i', 'InformResponse', { MaxEnvelopes: 1 }));
    if (text === '' && !sent) {
      sent = true;
      return res.writeHead(200, { 'content-type': 'text/xml' }).end(soap.envelope('1-0', 'n-1', 'SetParameterValues', { ParameterList: { ParameterValueStruct: [{ Name: name, Value: { '@xsi:type': 'xsd:string', '#text': certId } }] }, ParameterKey: '' }));
    }
    if (text !== '') answered = soap.parse(text).method;
    res.writeHead(204).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, answered: () => answered };
}

t.test('an update notice in a CWMP session: acknowledged, then fetched until the renewed version is served', async (t) => {
  for (const model of ['tr098', 'tr181'] as const) {
    const root = model === 'tr098' ? 'InternetGatewayDevice.' : 'Device.';
    const acs = await noticeAcs(t, `${root}${UPDATE_PARAMETER}`, `media-n-${model}-0001`);
    const { proxy, sim, device } = await setup(t, { acsUrl: acs.url, bootInform: true, dataModel: model, prefix: `n-${model}-`, certNoticeDelayMs: 20, auth: 'basic' });
    const c = await proxy.issue(device.certId, device.id);
    c.state = 'update-pending';
    // The proxy renews only on the third request after the notice: the STB must keep asking.
    let asked = 0;
    proxy.beforeAnswer = async (cert) => {
      if (cert && cert.state === 'update-pending' && ++asked === 3) await proxy.issue(device.certId, device.id, 2);
    };
    const notice = sim.waitFor('cert-update-notice', undefined, 10_000);
    const renewed = sim.waitFor('cert', (e) => e.status === 'valid' && e.version === 2, 10_000);
    const versions: string[] = [];
    sim.on('cert', (e) => versions.push(e.status === 'valid' ? `v${e.version}${e.updatePending ? ' pending' : ''}` : e.status));
    await sim.start();
    t.same(await notice, { device: device.id, certId: device.certId });
    await renewed;
    t.equal(acs.answered(), 'SetParameterValuesResponse', 'the notice was acknowledged in the session');
    t.same(versions, ['v1 pending', 'v1 pending', 'v2'], `${model}: asked until the renewal`);
    t.equal(device.tree.value(`${root}${UPDATE_PARAMETER}`), device.certId);
    t.equal(sim.stats.certNotices, 1);
  }
});
