import { type AcsMessage, listOf, parameterAttributeList, parameterInfoList, parameterList, textOf, type XmlNode } from './cpe-soap.js';
import { CwmpFault, FaultCode } from './cwmp-fault.js';
import { UPDATE_PARAMETER } from '../certs/update-notice.js';
import type { ParamTree } from './param-tree.js';

/** The RPCs the simulated CPE answers (GetRPCMethods lists them). */
export const SUPPORTED_RPCS = [
  'GetRPCMethods',
  'GetParameterValues',
  'SetParameterValues',
  'GetParameterNames',
  'AddObject',
  'DeleteObject',
  'Reboot',
  'FactoryReset',
  'Download',
  'GetParameterAttributes',
  'SetParameterAttributes',
  'ScheduleInform',
  'Upload',
] as const;

/** What an Upload's FileType asks for (TR-069 A.3.2.9; the instance forms 3 and 4 too). */
export type UploadKind = 'config' | 'log';

export function uploadKindOf(fileType: string): UploadKind | undefined {
  if (/^(1 Vendor Configuration File|3 Vendor Configuration File \d+)$/.test(fileType)) return 'config';
  if (/^(2 Vendor Log File|4 Vendor Log File \d+)$/.test(fileType)) return 'log';
  return undefined;
}

/** Work an RPC leaves for after the session (a CPE never reboots mid-session). */
export type AfterSession =
  | { readonly kind: 'reboot'; readonly commandKey: string }
  | { readonly kind: 'factory-reset' }
  /** `fileSize`: the Download's FileSize (0: not given), checked against what arrives. */
  | { readonly kind: 'download'; readonly commandKey: string; readonly url: string; readonly fileType: string; readonly fileSize: number }
  | { readonly kind: 'upload'; readonly commandKey: string; readonly url: string; readonly what: UploadKind; readonly username: string; readonly password: string; readonly delaySeconds: number }
  /** ScheduleInform: a session ("3 SCHEDULED", "M ScheduleInform") this many seconds after this one. */
  | { readonly kind: 'schedule-inform'; readonly commandKey: string; readonly delaySeconds: number }
  /** X_STBD_Certificate.UpdateRequired was set: fetch that certificate again once the session is over. */
  | { readonly kind: 'cert-update'; readonly certId: string };

export interface RpcResult {
  /** The response element's local name, e.g. "GetParameterValuesResponse". */
  readonly method: string;
  readonly content: XmlNode;
  /** Parameters whose value a SetParameterValues changed (the device reacts to some). */
  readonly changed?: readonly string[];
  readonly after?: AfterSession;
}

/** What this CPE model can do beyond the basics. */
export interface RpcCapabilities {
  /** false: a GetParameterValues naming a partial path is answered with fault 9005, as some firmwares do. */
  readonly partialPath: boolean;
}

/** The time CWMP uses for "unknown" (TR-069 §A.3.2.8 DownloadResponse). */
const UNKNOWN_TIME = '0001-01-01T00:00:00Z';

const arg = (args: XmlNode, name: string): string => textOf(args[name]);

function unsignedArg(args: XmlNode, name: string, min = 0): number {
  const v = arg(args, name).trim();
  if (!/^\d{1,10}$/.test(v) || Number(v) < min || Number(v) > 4294967295) throw new CwmpFault(FaultCode.InvalidArguments, `${name} must be an unsignedInt${min > 0 ? ` of at least ${min}` : ''}`);
  return Number(v);
}

function booleanArg(args: XmlNode, name: string): boolean {
  const v = arg(args, name);
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new CwmpFault(FaultCode.InvalidArguments, `${name} must be a boolean`);
}

/**
 * Runs one ACS RPC against the device's tree and builds the response content. Pure apart from the tree.
 * @throws CwmpFault for a fault answer (unknown method: 9000).
 */
