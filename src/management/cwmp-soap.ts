import { XMLBuilder } from 'fast-xml-parser';
import { INFORM_RESPONSE_BODY, emptyResponseBody, envelopeAround, parameterNamesBody } from './cwmp-envelope-template.js';
import { localName, XmlTreeReader } from './xml-tree.js';

/** CWMP namespace versions (urn:dslforum-org:cwmp-1-0 … 1-4): accept all, answer in the CPE's. */
export type CwmpVersion = '1-0' | '1-1' | '1-2' | '1-3' | '1-4';

export interface ParameterValue {
  readonly name: string;
  readonly value: string;
  /** xsi:type, e.g. "xsd:string", "xsd:unsignedInt", "xsd:boolean". */
  readonly type: string;
}

export interface Inform {
  readonly kind: 'Inform';
  readonly deviceId: { readonly manufacturer: string; readonly oui: string; readonly productClass: string; readonly serialNumber: string };
  readonly events: readonly { readonly code: string; readonly commandKey: string }[];
  readonly parameters: readonly ParameterValue[];
  readonly retryCount: number;
}

/** One parameter a SetParameterValues fault names (TR-069 A.3.2.1). */
export interface ParameterFault {
  readonly parameter: string;
  readonly code: number;
  readonly message: string;
}

export interface Fault {
  readonly kind: 'Fault';
  /** The CWMP fault code (e.g. 9005 Invalid parameter name), or 0 if the CPE sent only a SOAP fault. */
  readonly code: number;
  readonly message: string;
  /** SetParameterValuesFault entries, when the CPE named the parameters at fault. */
  readonly details: readonly ParameterFault[];
}

/** CPE requests an ACS must accept and acknowledge (TR-069 A.3.3): stbd records them on the device. */
export const RECORDED_CPE_METHODS = ['AutonomousTransferComplete', 'DUStateChangeComplete', 'AutonomousDUStateChangeComplete'] as const;
export type RecordedCpeMethod = (typeof RECORDED_CPE_METHODS)[number];

/** What a CPE may POST: its own requests, or its answer to the RPC it was sent. */
export type CpeBody =
  | Inform
  | { readonly kind: 'TransferComplete'; readonly commandKey: string; readonly faultCode: number; readonly faultString: string }
  | { readonly kind: 'GetRPCMethods' }
  | { readonly kind: 'Notification'; readonly method: RecordedCpeMethod; readonly detail: Readonly<Record<string, unknown>> }
  /** A CPE request stbd does not implement (Kicked, RequestDownload, a vendor method): answered with fault 8000. */
  | { readonly kind: 'Unsupported'; readonly method: string }
  | { readonly kind: 'Response'; readonly method: string; readonly body: Record<string, unknown> }
  | Fault;

export interface CpeMessage {
  readonly version: CwmpVersion;
  /** The cwmp:ID header, echoed in the answer. */
  readonly id: string | undefined;
  readonly body: CpeBody;
}

/** The arguments of a Download RPC (TR-069 A.3.2.8) an operator chooses. */
export interface DownloadArgs {
  readonly url: string;
  /** e.g. "1 Firmware Upgrade Image", "3 Vendor Configuration File". */
  readonly fileType: string;
  readonly username?: string;
  readonly password?: string;
  readonly fileSize?: number;
  readonly targetFileName?: string;
}

/** One parameter's attributes as a GetParameterAttributesResponse reports them (TR-069 A.3.2.5). */
export interface ParameterAttributes {
  readonly name: string;
  /**
   * 'off', 'passive', 'active' (0–2), the lightweight variants of later amendments (3–6), 'code N' for
   * another number, 'unknown' when the CPE left it out.
   */
  readonly notification: string;
  readonly accessList: readonly string[];
}

/** TR-069's Notification values, 0 to 6, by name. */
export const NOTIFICATION_CODES = ['off', 'passive', 'active', 'passive-lightweight', 'passive+passive-lightweight', 'active-lightweight', 'passive+active-lightweight'] as const;

