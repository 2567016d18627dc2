import t from 'tap';
import { addDevice, basicInform, IGD, inform, message, rpcOf, setup, XML } from './helpers/cwmp-wire.js';
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

