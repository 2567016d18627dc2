import { XMLBuilder, XMLParser } from 'fast-xml-parser';
import { type BodyCharset, UTF8 } from './body-charset.js';
import type { CwmpFault } from './cwmp-fault.js';
import type { ParameterAttributes, ParameterInfo, ParameterValue } from './param-tree.js';

/** The CWMP namespace versions (urn:dslforum-org:cwmp-1-0 … 1-4). */
export const CWMP_VERSIONS = ['1-0', '1-1', '1-2', '1-3', '1-4'] as const;
export type CwmpVersion = (typeof CWMP_VERSIONS)[number];

export type XmlNode = Record<string, unknown>;

/** What the ACS sent: an RPC for the CPE, or its answer to one of the CPE's requests. */
export interface AcsMessage {
  readonly version: CwmpVersion;
  /** The cwmp:ID header, echoed in our answer. */
  readonly id: string | undefined;
  /** Local name of the Body's element, e.g. "GetParameterValues" or "InformResponse". */
  readonly method: string;
  /** The element's content with namespace prefixes dropped. */
  readonly args: XmlNode;
}

export interface InformContent {
  readonly deviceId: { readonly manufacturer: string; readonly oui: string; readonly productClass: string; readonly serialNumber: string };
  readonly events: readonly { readonly code: string; readonly commandKey: string }[];
  readonly currentTime: string;
  readonly retryCount: number;
  readonly parameters: readonly ParameterValue[];
}

export class AcsMessageError extends Error {
  override name = 'AcsMessageError';
}

const LISTS = new Set(['string', 'ParameterValueStruct', 'ParameterInfoStruct', 'EventStruct', 'SetParameterValuesFault', 'MethodList', 'SetParameterAttributesStruct', 'ParameterAttributeStruct']);
const NS = /^urn:dslforum-org:cwmp-(1-[0-4])$/;
const localName = (name: string) => name.replace(/^(@?)[^:@]*:/, '$1');

/** Text content of a parsed element (a leaf, or one with attributes). */
export function textOf(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null && '#text' in v) return String((v as XmlNode)['#text']);
  return '';
}

/** A repeated element as an array, whatever the parser made of it. */
export function listOf(v: unknown): XmlNode[] {
  if (Array.isArray(v)) return v as XmlNode[];
  return typeof v === 'object' && v !== null ? [v as XmlNode] : [];
}

function stripPrefixes(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripPrefixes);
  if (typeof v !== 'object' || v === null) return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [localName(k), stripPrefixes(x)]));
}

/** The CWMP version of the first cwmp namespace declared anywhere in the message. */
function declaredVersion(v: unknown): CwmpVersion | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  for (const [k, x] of Object.entries(v)) {
    const m = k.startsWith('@xmlns') && typeof x === 'string' ? NS.exec(x) : null;
    if (m) return m[1] as CwmpVersion;
    const inner = declaredVersion(x);
    if (inner) return inner;
  }
  return undefined;
}

/**
 * The CPE side of CWMP SOAP, written independently of the daemon's parser so that tests between the two
 * really check interoperability. Any prefixes are accepted; our own messages use `SOAP-ENV`/`cwmp`.
 */
