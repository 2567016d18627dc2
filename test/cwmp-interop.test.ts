import t from 'tap';
import { addDevice, basicInform, IGD, inform, message, param, rpcOf, setup, XML } from './helpers/cwmp-wire.js';
import { RawCpe } from './helpers/raw-cpe.js';

/** CPE agents stbd did not write, on the wire: every exchange is hand-written bytes on a socket. */

t.test('no 415, ever: any Content-Type or none is a CWMP body', async (t) => {
  const { d, port } = await setup(t);
  await addDevice(d, 'stb-1');
  const variants: (string | undefined)[] = [undefined, '', 'xml', 'text/xml charset=utf-8', 'text/xml,charset=utf-8', 'application/soap+xml', 'text/html'];
  for (const type of variants) {
    const cpe = new RawCpe(port);
    const headers: [string, string][] = type === undefined ? [] : [['Content-Type', type]];
    const r = await basicInform(cpe, 'stb-1', 'stb-1-pw', inform({ serial: 'S1' }), headers);
    t.equal(r.status, 200, `Content-Type ${JSON.stringify(type ?? '(none)')}`);
    t.match(r.text, /<cwmp:InformResponse>/);
    t.equal((await cpe.request('', headers)).status, 204, 'and the session goes on to its end');
    cpe.close();
  }
});

t.test("Digest-only clients: libcurl's empty probe outside a session gets the 401 challenge", async (t) => {
  const { d, port } = await setup(t);
  await addDevice(d, 'stb-1');
  const cpe = new RawCpe(port);
  const probe = await cpe.request('', [['Content-Length', '0']]);
  t.equal(probe.status, 401);
  t.match(probe.headers['www-authenticate'], /^Digest realm="stbd", qop="auth"/);
  const r = await cpe.request(inform({ serial: 'S1' }), [...XML, ['Authorization', RawCpe.digest(probe.headers['www-authenticate']!, 'stb-1', 'stb-1-pw', '/acs')]]);
  t.equal(r.status, 200);
  t.equal((await cpe.request('')).status, 204);
});

