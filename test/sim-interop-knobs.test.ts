import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { encodeConnectionRequest } from '../src/management/udp-connection-request.js';
import { CpeSoap } from '../src/sim/cpe-soap.js';
import { treeDefinition } from '../src/sim/data-model.js';
import { parseCredentials, SimOptionError, Simulator, type SimDevice, type SimulatorOptions } from '../src/sim/index.js';
import { resolveOptions } from '../src/sim/options.js';
import { ParamTree } from '../src/sim/param-tree.js';
import { handleRpc } from '../src/sim/rpc-handler.js';
import { run, STBSIM } from './helpers/daemon.js';
import { UdpPeer } from './helpers/udp.js';

const MS = 'InternetGatewayDevice.ManagementServer.';

// ---- the ACS's side, written by hand ----

const envelope = (id: string, body: string) =>
  `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:cwmp="urn:dslforum-org:cwmp-1-0"><soapenv:Header><cwmp:ID soapenv:mustUnderstand="1">${id}</cwmp:ID></soapenv:Header><soapenv:Body>${body}</soapenv:Body></soapenv:Envelope>`;
const informResponse = (id: string) => envelope(id, '<cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse>');
const spv = (id: string, values: Record<string, string>) => {
  const structs = Object.entries(values).map(([n, v]) => `<ParameterValueStruct><Name>${n}</Name><Value xsi:type="xsd:string">${v}</Value></ParameterValueStruct>`);
  return envelope(id, `<cwmp:SetParameterValues><ParameterList soapenc:arrayType="cwmp:ParameterValueStruct[${structs.length}]">${structs.join('')}</ParameterList><ParameterKey>${id}</ParameterKey></cwmp:SetParameterValues>`);
};
const gpv = (id: string, names: string[]) =>
  envelope(id, `<cwmp:GetParameterValues><ParameterNames soapenc:arrayType="xsd:string[${names.length}]">${names.map((n) => `<string>${n}</string>`).join('')}</ParameterNames></cwmp:GetParameterValues>`);
const gpn = (id: string, path: string) => envelope(id, `<cwmp:GetParameterNames><ParameterPath>${path}</ParameterPath><NextLevel>1</NextLevel></cwmp:GetParameterNames>`);
const factoryReset = (id: string) => envelope(id, '<cwmp:FactoryReset/>');

/** One POST the ACS received. */
interface Post {
  readonly device: string;
  /** Local name of the Body's element ("Inform", "GetParameterValuesResponse", "Fault"); '' for the empty POST. */
  readonly method: string;
  readonly headers: IncomingMessage['headers'];
  readonly bytes: Buffer;
  /** The body decoded as its XML declaration says. */
  readonly text: string;
  /** Inform only. */
  readonly events: readonly string[];
}

/**
 * A CWMP ACS on node:http: answers every Inform, then hands each device the RPCs queued for it, one per
 * POST, and ends the session with 204. Devices are told apart by a cookie set on the InformResponse.
 * It authenticates nobody: tests read the Authorization header it saw.
 */