/** A Notification value as sent: a number (some agents pad it), or one of the names some agents write. */
export function notificationName(raw: string): string {
  const v = raw.trim();
  if (v === '') return 'unknown';
  if (/^\d+$/.test(v)) return NOTIFICATION_CODES[Number(v)] ?? `code ${Number(v)}`;
  const word = v.toLowerCase();
  return (NOTIFICATION_CODES as readonly string[]).includes(word) ? word : `code ${v}`;
}

export class SoapError extends Error {
  override name = 'SoapError';
}

const LIST_ELEMENTS = new Set(['EventStruct', 'ParameterValueStruct', 'ParameterInfoStruct', 'ParameterAttributeStruct', 'SetParameterValuesFault', 'OpResultStruct', 'AutonOpResultStruct', 'string']);
const CWMP_NS = /^urn:dslforum-org:cwmp-(1-[0-4])$/;

/**
 * The reader of CPE bodies. Envelope, Header and Body, the RPC and the ID keep their prefixes: the CWMP
 * version is read from them.
 */
export const cwmpTreeReader = (): XmlTreeReader => new XmlTreeReader(LIST_ELEMENTS, 3);

type Node = Record<string, unknown>;

/**
 * Values keep their white space (a CPE's value is what it sent); names, codes and keys are trimmed, as
 * pretty-printing CPEs indent them.
 */
const raw = (v: unknown): string => {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null && '#text' in v) return String((v as Node)['#text']);
  return '';
};
const text = (v: unknown): string => raw(v).trim();
const isBlank = (v: unknown): boolean => v === undefined || (typeof v === 'string' && v.trim() === '');
const list = (v: unknown): Node[] => (Array.isArray(v) ? (v as unknown[]).filter((x) => !isBlank(x)) as Node[] : isBlank(v) ? [] : [v as Node]);
/** The value as an element with children, or undefined (an empty or text-only element). */
const asNode = (v: unknown): Node | undefined => (typeof v === 'object' && v !== null ? (v as Node) : undefined);
const child = (v: unknown, name: string): Node | undefined => asNode(asNode(v)?.[name]);
const elementOf = (node: unknown, local: string): [string, unknown] | undefined =>
  typeof node === 'object' && node !== null ? Object.entries(node).find(([k]) => !k.startsWith('@') && localName(k) === local) : undefined;

/** The CWMP version a namespace declaration on `node` names, for `prefix` ('' for the default namespace), or any. */
function declared(node: unknown, prefix: string | undefined): CwmpVersion | undefined {
  if (typeof node !== 'object' || node === null) return undefined;
  for (const [k, v] of Object.entries(node)) {
    if (k !== '@xmlns' && !k.startsWith('@xmlns:')) continue;
    if (prefix !== undefined && k !== (prefix === '' ? '@xmlns' : `@xmlns:${prefix}`)) continue;
    const m = CWMP_NS.exec(String(v).trim());
    if (m) return m[1] as CwmpVersion;
  }
  return undefined;
}

const faultOf = (f: Node | undefined) => ({ code: Number(text(f?.['FaultCode'])) || 0, message: text(f?.['FaultString']) });

/**
 * A CWMP SOAP parser and builder (TR-069): bodies are read by a strict XML parser (xml-tree.ts), never by
 * regular expressions; answers are built by fast-xml-parser's builder or from string templates. Construct
 * once and reuse.
 */
export class CwmpSoap {
  readonly #reader = cwmpTreeReader();
  readonly #builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@', suppressEmptyNode: false, format: false });