t.test('every CPE method gets an answer and the session goes on to the queued RPC', async (t) => {
  const { d, port } = await setup(t);
  await addDevice(d, 'stb-1');
  const task = await d.api('POST', '/v1/devices/stb-1/tasks', { json: { kind: 'getParameterValues', names: [`${IGD}PeriodicInformInterval`] } });
  const cpe = new RawCpe(port);
  await basicInform(cpe, 'stb-1', 'stb-1-pw', inform({ serial: 'S1', events: ['10 AUTONOMOUS TRANSFER COMPLETE'], ns: 'urn:dslforum-org:cwmp-1-1' }));
  const ns = 'urn:dslforum-org:cwmp-1-1';
  const atc = await cpe.request(
    message(
      `<cwmp:AutonomousTransferComplete><AnnounceURL></AnnounceURL><TransferURL>http://files.example.net/fw.bin</TransferURL><IsDownload>1</IsDownload><FileType>1 Firmware Upgrade Image</FileType><FileSize>4096</FileSize><TargetFileName></TargetFileName><FaultStruct><FaultCode>0</FaultCode><FaultString></FaultString></FaultStruct><StartTime>2026-01-01T00:00:00Z</StartTime><CompleteTime>2026-01-01T00:01:00Z</CompleteTime></cwmp:AutonomousTransferComplete>`,
      ns,
      'atc-1',
    ),
    XML,
  );
  t.equal(atc.status, 200);
  t.match(atc.text, /xmlns:cwmp="urn:dslforum-org:cwmp-1-1"/);
  t.match(atc.text, /<cwmp:ID soap:mustUnderstand="1">atc-1<\/cwmp:ID>.*<cwmp:AutonomousTransferCompleteResponse><\/cwmp:AutonomousTransferCompleteResponse>/);
  const du = await cpe.request(
    message(
      '<cwmp:DUStateChangeComplete><Results><OpResultStruct><UUID>u-1</UUID><DeploymentUnitRef>Device.SoftwareModules.DeploymentUnit.1</DeploymentUnitRef><Version>2.0</Version><CurrentState>Installed</CurrentState><Resolved>1</Resolved><ExecutionUnitRefList></ExecutionUnitRefList><StartTime>2026-01-01T00:00:00Z</StartTime><CompleteTime>2026-01-01T00:00:05Z</CompleteTime><Fault><FaultCode>0</FaultCode><FaultString></FaultString></Fault></OpResultStruct></Results><CommandKey>du-7</CommandKey></cwmp:DUStateChangeComplete>',
      ns,
    ),
    XML,
  );
  t.match(du.text, /<cwmp:DUStateChangeCompleteResponse>/);
  const adu = await cpe.request(
    message('<cwmp:AutonomousDUStateChangeComplete><Results><AutonOpResultStruct><UUID>u-2</UUID><Version>1.1</Version><CurrentState>Uninstalled</CurrentState><OperationPerformed>Uninstall</OperationPerformed></AutonOpResultStruct></Results></cwmp:AutonomousDUStateChangeComplete>', ns),
    XML,
  );
  t.match(adu.text, /<cwmp:AutonomousDUStateChangeCompleteResponse>/);
  for (const m of ['<cwmp:Kicked><Command>x</Command><Referer></Referer><Arg></Arg><Next>http://portal/</Next></cwmp:Kicked>', '<cwmp:RequestDownload><FileType>1 Firmware Upgrade Image</FileType><FileTypeArg></FileTypeArg></cwmp:RequestDownload>', '<cwmp:X_ACME_Hello/>']) {
    const r = await cpe.request(message(m, ns, 'k'), XML);
    t.equal(r.status, 200, 'answered, not refused');
    t.match(r.text, /xmlns:cwmp="urn:dslforum-org:cwmp-1-1".*<soap:Fault><faultcode>Server<\/faultcode><faultstring>CWMP fault<\/faultstring><detail><cwmp:Fault><FaultCode>8000<\/FaultCode><FaultString>Method not supported<\/FaultString>/);
  }
  const rpc = await cpe.request('');
  t.same(rpcOf(rpc), { method: 'GetParameterValues', id: String(task.body.id) }, 'the queued RPC still goes out in the same session');
  const shown = (await d.api('GET', '/v1/devices/stb-1')).body.management;
  t.same(
    shown.cpeEvents.map((e: { method: string }) => e.method),
    ['AutonomousDUStateChangeComplete', 'DUStateChangeComplete', 'AutonomousTransferComplete'],
    'recorded on the device, newest first',
  );
  t.match(shown.cpeEvents[2].detail, { transferUrl: 'http://files.example.net/fw.bin', isDownload: true, fileSize: 4096, fault: { code: 0 } });
  t.match(shown.cpeEvents[1].detail, { commandKey: 'du-7', results: [{ uuid: 'u-1', currentState: 'Installed' }] });
  t.match(shown.cpeEvents[0].detail, { results: [{ uuid: 'u-2', operationPerformed: 'Uninstall' }] });
});


