import { createHash } from 'node:crypto';
import { request } from 'node:http';
import t from 'tap';
import { addDevice, basicInform, IGD, inform, message, param, rpcOf, setup, XML } from './helpers/cwmp-wire.js';
import type { InProcessDaemon } from './helpers/in-process.js';
import { until } from './helpers/in-process.js';
import { RawCpe, type RawReply } from './helpers/raw-cpe.js';

/**
 * getParameterAttributes, setParameterAttributes, scheduleInform and upload against CPE bytes written by hand
 * in the shapes field agents send (other prefixes, no arrayType, one struct not in a list, missing optional
 * elements, self-closing responses), and the upload URL: its token, its size cap, both ways a CPE finishes.
 * STBD_TEST_STORE=postgres runs it on PostgreSQL.
 */

const DI = 'InternetGatewayDevice.DeviceInfo.';
const XSI = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"';

/** A response as an agent with its own prefixes writes it (SOAP-ENV, ns1 for cwmp, soap-enc arrays or none). */
const agentMessage = (inner: string) => `<?xml version="1.0"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:SOAP-ENC="http://schemas.xmlsoap.org/soap/encoding/" xmlns:ns1="urn:dslforum-org:cwmp-1-0" ${XSI}>
 <SOAP-ENV:Header><ns1:ID SOAP-ENV:mustUnderstand="1">x</ns1:ID></SOAP-ENV:Header>
 <SOAP-ENV:Body>
  ${inner}
 </SOAP-ENV:Body></SOAP-ENV:Envelope>`;

const transferComplete = (commandKey: string, code = 0, text = '') =>
  message(`<cwmp:TransferComplete><CommandKey>${commandKey}</CommandKey><FaultStruct><FaultCode>${code}</FaultCode><FaultString>${text}</FaultString></FaultStruct><StartTime>2026-01-01T00:00:01Z</StartTime><CompleteTime>2026-01-01T00:00:02Z</CompleteTime></cwmp:TransferComplete>`);

interface Http {
  readonly status: number;
  readonly text: string;
}

/** An HTTP request as a CPE's file-transfer client makes it; `first`: a first chunk written before waiting for the answer (not ended). */
function http(url: string, method: string, body: Buffer | undefined, headers: Record<string, string | number> = {}, first?: Buffer): Promise<Http> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (first) req.write(first);
    else req.end(body);
  });
}

/** One session: Inform (with `events`), then the first RPC stbd sends. */
async function session(port: number, events: string[] = ['2 PERIODIC'], params?: string): Promise<{ cpe: RawCpe; rpc: RawReply }> {
  const cpe = new RawCpe(port);
  t.equal((await basicInform(cpe, 'stb-1', 'stb-1-pw', inform({ serial: 'S1', events, ...(params ? { params } : {}) }))).status, 200);
  return { cpe, rpc: await cpe.request('') };
}

const queue = async (d: InProcessDaemon, json: unknown) => {
  const r = await d.api('POST', '/v1/devices/stb-1/tasks', { json });
  if (r.status !== 201) throw new Error(JSON.stringify(r.body));
  return r.body.id as number;
};
const task = async (d: InProcessDaemon, id: number) => (await d.api('GET', `/v1/tasks/${id}`)).body;
const urlOf = (rpc: RawReply) => /<URL>([^<]+)<\/URL>/.exec(rpc.text)?.[1] ?? '';
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