export class CpeSoap {
  readonly #parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '@',
    parseTagValue: false,
    trimValues: true,
    isArray: (name) => LISTS.has(localName(name)),
  });
  readonly #builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@', suppressEmptyNode: false });

  /** `charset`: what our XML declarations say; SessionHttp encodes the bodies with it. */
  constructor(readonly charset: BodyCharset = UTF8) {}

  #document(envelope: XmlNode): string {
    return `<?xml version="1.0" encoding="${this.charset.xmlName}"?>\n${this.#builder.build({ 'SOAP-ENV:Envelope': envelope }) as string}`;
  }

  /** @throws AcsMessageError when the body is not a SOAP envelope with one element in its Body. */
  parse(xml: string): AcsMessage {
    let doc: XmlNode;
    try {
      doc = this.#parser.parse(xml, true) as XmlNode;
    } catch (err) {
      throw new AcsMessageError(`malformed XML: ${(err as Error).message.split('\n')[0]}`);
    }
    const key = Object.keys(doc).find((k) => localName(k) === 'Envelope');
    if (!key) throw new AcsMessageError('no SOAP Envelope');
    const version = declaredVersion(doc[key]) ?? '1-0';
    const envelope = stripPrefixes(doc[key]) as XmlNode;
    const body = envelope['Body'];
    if (typeof body !== 'object' || body === null) throw new AcsMessageError('no SOAP Body');
    const method = Object.keys(body).find((k) => !k.startsWith('@'));
    if (!method) throw new AcsMessageError('empty SOAP Body');
    const content = (body as XmlNode)[method];
    const id = textOf((envelope['Header'] as XmlNode | undefined)?.['ID']) || undefined;
    return { version, id, method, args: typeof content === 'object' && content !== null ? (content as XmlNode) : {} };
  }

  envelope(version: CwmpVersion, id: string | undefined, method: string, content: XmlNode): string {
    const envelope: XmlNode = {
      '@xmlns:SOAP-ENV': 'http://schemas.xmlsoap.org/soap/envelope/',
      '@xmlns:SOAP-ENC': 'http://schemas.xmlsoap.org/soap/encoding/',
      '@xmlns:xsd': 'http://www.w3.org/2001/XMLSchema',
      '@xmlns:xsi': 'http://www.w3.org/2001/XMLSchema-instance',
      '@xmlns:cwmp': `urn:dslforum-org:cwmp-${version}`,
      ...(id === undefined ? {} : { 'SOAP-ENV:Header': { 'cwmp:ID': { '@SOAP-ENV:mustUnderstand': '1', '#text': id } } }),
      'SOAP-ENV:Body': { [`cwmp:${method}`]: content },
    };
    return this.#document(envelope);
  }

  inform(version: CwmpVersion, id: string, c: InformContent): string {
    return this.envelope(version, id, 'Inform', {
      DeviceId: { Manufacturer: c.deviceId.manufacturer, OUI: c.deviceId.oui, ProductClass: c.deviceId.productClass, SerialNumber: c.deviceId.serialNumber },
      Event: { '@SOAP-ENC:arrayType': `cwmp:EventStruct[${c.events.length}]`, EventStruct: c.events.map((e) => ({ EventCode: e.code, CommandKey: e.commandKey })) },
      MaxEnvelopes: 1,
      CurrentTime: c.currentTime,
      RetryCount: c.retryCount,
      ParameterList: parameterList(c.parameters),
    });
  }

  transferComplete(version: CwmpVersion, id: string, t: { readonly commandKey: string; readonly faultCode: number; readonly faultString: string; readonly startTime: string; readonly completeTime: string }): string {
    return this.envelope(version, id, 'TransferComplete', {
      CommandKey: t.commandKey,
      FaultStruct: { FaultCode: t.faultCode, FaultString: t.faultString },
      StartTime: t.startTime,
      CompleteTime: t.completeTime,
    });
  }

  /** A SOAP Fault carrying the CWMP fault (and, for SetParameterValues, one entry per bad parameter). */
  fault(version: CwmpVersion, id: string | undefined, f: CwmpFault): string {
    const envelope: XmlNode = {
      '@xmlns:SOAP-ENV': 'http://schemas.xmlsoap.org/soap/envelope/',
      '@xmlns:cwmp': `urn:dslforum-org:cwmp-${version}`,
      ...(id === undefined ? {} : { 'SOAP-ENV:Header': { 'cwmp:ID': { '@SOAP-ENV:mustUnderstand': '1', '#text': id } } }),
      'SOAP-ENV:Body': {
        'SOAP-ENV:Fault': {
          faultcode: isClientFault(f.code) ? 'Client' : 'Server',
          faultstring: 'CWMP fault',
          detail: {
            'cwmp:Fault': {
              FaultCode: f.code,
              FaultString: f.message,
              ...(f.parameterFaults.length > 0
                ? { SetParameterValuesFault: f.parameterFaults.map((p) => ({ ParameterName: p.name, FaultCode: p.code, FaultString: p.message })) }
                : {}),
            },
          },
        },
      },
    };
    return this.#document(envelope);
  }
}

/** 9003 and 9005–9008 blame the request (SOAP "Client"); the rest are the CPE's own failures. */
const isClientFault = (code: number) => code === 9003 || (code >= 9005 && code <= 9008);

export function parameterList(values: readonly ParameterValue[]): XmlNode {
  return {
    '@SOAP-ENC:arrayType': `cwmp:ParameterValueStruct[${values.length}]`,
    ParameterValueStruct: values.map((v) => ({ Name: v.name, Value: { '@xsi:type': v.type, '#text': v.value } })),
  };
}

export function parameterInfoList(infos: readonly ParameterInfo[]): XmlNode {
  return {
    '@SOAP-ENC:arrayType': `cwmp:ParameterInfoStruct[${infos.length}]`,
    ParameterInfoStruct: infos.map((i) => ({ Name: i.name, Writable: i.writable ? 1 : 0 })),
  };
}

export function parameterAttributeList(attributes: readonly ParameterAttributes[]): XmlNode {
  return {
    '@SOAP-ENC:arrayType': `cwmp:ParameterAttributeStruct[${attributes.length}]`,
    ParameterAttributeStruct: attributes.map((a) => ({
      Name: a.name,
      Notification: a.notification,
      AccessList: { '@SOAP-ENC:arrayType': `xsd:string[${a.accessList.length}]`, ...(a.accessList.length > 0 ? { string: [...a.accessList] } : { '#text': '' }) },
    })),
  };
}