t.test('values arrive as the CPE sent them: character references, named entities, white space, ISO-8859-1; written back escaped', async (t) => {
  const { d, port } = await setup(t);
  await addDevice(d, 'stb-1');
  const cpe = new RawCpe(port);
  const params = [
    param(`${IGD}ConnectionRequestURL`, 'http://127.0.0.1:1/cr'),
    param('InternetGatewayDevice.X_Acme.Refs', 'a&#x26;b &#233;t&#xE9; &lt;&gt;&amp;&quot;&apos;'),
    param('InternetGatewayDevice.X_Acme.Padded', '  two spaces  '),
  ].join('');
  const latin1 = Buffer.concat([Buffer.from(inform({ serial: 'S1', params: params + param('InternetGatewayDevice.X_Acme.Name', 'caf\u00e9') }).replace('encoding="UTF-8"', 'encoding="ISO-8859-1"'), 'latin1')]);
  t.equal((await cpe.request(latin1, [['Content-Type', 'text/xml; charset=ISO-8859-1'], ['Authorization', RawCpe.basic('stb-1', 'stb-1-pw')]])).status, 200);
  const known = Object.fromEntries(((await d.api('GET', '/v1/devices/stb-1')).body.management.parameters as { name: string; value: string }[]).map((p) => [p.name, p.value]));
  t.equal(known['InternetGatewayDevice.X_Acme.Refs'], 'a&b été <>&"\'');
  t.equal(known['InternetGatewayDevice.X_Acme.Padded'], '  two spaces  ', 'white space kept');
  t.equal(known['InternetGatewayDevice.X_Acme.Name'], 'café', 'decoded in the charset the CPE declared');
  t.equal((await cpe.request('')).status, 204);
  cpe.close();

  // The charset may be named only by the XML declaration.
  const other = new RawCpe(port);
  const declOnly = Buffer.from(inform({ serial: 'S1', params: param('InternetGatewayDevice.X_Acme.Name', 'na\u00efve') }).replace('encoding="UTF-8"', 'encoding="ISO-8859-1"'), 'latin1');
  t.equal((await other.request(declOnly, [['Content-Type', 'text/xml'], ['Authorization', RawCpe.basic('stb-1', 'stb-1-pw')]])).status, 200);
  await d.api('POST', '/v1/devices/stb-1/tasks', { json: { kind: 'setParameterValues', values: [{ name: 'InternetGatewayDevice.X_Acme.Name', value: ' a&b<c>"d\' café ' }] } });
  const rpc = await other.request('');
  t.match(rpc.headers['content-type'], /charset="utf-8"/);
  t.ok(rpc.body.includes(Buffer.from('<Value xsi:type="xsd:string"> a&amp;b&lt;c&gt;&quot;d&apos; café </Value>', 'utf8')), 'escaped, UTF-8, white space kept');
  const known2 = (await d.api('GET', '/v1/devices/stb-1')).body.management.parameters as { name: string; value: string }[];
  t.equal(known2.find((p) => p.name === 'InternetGatewayDevice.X_Acme.Name')?.value, 'naïve');
});

t.test('the CWMP version is read where the CPE declares it, and answered in', async (t) => {
  const { d, port } = await setup(t);
  await addDevice(d, 'stb-1');
  const body = (o: { env?: string; bodyNs?: string; id?: string; rpc?: string; prefix?: string }) => {
    const p = o.prefix ?? 'cwmp';
    const q = p === '' ? '' : `${p}:`;
    return `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" ${XSI_NS} ${o.env ?? ''}><s:Header><${q}ID ${o.id ?? ''} s:mustUnderstand="1">7</${q}ID></s:Header><s:Body ${o.bodyNs ?? ''}><${q}Inform ${o.rpc ?? ''}><DeviceId><OUI>00D09E</OUI><ProductClass>STB</ProductClass><SerialNumber>S1</SerialNumber></DeviceId><Event></Event><ParameterList></ParameterList></${q}Inform></s:Body></s:Envelope>`;
  };
  const ns = (v: string, prefix = 'cwmp') => `xmlns${prefix === '' ? '' : `:${prefix}`}="urn:dslforum-org:cwmp-${v}"`;
  const cases: [string, string][] = [
    ['on the Envelope', body({ env: ns('1-1') })],
    ['on the Body', body({ bodyNs: ns('1-2') })],
    ['on the ID header element only', body({ id: ns('1-3'), rpc: ns('1-3') })],
    ['on the RPC element', body({ rpc: ns('1-4'), id: ns('1-4') })],
    ['as the default namespace', body({ prefix: '', env: ns('1-3', '') })],
    ['the RPC element’s own wins over the Envelope’s', body({ env: ns('1-0'), rpc: ns('1-4'), id: ns('1-4') })],
  ];
  const expected = ['1-1', '1-2', '1-3', '1-4', '1-3', '1-4'];
  for (const [i, [name, xml]] of cases.entries()) {
    const cpe = new RawCpe(port);
    const r = await basicInform(cpe, 'stb-1', 'stb-1-pw', xml);
    t.equal(r.status, 200, name);
    t.match(r.text, new RegExp(`xmlns:cwmp="urn:dslforum-org:cwmp-${expected[i]}"`), `${name}: answered in ${expected[i]}`);
    cpe.close();
  }
  // A version declared on the ID element alone (a Fault answer, say) is still found.
  const m = new (await import('../src/management/cwmp-soap.js')).CwmpSoap().parse(
    `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header><c:ID xmlns:c="urn:dslforum-org:cwmp-1-3">1</c:ID></s:Header><s:Body><s:Fault><faultcode>Client</faultcode><faultstring>CWMP fault</faultstring></s:Fault></s:Body></s:Envelope>`,
  );
  t.equal(m.version, '1-3');
});
const XSI_NS = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"';