t.test('getParameterAttributes: the RPC on the wire; answers in field shapes are read', async (t) => {
  const { d, port } = await setup(t);
  await addDevice(d, 'stb-1');
  const id = await queue(d, { kind: 'getParameterAttributes', names: [`${DI}SoftwareVersion`, `${DI}X_Acme.`] });
  const { cpe, rpc } = await session(port);
  t.equal(rpcOf(rpc).method, 'GetParameterAttributes');
  t.match(rpc.text, new RegExp(`<ParameterNames soapenc:arrayType="xsd:string\\[2\\]"><string>${DI}SoftwareVersion</string><string>${DI}X_Acme\\.</string></ParameterNames>`));
  // One agent pads the number and declares arrays; another sends one struct, no arrayType, no AccessList, a word.
  const answer = agentMessage(`<ns1:GetParameterAttributesResponse>
    <ParameterList SOAP-ENC:arrayType="ns1:ParameterAttributeStruct[3]">
      <ParameterAttributeStruct><Name>${DI}SoftwareVersion</Name><Notification> 2 </Notification><AccessList SOAP-ENC:arrayType="xsd:string[1]"><string>Subscriber</string></AccessList></ParameterAttributeStruct>
      <ParameterAttributeStruct><Name>${DI}X_Acme.Mode</Name><Notification>0</Notification><AccessList SOAP-ENC:arrayType="xsd:string[0]"/></ParameterAttributeStruct>
      <ParameterAttributeStruct><Name>${DI}X_Acme.Level</Name><Notification>Passive</Notification></ParameterAttributeStruct>
    </ParameterList></ns1:GetParameterAttributesResponse>`);
  t.equal((await cpe.request(answer, XML)).status, 204);
  t.match(await task(d, id), {
    status: 'done',
    result: {
      parameters: [
        { name: `${DI}SoftwareVersion`, notification: 'active', accessList: ['Subscriber'] },
        { name: `${DI}X_Acme.Mode`, notification: 'off', accessList: [] },
        { name: `${DI}X_Acme.Level`, notification: 'passive', accessList: [] },
      ],
    },
  });

  const single = await queue(d, { kind: 'getParameterAttributes', names: [`${DI}UpTime`] });
  const second = await session(port);
  const one = `<cwmp:GetParameterAttributesResponse><ParameterList><ParameterAttributeStruct><Name>${DI}UpTime</Name><Notification>5</Notification><AccessList/></ParameterAttributeStruct></ParameterList></cwmp:GetParameterAttributesResponse>`;
  t.equal((await second.cpe.request(message(one), XML)).status, 204);
  t.same((await task(d, single)).result.parameters, [{ name: `${DI}UpTime`, notification: 'active-lightweight', accessList: [] }], 'one struct, not in a list; a later amendment\'s code by name');
});

t.test('setParameterAttributes: notification changes only; a self-closing response; a fault 9009 fails the task', async (t) => {
  const { d, port } = await setup(t);
  await addDevice(d, 'stb-1');
  const id = await queue(d, { kind: 'setParameterAttributes', attributes: [{ name: `${DI}SoftwareVersion`, notification: 'active' }, { name: `${DI}X_Acme.`, notification: 'off' }] });
  const refused = await queue(d, { kind: 'setParameterAttributes', attributes: [{ name: `${DI}UpTime`, notification: 'active' }] });
  const { cpe, rpc } = await session(port);
  t.equal(rpcOf(rpc).method, 'SetParameterAttributes');
  t.match(rpc.text, 'soapenc:arrayType="cwmp:SetParameterAttributesStruct[2]"');
  t.match(rpc.text, `<SetParameterAttributesStruct><Name>${DI}SoftwareVersion</Name><NotificationChange>1</NotificationChange><Notification>2</Notification><AccessListChange>0</AccessListChange><AccessList soapenc:arrayType="xsd:string[0]"></AccessList></SetParameterAttributesStruct>`);
  t.match(rpc.text, `<Name>${DI}X_Acme.</Name><NotificationChange>1</NotificationChange><Notification>0</Notification>`);
  const next = await cpe.request(agentMessage('<ns1:SetParameterAttributesResponse/>'), XML);
  t.match(await task(d, id), { status: 'done', result: {} });
  t.equal(rpcOf(next).method, 'SetParameterAttributes');
  const fault = message(`<soap:Fault><faultcode>Client</faultcode><faultstring>CWMP fault</faultstring><detail><cwmp:Fault><FaultCode>9009</FaultCode><FaultString>Notification request rejected</FaultString></cwmp:Fault></detail></soap:Fault>`);
  t.equal((await cpe.request(fault, XML)).status, 204);
  t.match(await task(d, refused), { status: 'fault', fault: { code: 9009, message: 'Notification request rejected' } });

  const post = (json: unknown) => d.api('POST', '/v1/devices/stb-1/tasks', { json });
  t.match(await post({ kind: 'setParameterAttributes', attributes: [{ name: `${DI}A`, notification: 'active' }, { name: `${DI}A`, notification: 'off' }] }), { status: 400, body: { message: `attributes: ${DI}A is given twice` } });
  t.match(await post({ kind: 'setParameterAttributes', attributes: [{ name: `${DI}A`, notification: 'loud' }] }), { status: 400, body: { error: 'bad-request' } });
  t.match(await post({ kind: 'setParameterAttributes', attributes: [] }), { status: 400 });
  t.match(await post({ kind: 'getParameterAttributes', names: [] }), { status: 400 });
  t.match(await post({ kind: 'upload', fileType: 'x'.repeat(65) }), { status: 400 });
  t.match(await post({ kind: 'upload', url: 'http://elsewhere/' }), { status: 400 }, 'the upload URL is stbd\'s own: a caller cannot name one');
});

