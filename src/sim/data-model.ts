import { UPDATE_PARAMETER } from '../certs/update-notice.js';
import type { ParamDef, TableDef, TreeDefinition } from './param-tree.js';

export type DataModel = 'tr098' | 'tr181';

/** What a device's factory defaults are made of. */
export interface DeviceFacts {
  readonly id: string;
  readonly acsUrl: string;
  readonly cwmpUsername: string;
  readonly cwmpPassword: string;
  readonly crUsername: string;
  readonly crPassword: string;
  readonly informIntervalS: number;
  readonly wanAddress: string;
  /** Pre-provisioned STUN (--stun): enabled from the start with these credentials. */
  readonly stun?: { readonly host: string; readonly port: number; readonly username: string; readonly password: string };
}

export const MANUFACTURER = 'stbsim';
export const OUI = '00D09E';
export const PRODUCT_CLASS = 'STB';

/** Where the two data models keep the parameters the simulator itself reads and writes. */
export interface ModelPaths {
  readonly root: string;
  readonly wanAddress: string;
  readonly forwarding: string;
}

export const MODEL_PATHS: Record<DataModel, ModelPaths> = {
  tr098: {
    root: 'InternetGatewayDevice.',
    wanAddress: 'InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.WANIPConnection.1.ExternalIPAddress',
    forwarding: 'InternetGatewayDevice.Layer3Forwarding.Forwarding.',
  },
  tr181: {
    root: 'Device.',
    wanAddress: 'Device.IP.Interface.1.IPv4Address.1.IPAddress',
    forwarding: 'Device.Routing.Router.1.IPv4Forwarding.',
  },
};

const s = (name: string, value: string, writable = false): ParamDef => ({ name, type: 'xsd:string', value, writable });
const b = (name: string, value: boolean, writable = true): ParamDef => ({ name, type: 'xsd:boolean', value: String(value), writable });
const u = (name: string, value: number, writable = true): ParamDef => ({ name, type: 'xsd:unsignedInt', value: String(value), writable });
const secret = (name: string, value: string): ParamDef => ({ name, type: 'xsd:string', value, writable: true, hidden: true });

/** TR-069's Unknown Time: PeriodicInformTime with no particular phase. */
export const UNKNOWN_TIME = '0001-01-01T00:00:00Z';

/** The vendor object of what a viewer changes on the box (channel, volume, standby): what --value-change-every varies. */
export const PLAYER = 'X_STBSIM_Player.';

/**
 * The values the box itself changes, by name under the root, each with how it picks a new value from a
 * random number in [0, 1): a viewer zapping, turning the volume, putting the box in standby.
 */
export const VOLATILE: readonly { readonly name: string; readonly next: (random: number, current: string) => string }[] = [
  { name: `${PLAYER}Channel`, next: (r) => String(1 + Math.floor(r * 999)) },
  { name: `${PLAYER}Volume`, next: (r) => String(Math.floor(r * 101)) },
  { name: `${PLAYER}Standby`, next: (_r, current) => String(current !== 'true') },
];

/** The factory defaults of a TR-098 or TR-181 tree. */
export function treeDefinition(model: DataModel, f: DeviceFacts): TreeDefinition {
  const paths = MODEL_PATHS[model];
  const r = paths.root;
  const ms = `${r}ManagementServer.`;
  const di = `${r}DeviceInfo.`;
  const params: ParamDef[] = [
    s(`${di}Manufacturer`, MANUFACTURER),
    s(`${di}ManufacturerOUI`, OUI),
    s(`${di}ProductClass`, PRODUCT_CLASS),
    s(`${di}SerialNumber`, f.id),
    s(`${di}HardwareVersion`, 'sim-hw-1'),
    s(`${di}SoftwareVersion`, '1.0.0'),
    { ...u(`${di}UpTime`, 0, false), noActiveNotification: true },
    s(`${di}ProvisioningCode`, '', true),
    s(`${ms}URL`, f.acsUrl, true),
    s(`${ms}Username`, f.cwmpUsername, true),
    secret(`${ms}Password`, f.cwmpPassword),
    b(`${ms}PeriodicInformEnable`, true),
    u(`${ms}PeriodicInformInterval`, f.informIntervalS),
    { name: `${ms}PeriodicInformTime`, type: 'xsd:dateTime', value: UNKNOWN_TIME, writable: true },
    s(`${ms}ParameterKey`, ''),
    s(`${ms}ConnectionRequestURL`, ''),
    s(`${ms}ConnectionRequestUsername`, f.crUsername, true),
    secret(`${ms}ConnectionRequestPassword`, f.crPassword),
    b(`${ms}STUNEnable`, f.stun !== undefined),
    s(`${ms}STUNServerAddress`, f.stun?.host ?? '', true),
    u(`${ms}STUNServerPort`, f.stun?.port ?? 3478),
    s(`${ms}STUNUsername`, f.stun?.username ?? '', true),
    secret(`${ms}STUNPassword`, f.stun?.password ?? ''),
    { name: `${ms}STUNMaximumKeepAlivePeriod`, type: 'xsd:int', value: '-1', writable: true },
    u(`${ms}STUNMinimumKeepAlivePeriod`, 30),
    b(`${ms}NATDetected`, false, false),
    s(`${ms}UDPConnectionRequestAddress`, ''),
    u(`${ms}UDPConnectionRequestAddressNotificationLimit`, 0),
    s(`${r}Time.NTPServer1`, 'pool.ntp.org', true),
    s(paths.wanAddress, f.wanAddress),
    // The certificate proxy's "certificate needs update" notice (seed 002 step 6): the ACS writes the certificate id.
    s(`${r}${UPDATE_PARAMETER}`, '', true),
    u(`${r}${PLAYER}Channel`, 1),
    u(`${r}${PLAYER}Volume`, 20),
    b(`${r}${PLAYER}Standby`, false),
  ];
  const forwarding: TableDef = {
    path: paths.forwarding,
    countParam: model === 'tr098' ? `${r}Layer3Forwarding.ForwardNumberOfEntries` : `${r}Routing.Router.1.IPv4ForwardingNumberOfEntries`,
    defaultInstances: 1,
    instance: [
      { name: 'Enable', type: 'xsd:boolean', value: 'true', writable: true },
      { name: 'Status', type: 'xsd:string', value: 'Enabled', writable: false },
      { name: 'DestIPAddress', type: 'xsd:string', value: '', writable: true },
      { name: 'DestSubnetMask', type: 'xsd:string', value: '', writable: true },
      { name: 'GatewayIPAddress', type: 'xsd:string', value: '', writable: true },
      { name: 'Interface', type: 'xsd:string', value: '', writable: true },
    ],
  };
  params.push(u(forwarding.countParam, 0, false));
  return { root: r, params, tables: [forwarding], parameterKey: `${ms}ParameterKey` };
}