t.test('lenient where the field is: Digest uri in absolute form or without the query; quoted and RFC 2965 cookies', async (t) => {
  const { d, port } = await setup(t);
  await addDevice(d, 'stb-1');
  const target = '/acs?serial=S1';
  for (const [uri, status] of [
    [`http://127.0.0.1:${port}/acs?serial=S1`, 200],
    ['/acs', 200],
    ['/acs?serial=S1', 200],
    ['/elsewhere', 401],
  ] as const) {
    const cpe = new RawCpe(port);
    const challenged = await cpe.request(inform({ serial: 'S1' }), XML, target);
    const r = await cpe.request(inform({ serial: 'S1' }), [...XML, ['Authorization', RawCpe.digest(challenged.headers['www-authenticate']!, 'stb-1', 'stb-1-pw', uri)]], target);
    t.equal(r.status, status, `uri ${uri}`);
    cpe.close();
  }
  // A CPE that opens a new connection for each request is followed by its cookie, however it writes it.
  for (const cookie of ['stbd_session="TOKEN"', '$Version="1"; stbd_session="TOKEN"; $Path="/"', 'other=1, stbd_session=TOKEN']) {
    const first = new RawCpe(port);
    const r = await basicInform(first, 'stb-1', 'stb-1-pw', inform({ serial: 'S1' }));
    const token = /stbd_session=([^;]+)/.exec(r.headers['set-cookie'] ?? '')?.[1] ?? '';
    first.close();
    const task = await d.api('POST', '/v1/devices/stb-1/tasks', { json: { kind: 'reboot' } });
    const next = new RawCpe(port);
    const rpc = await next.request('', [['Cookie', cookie.replace('TOKEN', token)]]);
    t.same(rpcOf(rpc), { method: 'Reboot', id: String(task.body.id) }, `cookie ${cookie}`);
    t.equal((await next.request(message('<cwmp:RebootResponse/>'), [...XML, ['Cookie', cookie.replace('TOKEN', token)]])).status, 204);
    next.close();
  }
});

t.test('no parsing before authentication: a bogus or wrong Authorization costs no parse of the body', async (t) => {
  const { d, port } = await setup(t);
  await addDevice(d, 'stb-1');
  const parsed = async () => Number(/^stbd_cwmp_bodies_parsed_total (\d+)$/m.exec(await (await fetch(`${d.url}/metrics`)).text())?.[1]);
  const heavy = inform({ serial: 'S1', params: Array.from({ length: 5000 }, (_, i) => param(`InternetGatewayDevice.X.P${i}`, 'v')).join('') });
  const before = await parsed();
  for (let i = 0; i < 5; i++) {
    const cpe = new RawCpe(port);
    t.equal((await cpe.request(heavy, [...XML, ['Authorization', 'Bogus abc']])).status, 401);
    t.equal((await basicInform(cpe, 'nobody', 'x', heavy)).status, 401, 'an unknown user');
    t.equal((await basicInform(cpe, 'stb-1', 'wrong', heavy)).status, 401, 'a wrong password');
    cpe.close();
  }
  const afterRefusals = await parsed();
  t.ok(afterRefusals - before <= 1, 'at most one parse, to say why a known device was refused (once a minute)');
  const cpe = new RawCpe(port);
  t.equal((await basicInform(cpe, 'stb-1', 'stb-1-pw', inform({ serial: 'S1' }))).status, 200);
  t.equal(await parsed(), afterRefusals + 1, 'an accepted login is parsed, once');
});

