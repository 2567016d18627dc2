import { XMLBuilder, XMLParser } from 'fast-xml-parser';

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

export interface Fault {
  readonly kind: 'Fault';
  /** The CWMP fault code (e.g. 9005 Invalid parameter name), or 0 if the CPE sent only a SOAP fault. */
  readonly code: number;
  readonly message: string;
}

/** What a CPE may POST: its own requests, or its answer to the RPC it was sent. */
export type CpeBody =
  | Inform
  | { readonly kind: 'TransferComplete'; readonly commandKey: string; readonly faultCode: number; readonly faultString: string }
  | { readonly kind: 'GetRPCMethods' }
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

export class SoapError extends Error {
  override name = 'SoapError';
}

const LIST_ELEMENTS = new Set(['EventStruct', 'ParameterValueStruct', 'ParameterInfoStruct', 'SetParameterValuesFault', 'string']);
const CWMP_NS = /^urn:dslforum-org:cwmp-(1-[0-4])$/;

type Node = Record<string, unknown>;

/** Drops namespace prefixes from element and attribute names (the CPE chooses its prefixes). */
function unprefix(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(unprefix);
  if (typeof value !== 'object' || value === null) return value;
  const out: Node = {};
  for (const [k, v] of Object.entries(value)) out[k.replace(/^(@?)[^:@]*:/, '$1')] = unprefix(v);
  return out;
}

const text = (v: unknown): string => {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null && '#text' in v) return String((v as Node)['#text']);
  return '';
};
const list = (v: unknown): Node[] => (Array.isArray(v) ? (v as Node[]) : v === undefined || v === '' ? [] : [v as Node]);

/**
 * A CWMP SOAP parser and builder (TR-069) on fast-xml-parser: no regex parsing of SOAP. Construct once and
 * reuse: the parser and builder are configured here.
 */
export class CwmpSoap {
  readonly #parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '@',
    parseTagValue: false,
    trimValues: true,
    processEntities: true,
    // isArray looks at tag names only: no path strings built for every tag.
    jPath: false,
    isArray: (name) => LIST_ELEMENTS.has(name.replace(/^[^:]*:/, '')),
  });
  readonly #builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@', suppressEmptyNode: false, format: false });

  /** Parses a POST body from a CPE. @throws SoapError naming what is wrong. */
  parse(xml: string): CpeMessage {
    let doc: Node;
    try {
      doc = this.#parser.parse(xml, true) as Node;
    } catch (err) {
      throw new SoapError(`malformed XML: ${(err as Error).message.split('\n')[0]}`);
    }
    const envelopeKey = Object.keys(doc).find((k) => k === 'Envelope' || k.endsWith(':Envelope'));
    if (!envelopeKey) throw new SoapError('no SOAP Envelope');
    const rawEnvelope = doc[envelopeKey] as Node;
    let version: CwmpVersion | undefined;
    for (const [k, v] of Object.entries(rawEnvelope)) {
      const m = k.startsWith('@xmlns') ? CWMP_NS.exec(String(v)) : null;
      if (m) version = m[1] as CwmpVersion;
    }
    const envelope = unprefix(rawEnvelope) as Node;
    const body = envelope['Body'] as Node | undefined;
    if (typeof body !== 'object' || body === null) throw new SoapError('no SOAP Body');
    const [method, content] = Object.entries(body).find(([k]) => !k.startsWith('@')) ?? [];
    if (!method) throw new SoapError('empty SOAP Body');
    const id = text((envelope['Header'] as Node | undefined)?.['ID']) || undefined;
    return { version: version ?? '1-0', id, body: this.#body(method, (content ?? {}) as Node) };
  }

  #body(method: string, c: Node): CpeBody {
    switch (method) {
      case 'Inform': {
        const d = (c['DeviceId'] ?? {}) as Node;
        return {
          kind: 'Inform',
          deviceId: { manufacturer: text(d['Manufacturer']), oui: text(d['OUI']), productClass: text(d['ProductClass']), serialNumber: text(d['SerialNumber']) },
          events: list((c['Event'] as Node | undefined)?.['EventStruct']).map((e) => ({ code: text(e['EventCode']), commandKey: text(e['CommandKey']) })),
          parameters: this.#parameterValues(c['ParameterList']),
          retryCount: Number(text(c['RetryCount'])) || 0,
        };
      }
      case 'TransferComplete': {
        const f = (c['FaultStruct'] ?? {}) as Node;
        return { kind: 'TransferComplete', commandKey: text(c['CommandKey']), faultCode: Number(text(f['FaultCode'])) || 0, faultString: text(f['FaultString']) };
      }
      case 'GetRPCMethods':
        return { kind: 'GetRPCMethods' };
      case 'Fault': {
        const cwmp = ((c['detail'] as Node | undefined)?.['Fault'] ?? {}) as Node;
        return { kind: 'Fault', code: Number(text(cwmp['FaultCode'])) || 0, message: text(cwmp['FaultString']) || text(c['faultstring']) };
      }
      default:
        if (!method.endsWith('Response')) throw new SoapError(`unsupported CPE method ${method}`);
        return { kind: 'Response', method, body: c };
    }
  }

  /** The ParameterValueStruct list of an Inform or a GetParameterValuesResponse. */
  parameterValues(response: Record<string, unknown>): ParameterValue[] {
    return this.#parameterValues(response['ParameterList']);
  }

  #parameterValues(parameterList: unknown): ParameterValue[] {
    return list((parameterList as Node | undefined)?.['ParameterValueStruct']).map((p) => {
      const v = p['Value'];
      return { name: text(p['Name']), value: text(v), type: typeof v === 'object' && v !== null ? String((v as Node)['@type'] ?? 'xsd:string') : 'xsd:string' };
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

  informResponse(version: CwmpVersion, id: string | undefined): string {
    return this.#envelope(version, id, { 'cwmp:InformResponse': { MaxEnvelopes: 1 } });
  }

  transferCompleteResponse(version: CwmpVersion, id: string | undefined): string {
    return this.#envelope(version, id, { 'cwmp:TransferCompleteResponse': '' });
  }

  /** Our answer to a CPE's GetRPCMethods: the methods an ACS offers. */
  getRPCMethodsResponse(version: CwmpVersion, id: string | undefined): string {
    const methods = ['Inform', 'GetRPCMethods', 'TransferComplete'];
    return this.#envelope(version, id, {
      'cwmp:GetRPCMethodsResponse': { MethodList: { '@soapenc:arrayType': `xsd:string[${methods.length}]`, string: methods } },
    });
  }

  getParameterValues(version: CwmpVersion, id: string, names: readonly string[]): string {
    return this.#envelope(version, id, {
      'cwmp:GetParameterValues': { ParameterNames: { '@soapenc:arrayType': `xsd:string[${names.length}]`, string: [...names] } },
    });
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
}