t.test('scheduleInform: DelaySeconds and the CommandKey on the wire; an empty response completes it', async (t) => {
  const { d, port } = await setup(t);
  await addDevice(d, 'stb-1');
  const id = await queue(d, { kind: 'scheduleInform', delaySeconds: 90 });
  const { cpe, rpc } = await session(port);
  t.match(rpc.text, `<cwmp:ScheduleInform><DelaySeconds>90</DelaySeconds><CommandKey>stbd-${id}</CommandKey></cwmp:ScheduleInform>`);
  t.equal((await cpe.request(message('<cwmp:ScheduleInformResponse></cwmp:ScheduleInformResponse>'), XML)).status, 204);
  t.match(await task(d, id), { status: 'done', result: { delaySeconds: 90 } });
  for (const bad of [0, 30 * 86_400 + 1, 1.5]) t.equal((await d.api('POST', '/v1/devices/stb-1/tasks', { json: { kind: 'scheduleInform', delaySeconds: bad } })).status, 400, `delaySeconds ${bad} refused`);
});

t.test('upload, status 1: transferring; the file PUT to its URL, then TransferComplete completes the task', async (t) => {
  const { d, port } = await setup(t);
  await addDevice(d, 'stb-1');
  const id = await queue(d, { kind: 'upload', fileType: '2 Vendor Log File' });
  const other = await queue(d, { kind: 'getParameterValues', names: [`${DI}SoftwareVersion`] });
  const { cpe, rpc } = await session(port);
  t.equal(rpcOf(rpc).method, 'Upload');
  t.match(rpc.text, `<CommandKey>stbd-${id}</CommandKey><FileType>2 Vendor Log File</FileType><URL>http://127.0.0.1:${port}/stbd-upload/${id}/`);
  t.match(rpc.text, '<Username></Username><Password></Password><DelaySeconds>0</DelaySeconds>');
  const url = urlOf(rpc);
  t.ok(url.length < 256, 'TR-069 gives the URL 256 characters');
  // No StartTime or CompleteTime: optional in practice.
  const next = await cpe.request(agentMessage('<ns1:UploadResponse><Status>1</Status></ns1:UploadResponse>'), XML);
  t.equal(rpcOf(next).method, 'GetParameterValues', 'the task waits out of the queue: the next one goes out');
  await cpe.request(message(`<cwmp:GetParameterValuesResponse><ParameterList>${param(`${DI}SoftwareVersion`, '1')}</ParameterList></cwmp:GetParameterValuesResponse>`), XML);
  t.equal((await task(d, other)).status, 'done');
  t.match(await task(d, id), { status: 'transferring', result: { status: 1 }, pending: /waiting for its file and its TransferComplete/ });

  const log = Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 256));
  const put = await http(url, 'PUT', log, { 'content-type': 'application/octet-stream', 'content-length': log.length });
  t.match(put, { status: 200, text: /^stored 3000 bytes as upload \d+/ });
  t.equal((await task(d, id)).status, 'transferring', 'the file alone does not finish it: the CPE reports the transfer');

  const tc = new RawCpe(port);
  await basicInform(tc, 'stb-1', 'stb-1-pw', inform({ serial: 'S1', events: ['7 TRANSFER COMPLETE', 'M Upload'] }));
  t.match((await tc.request(transferComplete(`stbd-${id}`), XML)).text, /TransferCompleteResponse/);
  t.equal((await tc.request('')).status, 204);
  const done = await task(d, id);
  t.match(done, { status: 'done', result: { status: 1, transfer: { faultCode: 0 }, upload: { size: 3000, sha256: sha256(log), contentType: 'application/octet-stream' } } });

  const list = (await d.api('GET', '/v1/devices/stb-1/uploads')).body.uploads;
  t.match(list, [{ id: done.result.upload.id, device: 'stb-1', task: id, fileType: '2 Vendor Log File', size: 3000, sha256: sha256(log) }]);
  const res = await fetch(`${d.url}/v1/uploads/${done.result.upload.id}/content`, { headers: { authorization: `Bearer ${d.token}` } });
  t.equal(res.status, 200);
  t.equal(res.headers.get('content-type'), 'application/octet-stream');
  t.same(Buffer.from(await res.arrayBuffer()), log, 'the bytes as sent');
  t.equal((await http(url, 'PUT', log)).status, 409, 'the URL of a finished task takes nothing more');
  t.equal((await d.api('GET', '/v1/uploads/999999')).status, 404);
  for (const path of ['/v1/devices/stb-1/uploads', `/v1/uploads/${done.result.upload.id}`]) t.equal((await d.api('GET', path, { token: null })).status, 401, `${path} needs the admin token`);
  t.equal((await fetch(`${d.url}/v1/uploads/${done.result.upload.id}/content`)).status, 401);
  t.equal((await d.api('GET', '/v1/devices/nobody/uploads')).status, 404);
});