t.test('pipelined requests on one connection are handled and answered in their order', async (t) => {
  const { d, port } = await setup(t);
  await addDevice(d, 'stb-1');
  await d.api('POST', '/v1/devices/stb-1/tasks', { json: { kind: 'getParameterValues', names: [`${IGD}PeriodicInformInterval`] } });
  const { connect } = await import('node:net');
  const socket = connect({ port, host: '127.0.0.1' });
  t.teardown(() => socket.destroy());
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  const post = (body: string, auth: boolean) =>
    `POST /acs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\n${auth ? `Authorization: ${RawCpe.basic('stb-1', 'stb-1-pw')}\r\n` : ''}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  // Cookieless: the empty POST belongs to the session only once the Inform before it has opened it.
  socket.write(post(inform({ serial: 'S1' }), true) + post('', false));
  // An answer's head follows the last body's final byte at once.
  const statusLines = () => [...received.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1]);
  for (let i = 0; i < 200 && statusLines().length < 2; i++) await new Promise((r) => setTimeout(r, 10));
  t.same(statusLines(), ['200', '200']);
  const [first, second] = received.split(/(?=HTTP\/1\.1 \d{3} )/);
  t.match(first, /<cwmp:InformResponse>/, 'the Inform is answered first');
  t.match(second, /<cwmp:GetParameterValues>/, 'then the empty POST, in the session the Inform opened');
});

t.test('a request that is not valid HTTP: 400 naming why, one warning a minute, nothing changed; the next session works', async (t) => {
  const { d, port } = await setup(t);
  await addDevice(d, 'stb-1');
  const { connect } = await import('node:net');
  const send = (bytes: string) =>
    new Promise<string>((resolve) => {
      const socket = connect({ port, host: '127.0.0.1' });
      let received = '';
      socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
      socket.on('close', () => resolve(received));
      socket.write(bytes);
    });
  const body = inform({ serial: 'S1' });
  // An embedded stack that counts the body and chunks it as well: a request smuggler's shape, refused.
  const both = await send(`POST /acs HTTP/1.1\r\nHost: acs\r\nContent-Length: ${Buffer.byteLength(body)}\r\nTransfer-Encoding: chunked\r\nAuthorization: ${RawCpe.basic('stb-1', 'stb-1-pw')}\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`);
  t.match(both, /^HTTP\/1\.1 400 Bad Request\r\n/);
  t.match(both, /Connection: close/);
  // The parser's words and code vary with Node's version: they name the two headers and an HPE_ code.
  t.match(both, /\r\n\r\nmalformed HTTP request: .*(Transfer-Encoding.*Content-Length|Content-Length.*Transfer-Encoding).* \(HPE_[A-Z_]+\)\n$/);
  const garbage = await send('\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03 TLS on the plain port\r\n\r\n');
  t.match(garbage, /^HTTP\/1\.1 400 Bad Request\r\n[^]*malformed HTTP request: .*\(HPE_INVALID_METHOD\)\n$/, 'a TLS hello on the plain port');
  const warnings = d.logText().split('\n').filter((l) => l.includes('request refused: not valid HTTP'));
  t.equal(warnings.length, 1, 'the second within the minute is counted, not logged');
  t.match(JSON.parse(warnings[0]!), { level: 40, listener: 'cwmp', reason: 'malformed_http', source: '127.0.0.1', error: /Transfer-Encoding.*\(HPE_[A-Z_]+\)$/ });
  t.match((await d.api('GET', '/v1/devices/stb-1')).body, { management: { lastInformAt: null } }, 'the refused Inform recorded nothing');
  const metrics = await fetch(`http://127.0.0.1:${d.daemon.api.port}/metrics`, { headers: { authorization: `Bearer ${d.token}` } }).then((r) => r.text());
  t.match(metrics, /stbd_connections_refused_total\{listener="cwmp",reason="malformed_http"\} 2/);
  const cpe = new RawCpe(port);
  t.equal((await basicInform(cpe, 'stb-1', 'stb-1-pw', inform({ serial: 'S1' }))).status, 200, 'the same box with a sound request');
  t.equal((await cpe.request('')).status, 204);
});

t.test('a task queued after the Inform is answered goes out in the same session, at its empty POST', async (t) => {
  const { d, port } = await setup(t);
  await addDevice(d, 'stb-1');
  const cpe = new RawCpe(port);
  t.teardown(() => cpe.close());
  const r = await basicInform(cpe, 'stb-1', 'stb-1-pw', inform({ serial: 'S1' }));
  t.match(r.text, /<cwmp:InformResponse>/, 'no work when the Inform was recorded');
  const task = (await d.api('POST', '/v1/devices/stb-1/tasks', { json: { kind: 'getParameterValues', names: [`${IGD}PeriodicInformInterval`] } })).body as { id: number };
  const rpc = await cpe.request('');
  t.equal(rpc.status, 200);
  t.match(rpc.text, new RegExp(`<cwmp:ID soap:mustUnderstand="1">${task.id}</cwmp:ID>.*<cwmp:GetParameterValues>`, 's'), 'the task queued meanwhile is sent');
});