  /** Parses a POST body from a CPE. @throws SoapError naming what is wrong. */
  parse(xml: string): CpeMessage {
    let doc: Node;
    try {
      doc = this.#reader.read(xml);
    } catch (err) {
      throw new SoapError(`malformed XML: ${(err as Error).message.split('\n')[0]}`);
    }
    const [, rawEnvelope] = elementOf(doc, 'Envelope') ?? [];
    if (typeof rawEnvelope !== 'object' || rawEnvelope === null) throw new SoapError('no SOAP Envelope');
    const [, rawBody] = elementOf(rawEnvelope, 'Body') ?? [];
    if (typeof rawBody !== 'object' || rawBody === null) throw new SoapError('no SOAP Body');
    const [rawMethod, rawContent] = Object.entries(rawBody).find(([k]) => !k.startsWith('@')) ?? [];
    if (!rawMethod) throw new SoapError('empty SOAP Body');
    const [, rawHeader] = elementOf(rawEnvelope, 'Header') ?? [];
    const [, rawId] = elementOf(rawHeader, 'ID') ?? [];
    const id = text(rawId) || undefined;
    const version = this.#version(rawMethod, rawContent, rawBody, rawHeader, rawId, rawEnvelope);
    return { version, id, body: this.#body(localName(rawMethod), (rawContent ?? {}) as Node) };
  }

  /**
   * The version the CPE actually uses: the namespace of the RPC element's prefix, resolved from the element
   * outwards; failing that (a SOAP Fault, say) any cwmp namespace declared on the way, the ID header included.
   */
  #version(method: string, content: unknown, body: object, header: unknown, id: unknown, envelope: object): CwmpVersion {
    const prefix = method.includes(':') ? method.slice(0, method.indexOf(':')) : '';
    const scopes = [content, body, envelope];
    for (const scope of scopes) {
      const v = declared(scope, prefix);
      if (v) return v;
    }
    const [, detailFault] = elementOf(elementOf(content, 'detail')?.[1], 'Fault') ?? [];
    for (const scope of [detailFault, content, id, header, body, envelope]) {
      const v = declared(scope, undefined);
      if (v) return v;
    }
    return '1-0';
  }