t.test('upload URL: only the token stbd made for that task, only before it expires; only PUT and POST', async (t) => {
  const { d, port } = await setup(t);
  await addDevice(d, 'stb-1');
  const id = await queue(d, { kind: 'upload' });
  const { cpe, rpc } = await session(port);
  t.match(rpc.text, '<FileType>1 Vendor Configuration File</FileType>', 'the configuration file by default');
  const url = urlOf(rpc);
  await cpe.request(message('<cwmp:UploadResponse><Status>1</Status><StartTime>0001-01-01T00:00:00Z</StartTime><CompleteTime>0001-01-01T00:00:00Z</CompleteTime></cwmp:UploadResponse>'), XML);
  const token = url.slice(url.lastIndexOf('/') + 1);
  const flipped = `${token.slice(0, 10)}${token[10] === 'A' ? 'B' : 'A'}${token.slice(11)}`;
  const body = Buffer.from('config');
  t.equal((await http(url.replace(token, flipped), 'PUT', body)).status, 403, 'an altered token');
  t.equal((await http(url.replace(`/${id}/`, `/${id + 1}/`), 'PUT', body)).status, 403, "the token of another task's URL");
  t.equal((await http(`http://127.0.0.1:${port}/stbd-upload/${id}/`, 'PUT', body)).status, 403, 'no token');
  t.equal((await http(url, 'GET', undefined)).status, 405);
  t.equal((await d.api('GET', '/v1/devices/stb-1/uploads')).body.uploads.length, 0, 'nothing stored');
  d.clock.advance(3_600_001);
  const late = await http(url, 'POST', body);
  t.match(late, { status: 403, text: /the upload URL expired at/ });
  d.timers.fire();
  t.ok(await until(d, async () => (await task(d, id)).status === 'fault'), 'past [uploads] transfer_timeout the task faults');
  t.match(await task(d, id), { fault: { code: 0, message: /the transfer did not complete by .*: no file or no TransferComplete from the CPE/ } });
});

t.test('upload over [uploads] max_size: 413 by Content-Length or while streaming, nothing stored; the CPE reports the failure', async (t) => {
  const { d, port } = await setup(t, { uploads: { max_size: 2048 } });
  await addDevice(d, 'stb-1');
  const id = await queue(d, { kind: 'upload', fileType: '2 Vendor Log File' });
  const { cpe, rpc } = await session(port);
  const url = urlOf(rpc);
  await cpe.request(message('<cwmp:UploadResponse><Status>1</Status></cwmp:UploadResponse>'), XML);
  t.match(await http(url, 'PUT', Buffer.alloc(4096, 1), { 'content-length': 4096 }), { status: 413, text: /over the limit of 2048 bytes \(\[uploads\] max_size\)/ });
  // Chunked, no Content-Length: refused as soon as the count passes the cap, before the CPE is done sending.
  t.equal((await http(url, 'POST', undefined, { 'transfer-encoding': 'chunked' }, Buffer.alloc(3000, 2))).status, 413);
  t.equal((await d.api('GET', '/v1/devices/stb-1/uploads')).body.uploads.length, 0, 'nothing stored');
  t.equal((await http(url, 'PUT', Buffer.alloc(2048, 3))).status, 200, 'exactly the cap is accepted');
  const tc = new RawCpe(port);
  await basicInform(tc, 'stb-1', 'stb-1-pw', inform({ serial: 'S1', events: ['7 TRANSFER COMPLETE', 'M Upload'] }));
  await tc.request(transferComplete(`stbd-${id}`, 9011, 'Upload failure'), XML);
  t.match(await task(d, id), { status: 'fault', fault: { code: 9011, message: 'Upload failure' }, result: { transfer: { faultCode: 9011 } } });
});

