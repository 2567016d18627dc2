import type { DeviceOutcome } from './campaign.js';

/** What an Inform tells: its event codes and the SoftwareVersion it reports (undefined when it has none). */
export interface InformSeen {
  readonly events: readonly string[];
  readonly softwareVersion: string | undefined;
}

const BOOT = '1 BOOT';

/**
 * A firmware device's TransferComplete: a fault fails it; no fault, it succeeds only once an Inform reports
 * the file's version. `inform` is the Inform of the session the TransferComplete came in (after the reboot on
 * most CPEs). Undefined: wait for the device's next boot (`verifying`).
 */
export function afterTransfer(fault: { code: number; message: string } | null, inform: InformSeen | undefined, target: string): DeviceOutcome | undefined {
  if (fault) return { kind: 'failed', reason: `download failed: TransferComplete fault ${fault.code}${fault.message ? ` ${fault.message}` : ''}` };
  return inform ? afterInform(inform, target) : undefined;
}

/** An Inform from a device being verified: the file's version succeeds, a boot on another version fails. */
export function afterInform(inform: InformSeen, target: string): DeviceOutcome | undefined {
  if (inform.softwareVersion === target) return { kind: 'succeeded' };
  if (inform.events.includes(BOOT)) return { kind: 'failed', reason: `came back on version ${inform.softwareVersion ?? '(none reported)'}, not ${target}` };
  return undefined;
}

export const verifyTimeoutReason = (target: string, timeout: string): string => `did not come back on version ${target} within [campaigns] verify_timeout (${timeout})`;

/** The SoftwareVersion among an Inform's parameters (TR-098 or TR-181 root). */
export function softwareVersionOf(parameters: readonly { readonly name: string; readonly value: string }[]): string | undefined {
  return parameters.find((p) => p.name === 'InternetGatewayDevice.DeviceInfo.SoftwareVersion' || p.name === 'Device.DeviceInfo.SoftwareVersion')?.value;
}