  #body(method: string, c: Node): CpeBody {
    switch (method) {
      case 'Inform': {
        const d = (c['DeviceId'] ?? {}) as Node;
        return {
          kind: 'Inform',
          deviceId: { manufacturer: text(d['Manufacturer']), oui: text(d['OUI']), productClass: text(d['ProductClass']), serialNumber: text(d['SerialNumber']) },
          events: list(child(c, 'Event')?.['EventStruct']).map((e) => ({ code: text(e['EventCode']), commandKey: text(e['CommandKey']) })),
          parameters: this.#parameterValues(c['ParameterList']),
          retryCount: Number(text(c['RetryCount'])) || 0,
        };
      }
      case 'TransferComplete': {
        const f = faultOf(child(c, 'FaultStruct'));
        return { kind: 'TransferComplete', commandKey: text(c['CommandKey']), faultCode: f.code, faultString: f.message };
      }
      case 'GetRPCMethods':
        return { kind: 'GetRPCMethods' };
      case 'AutonomousTransferComplete':
        return {
          kind: 'Notification',
          method,
          detail: {
            announceUrl: text(c['AnnounceURL']),
            transferUrl: text(c['TransferURL']),
            isDownload: ['1', 'true'].includes(text(c['IsDownload']).toLowerCase()),
            fileType: text(c['FileType']),
            fileSize: Number(text(c['FileSize'])) || 0,
            targetFileName: text(c['TargetFileName']),
            fault: faultOf(child(c, 'FaultStruct')),
            startTime: text(c['StartTime']),
            completeTime: text(c['CompleteTime']),
          },
        };
      case 'DUStateChangeComplete':
      case 'AutonomousDUStateChangeComplete': {
        const results = list(child(c, 'Results')?.[method === 'DUStateChangeComplete' ? 'OpResultStruct' : 'AutonOpResultStruct']).map((r) => ({
          uuid: text(r['UUID']),
          deploymentUnitRef: text(r['DeploymentUnitRef']),
          version: text(r['Version']),
          currentState: text(r['CurrentState']),
          ...(r['OperationPerformed'] === undefined ? {} : { operationPerformed: text(r['OperationPerformed']) }),
          fault: faultOf(child(r, 'Fault')),
          startTime: text(r['StartTime']),
          completeTime: text(r['CompleteTime']),
        }));
        return { kind: 'Notification', method, detail: { ...(method === 'DUStateChangeComplete' ? { commandKey: text(c['CommandKey']) } : {}), results } };
      }
      case 'Fault': {
        const cwmp = child(child(c, 'detail'), 'Fault');
        const details = list(cwmp?.['SetParameterValuesFault']).map((f) => ({ parameter: text(f['ParameterName']), ...faultOf(f) }));
        const f = faultOf(cwmp);
        return { kind: 'Fault', code: f.code, message: f.message || text(c['faultstring']), details };
      }
      default:
        return method.endsWith('Response') ? { kind: 'Response', method, body: c } : { kind: 'Unsupported', method };
    }
  }

  /** The ParameterInfoStruct list of a GetParameterNamesResponse. */
  parameterNames(response: Record<string, unknown>): { name: string; writable: boolean }[] {
    return list(asNode(response['ParameterList'])?.['ParameterInfoStruct']).map((p) => ({
      name: text(p['Name']),
      writable: ['1', 'true'].includes(text(p['Writable']).toLowerCase()),
    }));
  }

  /**
   * The ParameterAttributeStruct list of a GetParameterAttributesResponse: with or without arrayType, a
   * missing or empty AccessList, a missing Notification ('unknown').
   */
  parameterAttributes(response: Record<string, unknown>): ParameterAttributes[] {
    return list(asNode(response['ParameterList'])?.['ParameterAttributeStruct']).map((p) => ({
      name: text(p['Name']),
      notification: notificationName(text(p['Notification'])),
      accessList: list(asNode(p['AccessList'])?.['string']).map(text).filter((a) => a !== ''),
    }));
  }

  /** The ParameterValueStruct list of an Inform or a GetParameterValuesResponse. */
  parameterValues(response: Record<string, unknown>): ParameterValue[] {
    return this.#parameterValues(response['ParameterList']);
  }

  #parameterValues(parameterList: unknown): ParameterValue[] {
    return list(asNode(parameterList)?.['ParameterValueStruct']).map((p) => {
      const v = p['Value'];
      const type = typeof v === 'object' && v !== null ? String((v as Node)['@type'] ?? 'xsd:string').trim() : 'xsd:string';
      return { name: text(p['Name']), value: raw(v), type };
    });
  }

  #envelope(version: CwmpVersion, id: string | undefined, body: Node): string {
    const envelope: Node = {
      '@xmlns:soap': 'http://schemas.xmlsoap.org/soap/envelope/',
      '@xmlns:soapenc': 'http://schemas.xmlsoap.org/soap/encoding/',
      '@xmlns:xsd': 'http://www.w3.org/2001/XMLSchema',
      '@xmlns:xsi': 'http://www.w3.org/2001/XMLSchema-instance',
      '@xmlns:cwmp': `urn:dslforum-org:cwmp-${version}`,
      ...(id === undefined ? {} : { 'soap:Header': { 'cwmp:ID': { '@soap:mustUnderstand': '1', '#text': id } } }),
      'soap:Body': body,
    };
    return `<?xml version="1.0" encoding="UTF-8"?>${this.#builder.build({ 'soap:Envelope': envelope }) as string}`;
  }

  /** From a string template (the same bytes the builder writes): one per session, on the hot path. */
  informResponse(version: CwmpVersion, id: string | undefined): string {
    return envelopeAround(version, id, INFORM_RESPONSE_BODY);
  }

  transferCompleteResponse(version: CwmpVersion, id: string | undefined): string {
    return envelopeAround(version, id, emptyResponseBody('TransferComplete'));
  }

  /** The empty acknowledgement of a recorded CPE request (AutonomousTransferCompleteResponse, …). */
  acknowledge(version: CwmpVersion, id: string | undefined, method: RecordedCpeMethod): string {
    return envelopeAround(version, id, emptyResponseBody(method));
  }

  /** The generic builder's envelope for `body`: what the templates above must equal (tested). */
  built(version: CwmpVersion, id: string | undefined, body: Record<string, unknown>): string {
    return this.#envelope(version, id, body);
  }

  /** An ACS fault (TR-069 A.5.1: 8000 Method not supported, …) answering a CPE request. */
  fault(version: CwmpVersion, id: string | undefined, code: number, message: string): string {
    return this.#envelope(version, id, {
      'soap:Fault': { faultcode: 'Server', faultstring: 'CWMP fault', detail: { 'cwmp:Fault': { FaultCode: code, FaultString: message } } },
    });
  }

  /** Our answer to a CPE's GetRPCMethods: the methods an ACS offers. */
  getRPCMethodsResponse(version: CwmpVersion, id: string | undefined): string {
    const methods = ['Inform', 'GetRPCMethods', 'TransferComplete', ...RECORDED_CPE_METHODS];
    return this.#envelope(version, id, {
      'cwmp:GetRPCMethodsResponse': { MethodList: { '@soapenc:arrayType': `xsd:string[${methods.length}]`, string: methods } },
    });
  }

  /** From a string template (the same bytes the builder writes): one per command, on the hot path. */
  getParameterValues(version: CwmpVersion, id: string, names: readonly string[]): string {
    return envelopeAround(version, id, parameterNamesBody('GetParameterValues', names));
  }

  setParameterValues(version: CwmpVersion, id: string, values: readonly ParameterValue[], parameterKey: string): string {
    return this.#envelope(version, id, {
      'cwmp:SetParameterValues': {
        ParameterList: {
          '@soapenc:arrayType': `cwmp:ParameterValueStruct[${values.length}]`,
          ParameterValueStruct: values.map((v) => ({ Name: v.name, Value: { '@xsi:type': v.type, '#text': v.value } })),
        },
        ParameterKey: parameterKey,
      },
    });
  }

  getParameterNames(version: CwmpVersion, id: string, path: string, nextLevel: boolean): string {
    return this.#envelope(version, id, { 'cwmp:GetParameterNames': { ParameterPath: path, NextLevel: nextLevel ? 'true' : 'false' } });
  }

  addObject(version: CwmpVersion, id: string, objectName: string, parameterKey: string): string {
    return this.#envelope(version, id, { 'cwmp:AddObject': { ObjectName: objectName, ParameterKey: parameterKey } });
  }

  deleteObject(version: CwmpVersion, id: string, objectName: string, parameterKey: string): string {
    return this.#envelope(version, id, { 'cwmp:DeleteObject': { ObjectName: objectName, ParameterKey: parameterKey } });
  }

  reboot(version: CwmpVersion, id: string, commandKey: string): string {
    return this.#envelope(version, id, { 'cwmp:Reboot': { CommandKey: commandKey } });
  }

  factoryReset(version: CwmpVersion, id: string): string {
    return this.#envelope(version, id, { 'cwmp:FactoryReset': '' });
  }

  download(version: CwmpVersion, id: string, d: DownloadArgs, commandKey: string): string {
    return this.#envelope(version, id, {
      'cwmp:Download': {
        CommandKey: commandKey,
        FileType: d.fileType,
        URL: d.url,
        Username: d.username ?? '',
        Password: d.password ?? '',
        FileSize: d.fileSize ?? 0,
        TargetFileName: d.targetFileName ?? '',
        DelaySeconds: 0,
        SuccessURL: '',
        FailureURL: '',
      },
    });
  }

  getParameterAttributes(version: CwmpVersion, id: string, names: readonly string[]): string {
    return envelopeAround(version, id, parameterNamesBody('GetParameterAttributes', names));
  }

  /** Notification changes only: AccessListChange 0, the access lists stay as they are. */
  setParameterAttributes(version: CwmpVersion, id: string, attributes: readonly { readonly name: string; readonly notification: number }[]): string {
    return this.#envelope(version, id, {
      'cwmp:SetParameterAttributes': {
        ParameterList: {
          '@soapenc:arrayType': `cwmp:SetParameterAttributesStruct[${attributes.length}]`,
          SetParameterAttributesStruct: attributes.map((a) => ({
            Name: a.name,
            NotificationChange: 1,
            Notification: a.notification,
            AccessListChange: 0,
            AccessList: { '@soapenc:arrayType': 'xsd:string[0]', '#text': '' },
          })),
        },
      },
    });
  }

  scheduleInform(version: CwmpVersion, id: string, delaySeconds: number, commandKey: string): string {
    return this.#envelope(version, id, { 'cwmp:ScheduleInform': { DelaySeconds: delaySeconds, CommandKey: commandKey } });
  }

  /** TR-069 A.3.2.9: the URL carries its own authentication (no Username/Password). */
  upload(version: CwmpVersion, id: string, fileType: string, url: string, commandKey: string): string {
    return this.#envelope(version, id, {
      'cwmp:Upload': { CommandKey: commandKey, FileType: fileType, URL: url, Username: '', Password: '', DelaySeconds: 0 },
    });
  }
}
