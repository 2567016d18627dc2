import { request } from 'node:http';
import { answerChallenge } from '../../src/http-digest.js';

/** A CPE's request bodies, written out by hand (not by the daemon's builder) so the tests check the wire. */
export function informXml(o: { serial: string; events?: string[]; params?: Record<string, string>; ns?: string; id?: string; prefix?: string; productClass?: string }): string {
  const p = o.prefix ?? 'cwmp';
  const events = (o.events ?? ['2 PERIODIC']).map((e) => `<EventStruct><EventCode>${e}</EventCode><CommandKey></CommandKey></EventStruct>`).join('');
  const params = Object.entries(o.params ?? {})
    .map(([n, v]) => `<ParameterValueStruct><Name>${n}</Name><Value xsi:type="xsd:string">${v}</Value></ParameterValueStruct>`)
    .join('');
  return `<?xml version="1.0"?>
<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:soap-enc="http://schemas.xmlsoap.org/soap/encoding/"
  xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:${p}="${o.ns ?? 'urn:dslforum-org:cwmp-1-2'}">
 <soap-env:Header><${p}:ID soap-env:mustUnderstand="1">${o.id ?? 'inform-1'}</${p}:ID></soap-env:Header>
 <soap-env:Body><${p}:Inform>
  <DeviceId><Manufacturer>Acme</Manufacturer><OUI>00D09E</OUI><ProductClass>${o.productClass ?? 'STB'}</ProductClass><SerialNumber>${o.serial}</SerialNumber></DeviceId>
  <Event soap-enc:arrayType="cwmp:EventStruct[1]">${events}</Event>
  <MaxEnvelopes>1</MaxEnvelopes><CurrentTime>2026-01-01T00:00:00Z</CurrentTime><RetryCount>0</RetryCount>
  <ParameterList soap-enc:arrayType="cwmp:ParameterValueStruct[1]">${params}</ParameterList>
 </${p}:Inform></soap-env:Body></soap-env:Envelope>`;
}

export function responseXml(id: string, method: string, inner: string, ns = 'urn:dslforum-org:cwmp-1-2'): string {
  return `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="${ns}">
 <soap:Header><cwmp:ID soap:mustUnderstand="1">${id}</cwmp:ID></soap:Header>
 <soap:Body><cwmp:${method}>${inner}</cwmp:${method}></soap:Body></soap:Envelope>`;
}

export function gpvResponseXml(id: string, values: Record<string, string>): string {
  const structs = Object.entries(values)
    .map(([n, v]) => `<ParameterValueStruct><Name>${n}</Name><Value xsi:type="xsd:string">${v}</Value></ParameterValueStruct>`)
    .join('');
  return responseXml(id, 'GetParameterValuesResponse', `<ParameterList>${structs}</ParameterList>`).replace('<soap:Envelope ', '<soap:Envelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ');
}

export function faultXml(id: string, code: number, message: string): string {
  return `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-2">
 <soap:Header><cwmp:ID soap:mustUnderstand="1">${id}</cwmp:ID></soap:Header>
 <soap:Body><soap:Fault><faultcode>Client</faultcode><faultstring>CWMP fault</faultstring>
  <detail><cwmp:Fault><FaultCode>${code}</FaultCode><FaultString>${message}</FaultString></cwmp:Fault></detail></soap:Fault></soap:Body></soap:Envelope>`;
}

export interface CpeReply {
  readonly status: number;
  readonly body: string;
  readonly headers: Record<string, string | string[] | undefined>;
}

/**
 * One CWMP client session as a test CPE runs it: keeps its cookie, answers 401 with Digest (or Basic),
 * and posts whatever the test tells it to.
 */
export class TestCpe {
  #cookie: string | undefined;

  constructor(
    readonly url: string,
    readonly username: string,
    readonly password: string,
    readonly scheme: 'digest' | 'basic' = 'digest',
  ) {}

  /** Posts, answering one authentication challenge. */
  async post(body: string, opts: { auth?: boolean } = {}): Promise<CpeReply> {
    const first = await this.raw(body, opts.auth !== false && this.scheme === 'basic' ? this.#basic() : undefined);
    if (first.status !== 401 || opts.auth === false) return first;
    const challenge = String(first.headers['www-authenticate'] ?? '');
    const authorization = this.scheme === 'basic' ? this.#basic() : answerChallenge(challenge, this, 'POST', new URL(this.url).pathname);
    return this.raw(body, authorization);
  }

  /** The RPC id of a daemon request, and the method. */
  static rpc(body: string): { id: string; method: string } {
    const id = /<cwmp:ID[^>]*>([^<]*)</.exec(body)?.[1] ?? '';
    const method = /<soap:Body><cwmp:(\w+)/.exec(body)?.[1] ?? '';
    return { id, method };
  }

  endSession(): void {
    this.#cookie = undefined;
  }

  #basic(): string {
    return `Basic ${Buffer.from(`${this.username}:${this.password}`).toString('base64')}`;
  }

  raw(body: string, authorization?: string): Promise<CpeReply> {
    const headers: Record<string, string | number> = { 'content-type': 'text/xml; charset="utf-8"', 'content-length': Buffer.byteLength(body) };
    if (authorization) headers['authorization'] = authorization;
    if (this.#cookie) headers['cookie'] = this.#cookie;
    return new Promise((resolve, reject) => {
      const req = request(this.url, { method: 'POST', headers, agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          const set = res.headers['set-cookie'];
          if (set?.[0]) this.#cookie = set[0].split(';')[0];
          resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers });
        });
      });
      req.on('error', reject);
      req.end(body);
    });
  }
}
