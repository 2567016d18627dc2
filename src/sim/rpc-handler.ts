import { type AcsMessage, listOf, parameterInfoList, parameterList, textOf, type XmlNode } from './cpe-soap.js';
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
] as const;

/** Work an RPC leaves for after the session (a CPE never reboots mid-session). */
export type AfterSession =
  | { readonly kind: 'reboot'; readonly commandKey: string }
  | { readonly kind: 'factory-reset' }
  | { readonly kind: 'download'; readonly commandKey: string; readonly url: string }
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
        after: { kind: 'download', commandKey: arg(a, 'CommandKey'), url },
      };
    }
    default:
      throw new CwmpFault(FaultCode.MethodNotSupported, `${msg.method} is not supported`);
  }
}
