import { isIP } from 'node:net';
import type { DeviceCredentials } from '../devices/device.js';
import type { ParameterValue } from './cwmp-soap.js';
import type { DataModelRoot } from './task.js';

/** TR-181 devices name their parameters under `Device.`; everything else is TR-098. */
export function dataModelOf(parameters: readonly ParameterValue[]): DataModelRoot {
  return parameters.some((p) => p.name.startsWith('Device.')) ? 'Device.' : 'InternetGatewayDevice.';
}

/** `::ffff:192.0.2.1` and `[2001:db8::1]` compare as the addresses they are. */
export function normalizeAddress(address: string): string {
  const a = address.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  return a.startsWith('::ffff:') && isIP(a.slice(7)) === 4 ? a.slice(7) : a;
}

export interface NatDecision {
  readonly behindNat: boolean;
  readonly connectionRequestUrl: string | null;
  /** The NAT gateway's public address (where the session came from), when behind NAT. */
  readonly natId: string | null;
}

/**
 * Seed 001 step 1: a device is behind NAT when it says so (NATDetected) or when the host of the
 * ConnectionRequestURL it reports is not the address its session came from.
 */
export function detectNat(parameters: readonly ParameterValue[], root: DataModelRoot, sourceAddress: string): NatDecision {
  const value = (name: string) => parameters.find((p) => p.name === `${root}ManagementServer.${name}`)?.value;
  const url = value('ConnectionRequestURL') || null;
  const natDetected = ['1', 'true'].includes((value('NATDetected') ?? '').toLowerCase());
  let host: string | undefined;
  try {
    host = url ? new URL(url).hostname : undefined;
  } catch {
    host = undefined;
  }
  const source = normalizeAddress(sourceAddress);
  const behindNat = natDetected || (host !== undefined && normalizeAddress(host) !== source);
  return { behindNat, connectionRequestUrl: url, natId: behindNat ? source : null };
}

/** What we advertise to devices behind NAT (seed 001 step 2). */
export interface StunAdvert {
  readonly address: string;
  readonly port: number;
  /** Seconds. */
  readonly minKeepAlive: number;
  readonly maxKeepAlive: number;
}

/** The ManagementServer values that make a device keep its NAT binding open towards our STUN socket. */
export function keepaliveParameters(root: DataModelRoot, c: Pick<DeviceCredentials, 'stunUsername' | 'stunPassword'>, stun: StunAdvert): ParameterValue[] {
  const ms = `${root}ManagementServer.`;
  const str = (name: string, value: string) => ({ name: ms + name, value, type: 'xsd:string' });
  return [
    { name: `${ms}STUNEnable`, value: 'true', type: 'xsd:boolean' },
    str('STUNServerAddress', stun.address),
    { name: `${ms}STUNServerPort`, value: String(stun.port), type: 'xsd:unsignedInt' },
    str('STUNUsername', c.stunUsername),
    str('STUNPassword', c.stunPassword),
    { name: `${ms}STUNMinimumKeepAlivePeriod`, value: String(stun.minKeepAlive), type: 'xsd:unsignedInt' },
    { name: `${ms}STUNMaximumKeepAlivePeriod`, value: String(stun.maxKeepAlive), type: 'xsd:int' },
  ];
}

/** The credentials a CPE checks connection requests (UDP and HTTP) against. */
export function connectionRequestParameters(root: DataModelRoot, username: string, password: string): ParameterValue[] {
  const ms = `${root}ManagementServer.`;
  return [
    { name: `${ms}ConnectionRequestUsername`, value: username, type: 'xsd:string' },
    { name: `${ms}ConnectionRequestPassword`, value: password, type: 'xsd:string' },
  ];
}

/** The CWMP login a CPE uses for its sessions. */
export function cwmpLoginParameters(root: DataModelRoot, username: string, password: string): ParameterValue[] {
  const ms = `${root}ManagementServer.`;
  return [
    { name: `${ms}Username`, value: username, type: 'xsd:string' },
    { name: `${ms}Password`, value: password, type: 'xsd:string' },
  ];
}