class TestAcs extends EventEmitter<{ post: [Post] }> {
  readonly posts: Post[] = [];
  readonly #queues = new Map<string, string[]>();
  readonly #server = createServer((req, res) => void this.#handle(req, res));
  url = '';

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/acs`;
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  queue(device: string, ...rpcs: string[]): void {
    this.#queues.set(device, [...(this.#queues.get(device) ?? []), ...rpcs]);
  }

  of(device: string, method?: string): Post[] {
    return this.posts.filter((p) => p.device === device && (method === undefined || p.method === method));
  }

  /** The first POST from now on satisfying `predicate`. */
  next(predicate: (p: Post) => boolean): Promise<Post> {
    return new Promise((resolve) => {
      const listener = (p: Post) => {
        if (!predicate(p)) return;
        this.off('post', listener);
        resolve(p);
      };
      this.on('post', listener);
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const bytes = Buffer.concat(chunks);
    const text = bytes.toString(/^<\?xml[^>]*encoding="ISO-8859-1"/.test(bytes.toString('latin1')) ? 'latin1' : 'utf8');
    const method = /<[\w-]+:Body>\s*<(?:[\w-]+:)?(\w+)/.exec(text)?.[1] ?? '';
    const serial = /<SerialNumber>([^<]*)</.exec(text)?.[1];
    const device = serial ?? /(?:^|;\s*)device=([^;]+)/.exec(req.headers.cookie ?? '')?.[1] ?? '';
    const events = [...text.matchAll(/<EventCode>([^<]*)</g)].map((m) => m[1] as string);
    const post: Post = { device, method, headers: req.headers, bytes, text, events };
    this.posts.push(post);
    this.emit('post', post);
    const reply = (body: string, headers: Record<string, string> = {}) => void res.writeHead(200, { 'content-type': 'text/xml; charset="utf-8"', ...headers }).end(Buffer.from(body, 'utf8'));
    if (method === 'Inform') return reply(informResponse(/<cwmp:ID[^>]*>([^<]*)</.exec(text)?.[1] ?? ''), { 'set-cookie': `device=${device}; Path=/` });
    const rpc = this.#queues.get(device)?.shift();
    if (rpc === undefined) return void res.writeHead(204).end();
    reply(rpc);
  }
}

/** What the helpers need of a test. */
interface Scope {
  teardown(fn: () => unknown): void;
}

async function startAcs(t: Scope): Promise<TestAcs> {
  const acs = new TestAcs();
  await acs.start();
  t.teardown(() => acs.close());
  return acs;
}

async function newSim(t: Scope, options: SimulatorOptions): Promise<Simulator> {
  const sim = new Simulator({ auth: 'basic', rebootDelayMs: 10, ...options });
  t.teardown(() => sim.stop());
  return sim;
}

/** Resolves when `device` has ended a session whose Inform events satisfy `predicate`; subscribe before acting. */
const sessionEnded = (sim: Simulator, device: string, predicate: (events: readonly string[]) => boolean = () => true) =>
  sim.waitFor('session-end', (s) => s.device === device && predicate(s.events.map((e) => e.code)));

const basic = (username: string, password: string) => `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;

/** Sends a genuine UDP Connection Request (the device's current CR credentials). */
async function connectionRequest(peer: UdpPeer, device: SimDevice, n: number): Promise<void> {
  const un = device.tree.value(`${MS}ConnectionRequestUsername`)!;
  const password = device.tree.value(`${MS}ConnectionRequestPassword`)!;
  await peer.send(encodeConnectionRequest({ ts: 1_700_000_000 + n, id: n, un, cn: `cn${n}` }, password, '127.0.0.1', device.crPort!), device.crPort!);
}

t.test('--factory-credentials: one pair for all; the ACS replaces it; FactoryReset brings it back', async (t) => {
  const acs = await startAcs(t);
  const factory = { username: 'acme-stb', password: 'f4ctory:pw' };
  const sim = await newSim(t, { acsUrl: acs.url, count: 2, factoryCredentials: factory });
  const [a, b] = sim.devices as [SimDevice, SimDevice];
  acs.queue(a.id, spv('spv-1', { [`${MS}Username`]: 'acs-user-1', [`${MS}Password`]: 'acs-pw-1' }));
  const booted = Promise.all([sessionEnded(sim, a.id), sessionEnded(sim, b.id)]);
  await sim.start();
  t.ok((await booted).every((s) => s.ok));
  for (const d of [a, b]) {
    const [inform] = acs.of(d.id, 'Inform');
    t.equal(inform?.headers.authorization, basic(factory.username, factory.password), `${d.id} logs in with the factory pair`);
    t.same(inform?.events, ['0 BOOTSTRAP', '1 BOOT']);
  }
  t.match(acs.of(a.id, 'SetParameterValuesResponse')[0]?.text, /<Status>0<\/Status>/);
  t.equal(a.tree.value(`${MS}Username`), 'acs-user-1');
  t.equal(a.tree.value(`${MS}ConnectionRequestUsername`), a.credentials.crUsername, 'CR credentials stay derived');
  t.equal(a.tree.value(`${MS}ConnectionRequestPassword`), a.credentials.crPassword);

  const peer = await UdpPeer.open();
  t.teardown(() => peer.close());
  let ended = sessionEnded(sim, a.id);
  await connectionRequest(peer, a, 1);
  t.ok((await ended).ok);
  const second = acs.of(a.id, 'Inform')[1];
  t.same(second?.events, ['6 CONNECTION REQUEST']);
  t.equal(second?.headers.authorization, basic('acs-user-1', 'acs-pw-1'), 'the next session uses the pair the ACS set');

  acs.queue(a.id, factoryReset('fr-1'));
  ended = sessionEnded(sim, a.id);
  const bootstrap = acs.next((p) => p.device === a.id && p.method === 'Inform' && p.events.includes('0 BOOTSTRAP'));
  const afterReset = sessionEnded(sim, a.id, (events) => events.includes('0 BOOTSTRAP'));
  await connectionRequest(peer, a, 2);
  t.same((await ended).rpcs, ['FactoryReset']);
  t.ok((await afterReset).ok, 'it came back and Informed');
  const inform = await bootstrap;
  t.same(inform.events, ['0 BOOTSTRAP', '1 BOOT']);
  t.equal(inform.headers.authorization, basic(factory.username, factory.password), 'after FactoryReset: the factory pair again');
  t.equal(a.tree.value(`${MS}Password`), factory.password);
  t.equal(acs.of(b.id, 'Inform').length, 1, 'the other STB was left alone');

  const plain = new Simulator({ count: 1 }).devices[0]!;
  t.equal(plain.tree.value(`${MS}Username`), plain.credentials.cwmpUsername, 'default: the derived pair');
  t.equal(plain.tree.value(`${MS}Password`), plain.credentials.cwmpPassword);
});

t.test('--no-partial-path: GetParameterValues of a partial path is fault 9005', async (t) => {
  const acs = await startAcs(t);
  const sim = await newSim(t, { acsUrl: acs.url, partialPath: false });
  const id = sim.devices[0]!.id;
  acs.queue(id, gpv('p1', [`${MS}`]), gpv('p2', [`${MS}PeriodicInformInterval`, `${MS}ParameterKey`]), gpv('p3', [`${MS}URL`, 'InternetGatewayDevice.DeviceInfo.']), gpn('p4', MS));
  const ended = sessionEnded(sim, id);
  await sim.start();
  const session = await ended;
  t.same(session.rpcs, ['GetParameterValues', 'GetParameterValues', 'GetParameterValues', 'GetParameterNames']);
  const [partial, full, mixed, names] = acs.of(id).filter((p) => p.method !== 'Inform' && p.method !== '');
  t.equal(partial?.method, 'Fault');
  t.match(partial?.text, /<faultcode>Client<\/faultcode>.*<FaultCode>9005<\/FaultCode>/s);
  t.match(partial?.text, /<cwmp:ID [^>]*>p1<\/cwmp:ID>/, 'the fault answers the request');
  t.equal(full?.method, 'GetParameterValuesResponse');
  t.match(full?.text, /<Name>InternetGatewayDevice\.ManagementServer\.PeriodicInformInterval<\/Name><Value xsi:type="xsd:unsignedInt">300<\/Value>/);
  t.match(mixed?.text, /<FaultCode>9005<\/FaultCode>/, 'one partial path among full names is enough');
  t.equal(names?.method, 'GetParameterNamesResponse', 'GetParameterNames keeps working');
  t.match(names?.text, /<Name>InternetGatewayDevice\.ManagementServer\.URL<\/Name>/);

  // The default answers partial paths; without them "" (the whole tree) is refused as well.
  const soap = new CpeSoap();
  const tree = new ParamTree(treeDefinition('tr098', { id: 'x', acsUrl: acs.url, cwmpUsername: 'u', cwmpPassword: 'p', crUsername: 'c', crPassword: 'q', informIntervalS: 300, wanAddress: '127.0.0.1' }));
  const ask = (names: string[]) => soap.parse(gpv('g', names));
  t.ok((handleRpc(tree, ask([MS])).content as { ParameterList: { ParameterValueStruct: unknown[] } }).ParameterList.ParameterValueStruct.length > 10);
  t.throws(() => handleRpc(tree, ask(['']), { partialPath: false }), { code: 9005 });
});

t.test('--content-type: sent verbatim, or not at all; ISO-8859-1 bodies', async (t) => {
  const acs = await startAcs(t);
  for (const [i, contentType] of ['xml', 'text/xml charset=utf-8', 'text/xml,charset=utf-8', 'application/soap+xml', 'text/html', ''].entries()) {
    const sim = await newSim(t, { acsUrl: acs.url, contentType, prefix: `ct${i}-` });
    const id = sim.devices[0]!.id;
    acs.queue(id, gpv('g1', [`${MS}URL`]));
    const ended = sessionEnded(sim, id);
    await sim.start();
    t.ok((await ended).ok);
    const [inform, empty, answer] = acs.of(id);
    t.equal(inform?.headers['content-type'], contentType === '' ? undefined : contentType, `Inform: ${JSON.stringify(contentType)}`);
    t.equal(answer?.headers['content-type'], contentType === '' ? undefined : contentType, 'and the RPC answer');
    t.equal(empty?.method, '');
    t.equal(empty?.headers['content-type'], undefined, 'the empty POST has none');
    t.match(inform?.text, /^<\?xml version="1\.0" encoding="UTF-8"\?>/);
    await sim.stop();
  }
  t.equal(new Simulator().options.contentType, 'text/xml; charset="utf-8"', 'the default');

  const sim = await newSim(t, { acsUrl: acs.url, contentType: 'text/xml; charset=ISO-8859-1', prefix: 'latin-' });
  const id = sim.devices[0]!.id;
  const code = 'InternetGatewayDevice.DeviceInfo.ProvisioningCode';
  acs.queue(id, spv('s1', { [code]: 'café' }), gpv('g1', [code]), spv('s2', { [code]: 'x€y' }), gpv('g2', [code]));
  const ended = sessionEnded(sim, id);
  await sim.start();
  t.ok((await ended).ok);
  t.equal(sim.devices[0]!.tree.value(code), 'x€y', 'the ACS wrote UTF-8, the STB read it');
  const [inform, , , cafe, , other] = acs.of(id);
  t.equal(inform?.headers['content-type'], 'text/xml; charset=ISO-8859-1');
  t.match(inform?.bytes.toString('latin1'), /^<\?xml version="1\.0" encoding="ISO-8859-1"\?>/, 'the declaration says so');
  t.equal(cafe?.method, 'GetParameterValuesResponse');
  const value = Buffer.from('<Value xsi:type="xsd:string">');
  const at = cafe!.bytes.indexOf(value) + value.length;
  t.same([...cafe!.bytes.subarray(at, at + 5)], [0x63, 0x61, 0x66, 0xe9, 0x3c], '"café" as ISO-8859-1 bytes');
  t.equal(cafe!.bytes.indexOf(Buffer.from('café', 'utf8')), -1, 'not UTF-8');
  t.equal(Number(cafe!.headers['content-length']), cafe!.bytes.length, 'Content-Length counts bytes');
  t.match(other?.text, /<Value xsi:type="xsd:string">x\?y<\/Value>/, 'what ISO-8859-1 cannot hold is a "?"');
  t.equal(resolveOptions({ contentType: 'text/xml; charset=LATIN1' }).contentType, 'text/xml; charset=LATIN1');
});

t.test('bad values are refused, by the library and by stbsim', async (t) => {
  t.same(parseCredentials('u:'), { username: 'u', password: '' }, 'an empty password is fine');
  t.same(parseCredentials('u:p:q'), { username: 'u', password: 'p:q' }, 'split at the first colon');
  for (const text of ['nocolon', ':pw', '']) t.throws(() => parseCredentials(text), SimOptionError, JSON.stringify(text));
  t.throws(() => resolveOptions({ factoryCredentials: { username: '', password: 'x' } }), /--factory-credentials must be USER:PASS/);
  t.throws(() => resolveOptions({ factoryCredentials: { username: 'a:b', password: 'x' } }), SimOptionError);
  t.throws(() => resolveOptions({ contentType: 'text/xml\r\nX-Evil: 1' }), /--content-type must be printable ASCII/);
  t.throws(() => resolveOptions({ contentType: 'text/xml; charset=é' }), SimOptionError);
  t.same(resolveOptions({}).partialPath, true);
  t.equal(resolveOptions({}).uploadMethod, 'PUT');
  t.equal(resolveOptions({}).valueChangeEveryS, undefined, 'values change only when asked');
  t.throws(() => resolveOptions({ valueChangeEveryS: 0 }), /--value-change-every must be a number of seconds > 0/);
  t.throws(() => resolveOptions({ uploadMethod: 'GET' as 'PUT' }), /--upload-method must be PUT or POST/);

  const help = await run(STBSIM, ['--help']);
  for (const flag of ['--factory-credentials', '--no-partial-path', '--content-type', 'bootstrap credentials file', '--value-change-every', '--upload-method']) t.ok(help.stdout.includes(flag), `--help: ${flag}`);
  for (const [args, message] of [
    [['--factory-credentials', 'nocolon'], /--factory-credentials must be USER:PASS/],
    [['--factory-credentials', ':pw'], /--factory-credentials must be USER:PASS/],
    [['--content-type', 'a\nb'], /--content-type must be printable ASCII/],
    [['--value-change-every', '-1'], /--value-change-every must be a number of seconds > 0/],
    [['--upload-method', 'GET'], /--upload-method/],
  ] as const) {
    const r = await run(STBSIM, [...args]);
    t.equal(r.code, 2, `${JSON.stringify(args)} exits 2`);
    t.match(r.stderr, message);
  }
});

t.test('stbsim passes the three flags on', async (t) => {
  const acs = await startAcs(t);
  acs.queue('sim-0001', gpv('p1', [MS]));
  const answered = acs.next((p) => p.method === 'Fault');
  const env = { ...process.env };
  for (const k of ['NODE_OPTIONS', 'STBD_API', 'STBD_TOKEN']) delete env[k];
  const args = ['--acs', acs.url, '--auth', 'basic', '--factory-credentials', 'acme:', '--no-partial-path', '--content-type', 'text/xml,charset=utf-8'];
  const proc = spawn(STBSIM, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  t.teardown(() => void (proc.exitCode === null && proc.kill('SIGKILL')));
  const fault = await Promise.race([answered, exited.then((code) => Promise.reject(new Error(`stbsim exited with ${code}`)))]);
  proc.kill('SIGINT');
  t.equal(await exited, 0);
  const [inform] = acs.of('sim-0001', 'Inform');
  t.equal(inform?.headers.authorization, basic('acme', ''));
  t.equal(inform?.headers['content-type'], 'text/xml,charset=utf-8');
  t.match(fault.text, /<FaultCode>9005<\/FaultCode>/);
});