t.test('[uploads] max_concurrent: past it a CPE gets 503 with Retry-After; the one being received goes on', async (t) => {
  const { d, port } = await setup(t, { uploads: { max_concurrent: 1 } });
  await addDevice(d, 'stb-1');
  const id = await queue(d, { kind: 'upload' });
  const { cpe, rpc } = await session(port);
  const url = urlOf(rpc);
  await cpe.request(message('<cwmp:UploadResponse><Status>1</Status></cwmp:UploadResponse>'), XML);
  // The first transfer sends half its file and waits.
  const first = request(url, { method: 'PUT', headers: { 'content-length': 10 } });
  const firstDone = new Promise<number>((resolve, reject) => {
    first.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    first.on('error', reject);
  });
  first.write(Buffer.from('hello'));
  t.ok(await until(d, async () => (await http(url, 'PUT', Buffer.from('other'))).status === 503), 'a second one at once: 503');
  first.end(Buffer.from('world'));
  t.equal(await firstDone, 200);
  t.equal((await http(url, 'PUT', Buffer.from('again'))).status, 200, 'room again');
  t.equal((await d.api('GET', '/v1/devices/stb-1/uploads')).body.uploads.length, 1, 'the second replaced the first: one task, one file');
  t.equal((await task(d, id)).status, 'transferring');
});

t.test('upload, status 0: the file first, then the answer, done in the session; or the answer first, done when the file arrives', async (t) => {
  const { d, port } = await setup(t);
  await addDevice(d, 'stb-1');
  const first = await queue(d, { kind: 'upload' });
  let s = await session(port);
  const config = Buffer.from(`${IGD}PeriodicInformInterval=300\n`);
  t.equal((await http(urlOf(s.rpc), 'PUT', config, { 'content-type': 'text/plain' })).status, 200);
  t.equal((await s.cpe.request(message('<cwmp:UploadResponse><Status>0</Status><StartTime>2026-01-01T00:00:00Z</StartTime><CompleteTime>2026-01-01T00:00:01Z</CompleteTime></cwmp:UploadResponse>'), XML)).status, 204);
  t.match(await task(d, first), { status: 'done', result: { status: 0, startTime: '2026-01-01T00:00:00Z', upload: { size: config.length, contentType: 'text/plain' } } });

  const second = await queue(d, { kind: 'upload' });
  s = await session(port);
  const url = urlOf(s.rpc);
  await s.cpe.request(message('<cwmp:UploadResponse><Status>0</Status></cwmp:UploadResponse>'), XML);
  t.equal((await task(d, second)).status, 'transferring', 'status 0 but no file yet: waiting for it');
  t.equal((await http(url, 'PUT', config)).status, 200);
  t.match(await task(d, second), { status: 'done', result: { upload: { size: config.length } } });
});

t.test('[uploads] keep_per_device: the oldest upload goes as a new one arrives', async (t) => {
  const { d, port } = await setup(t, { uploads: { keep_per_device: 2 } });
  await addDevice(d, 'stb-1');
  const ids: number[] = [];
  for (let i = 0; i < 3; i++) {
    const id = await queue(d, { kind: 'upload' });
    ids.push(id);
    const s = await session(port);
    await http(urlOf(s.rpc), 'PUT', Buffer.from(`file ${i}`));
    await s.cpe.request(message('<cwmp:UploadResponse><Status>0</Status></cwmp:UploadResponse>'), XML);
  }
  t.same((await d.api('GET', '/v1/devices/stb-1/uploads')).body.uploads.map((u: { task: number }) => u.task), [ids[2], ids[1]]);
});

t.test('an Inform with 4 VALUE CHANGE updates the last known values it carries', async (t) => {
  const { d, port } = await setup(t);
  await addDevice(d, 'stb-1');
  const cr = param(`${IGD}ConnectionRequestURL`, 'http://127.0.0.1:1/cr');
  await session(port, ['1 BOOT'], `${cr}${param(`${DI}X_Acme.Channel`, '7', 'xsd:unsignedInt')}`);
  const known = async () => Object.fromEntries(((await d.api('GET', '/v1/devices/stb-1')).body.management.parameters as { name: string; value: string }[]).map((p) => [p.name, p.value]));
  t.equal((await known())[`${DI}X_Acme.Channel`], '7');
  d.clock.advance(1000);
  await session(port, ['4 VALUE CHANGE'], `${cr}${param(`${DI}X_Acme.Channel`, '12', 'xsd:unsignedInt')}`);
  t.equal((await known())[`${DI}X_Acme.Channel`], '12');
  t.same((await d.api('GET', '/v1/devices/stb-1')).body.management.lastEvents, ['4 VALUE CHANGE']);
});
