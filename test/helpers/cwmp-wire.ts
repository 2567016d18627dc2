import { createHash } from 'node:crypto';
import type { ConfigOverrides } from './daemon.js';
import { type InProcessDaemon, startInProcess } from './in-process.js';
import { RawCpe, type RawReply } from './raw-cpe.js';

/** Hand-written CWMP bodies, shaped like those of CPE agents stbd did not write. */

export const IGD = 'InternetGatewayDevice.ManagementServer.';
const XSI = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"';

/** `dir`: the test's directory when files were put in it already (t.testdir() empties it). */
export async function setup(t: { testdir(): string; teardown(fn: () => unknown): void }, overrides: ConfigOverrides = {}, dir = t.testdir()) {
  const d = await startInProcess(dir, overrides);
  t.teardown(() => d.daemon.stop());
  return { d, port: d.daemon.management.address!.port };
}

export async function addDevice(d: InProcessDaemon, id: string, extra: Record<string, string> = {}) {
  const res = await d.api('POST', '/v1/devices', { json: { id, cwmpPassword: `${id}-pw`, crPassword: `${id}-cr`, ...extra } });
  if (res.status !== 201) throw new Error(JSON.stringify(res.body));
  return res.body;
}

export const param = (name: string, value: string, type = 'xsd:string') => `<ParameterValueStruct><Name>${name}</Name><Value xsi:type="${type}">${value}</Value></ParameterValueStruct>`;

/** An Inform as a CPE writes it. */
export function inform(o: { serial: string; events?: string[]; params?: string; ns?: string }): string {
  const events = (o.events ?? ['2 PERIODIC']).map((e) => `<EventStruct><EventCode>${e}</EventCode><CommandKey></CommandKey></EventStruct>`).join('');
  return `<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="${o.ns ?? 'urn:dslforum-org:cwmp-1-2'}" ${XSI}>
<SOAP-ENV:Header><cwmp:ID SOAP-ENV:mustUnderstand="1">1</cwmp:ID></SOAP-ENV:Header>
<SOAP-ENV:Body><cwmp:Inform>
<DeviceId><Manufacturer>Acme</Manufacturer><OUI>00D09E</OUI><ProductClass>STB</ProductClass><SerialNumber>${o.serial}</SerialNumber></DeviceId>
<Event>${events}</Event><MaxEnvelopes>1</MaxEnvelopes><CurrentTime>2026-01-01T00:00:00Z</CurrentTime><RetryCount>0</RetryCount>
<ParameterList>${o.params ?? param(`${IGD}ConnectionRequestURL`, 'http://127.0.0.1:1/cr')}</ParameterList>
</cwmp:Inform></SOAP-ENV:Body></SOAP-ENV:Envelope>`;
}

/** A CPE's message in a session (a response or a CPE request). */
export const message = (inner: string, ns = 'urn:dslforum-org:cwmp-1-2', id = 'x1') => `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="${ns}" ${XSI}>
<soap:Header><cwmp:ID soap:mustUnderstand="1">${id}</cwmp:ID></soap:Header><soap:Body>${inner}</soap:Body></soap:Envelope>`;

export const ok = (name: string) => message(`<cwmp:${name}Response><Status>0</Status></cwmp:${name}Response>`);

export const XML: [string, string][] = [
  ['Content-Type', 'text/xml; charset="utf-8"'],
  ['SOAPAction', ''],
];

/** The RPC stbd sent: method and cwmp:ID. */
export const rpcOf = (r: RawReply) => ({ method: /<soap:Body><cwmp:(\w+)/.exec(r.text)?.[1] ?? '', id: /<cwmp:ID[^>]*>([^<]*)</.exec(r.text)?.[1] ?? '' });

/** The Name → Value pairs of a SetParameterValues or GetParameterValues stbd sent (names without the IGD prefix). */
export const valuesOf = (r: RawReply): Record<string, string> =>
  Object.fromEntries([...r.text.matchAll(/<Name>([^<]+)<\/Name><Value xsi:type="[^"]+">([^<]*)</g)].map((m) => [m[1]!.replace(IGD, ''), m[2]!]));

/** Logs in with Basic (preemptive, as many CPEs do) and Informs. */
export function basicInform(cpe: RawCpe, username: string, password: string, body: string, headers = XML): Promise<RawReply> {
  return cpe.request(body, [...headers, ['Authorization', RawCpe.basic(username, password)]]);
}

/** Digest as libcurl does it: the challenge first, then the Inform with the answer. */
export async function digestInform(cpe: RawCpe, username: string, password: string, body: string, uri = '/acs', target = '/acs'): Promise<RawReply> {
  const challenged = await cpe.request(body, XML, target);
  if (challenged.status !== 401) throw new Error(`expected 401, got ${challenged.status}`);
  return cpe.request(body, [...XML, ['Authorization', RawCpe.digest(challenged.headers['www-authenticate'] ?? '', username, password, uri)]], target);
}

/** Answers the provisioning SetParameterValues and returns the values it carried. */
export async function acceptProvisioning(t: { equal(a: unknown, b: unknown): void }, cpe: RawCpe): Promise<Record<string, string>> {
  const rpc = await cpe.request('');
  t.equal(rpcOf(rpc).method, 'SetParameterValues');
  t.equal((await cpe.request(ok('SetParameterValues'), XML)).status, 204);
  return valuesOf(rpc);
}

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

/** The Digest `response` a client with this cnonce and nc should have sent (server side, qop=auth). */
export function expectedDigest(user: { username: string; password: string }, realm: string, nonce: string, method: string, uri: string, nc: string, cnonce: string): string {
  return md5(`${md5(`${user.username}:${realm}:${user.password}`)}:${nonce}:${nc}:${cnonce}:auth:${md5(`${method}:${uri}`)}`);
}