export function handleRpc(tree: ParamTree, msg: AcsMessage, can: RpcCapabilities = { partialPath: true }): RpcResult {
  const a = msg.args;
  switch (msg.method) {
    case 'GetRPCMethods':
      return { method: 'GetRPCMethodsResponse', content: { MethodList: { '@SOAP-ENC:arrayType': `xsd:string[${SUPPORTED_RPCS.length}]`, string: [...SUPPORTED_RPCS] } } };
    case 'GetParameterValues': {
      // <string> is always a list (see CpeSoap); its leaves parse as plain strings.
      const names = listOf((a['ParameterNames'] as XmlNode | undefined)?.['string']).map(textOf);
      // "" (the whole tree) is a partial path too.
      const partial = can.partialPath ? undefined : names.find((n) => n === '' || n.endsWith('.'));
      if (partial !== undefined) throw new CwmpFault(FaultCode.InvalidParameterName, `partial paths are not supported: ${partial || '"" (the whole tree)'}`);
      return { method: 'GetParameterValuesResponse', content: { ParameterList: parameterList(tree.getValues(names)) } };
    }
    case 'SetParameterValues': {
      const values = listOf((a['ParameterList'] as XmlNode | undefined)?.['ParameterValueStruct']).map((p) => ({ name: textOf(p['Name']), value: textOf(p['Value']) }));
      const changed = tree.setValues(values, arg(a, 'ParameterKey'));
      // Every write of the notice counts, even one with the value it already had (a second notice).
      const notice = values.findLast((v) => v.name === `${tree.root}${UPDATE_PARAMETER}` && v.value !== '');
      return { method: 'SetParameterValuesResponse', content: { Status: 0 }, changed, ...(notice ? { after: { kind: 'cert-update', certId: notice.value } } : {}) };
    }
    case 'GetParameterNames':
      return { method: 'GetParameterNamesResponse', content: { ParameterList: parameterInfoList(tree.getNames(arg(a, 'ParameterPath'), booleanArg(a, 'NextLevel'))) } };
    case 'AddObject':
      return { method: 'AddObjectResponse', content: { InstanceNumber: tree.addObject(arg(a, 'ObjectName'), arg(a, 'ParameterKey')), Status: 0 } };
    case 'DeleteObject':
      tree.deleteObject(arg(a, 'ObjectName'), arg(a, 'ParameterKey'));
      return { method: 'DeleteObjectResponse', content: { Status: 0 } };
    case 'Reboot':
      return { method: 'RebootResponse', content: {}, after: { kind: 'reboot', commandKey: arg(a, 'CommandKey') } };
    case 'FactoryReset':
      return { method: 'FactoryResetResponse', content: {}, after: { kind: 'factory-reset' } };
    case 'Download': {
      const url = arg(a, 'URL');
      if (url === '') throw new CwmpFault(FaultCode.InvalidArguments, 'URL is required');
      // Status 1: the download is not done yet; a TransferComplete will report it in a later session.
      return {
        method: 'DownloadResponse',
        content: { Status: 1, StartTime: UNKNOWN_TIME, CompleteTime: UNKNOWN_TIME },
        after: { kind: 'download', commandKey: arg(a, 'CommandKey'), url, fileType: arg(a, 'FileType'), fileSize: arg(a, 'FileSize').trim() === '' ? 0 : unsignedArg(a, 'FileSize') },
      };
    }
    case 'GetParameterAttributes': {
      const names = listOf((a['ParameterNames'] as XmlNode | undefined)?.['string']).map(textOf);
      return { method: 'GetParameterAttributesResponse', content: { ParameterList: parameterAttributeList(tree.getAttributes(names)) } };
    }
    case 'SetParameterAttributes': {
      const changes = listOf((a['ParameterList'] as XmlNode | undefined)?.['SetParameterAttributesStruct']).map((s) => ({
        name: textOf(s['Name']),
        notificationChange: booleanArg(s, 'NotificationChange'),
        notification: Number(textOf(s['Notification']).trim() || '0'),
        accessListChange: booleanArg(s, 'AccessListChange'),
        accessList: listOf((s['AccessList'] as XmlNode | undefined)?.['string']).map(textOf),
      }));
      tree.setAttributes(changes);
      return { method: 'SetParameterAttributesResponse', content: {} };
    }
    case 'ScheduleInform':
      return { method: 'ScheduleInformResponse', content: {}, after: { kind: 'schedule-inform', commandKey: arg(a, 'CommandKey'), delaySeconds: unsignedArg(a, 'DelaySeconds', 1) } };
    case 'Upload': {
      const url = arg(a, 'URL');
      const what = uploadKindOf(arg(a, 'FileType'));
      if (url === '') throw new CwmpFault(FaultCode.InvalidArguments, 'URL is required');
      if (!/^https?:\/\//i.test(url)) throw new CwmpFault(FaultCode.UnsupportedProtocol, `only http and https uploads: ${url.split(':')[0]}`);
      if (!what) throw new CwmpFault(FaultCode.InvalidArguments, `FileType ${JSON.stringify(arg(a, 'FileType'))} is not one this device uploads`);
      // Status 1: done after the session; a TransferComplete reports it.
      return {
        method: 'UploadResponse',
        content: { Status: 1, StartTime: UNKNOWN_TIME, CompleteTime: UNKNOWN_TIME },
        after: { kind: 'upload', commandKey: arg(a, 'CommandKey'), url, what, username: arg(a, 'Username'), password: arg(a, 'Password'), delaySeconds: unsignedArg(a, 'DelaySeconds') },
      };
    }
    default:
      throw new CwmpFault(FaultCode.MethodNotSupported, `${msg.method} is not supported`);
  }
}
