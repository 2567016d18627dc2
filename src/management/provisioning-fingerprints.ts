import { hash } from 'node:crypto';
import { HmacSha256 } from '../hmac-sha256.js';
import type { ParameterValue } from './cwmp-soap.js';

/** How stored fingerprints compare with the values stbd would send now. */
export type FingerprintMatch = 'same' | 'changed' | 'unkeyed';

const canonical = (values: readonly ParameterValue[]) => JSON.stringify(values.map((v) => [v.name, v.value]));

/**
 * What was provisioned on a device, kept to tell whether the values stbd would send have changed (config or
 * credentials). The values include passwords (connection-request, STUN), which are sealed at rest: their
 * fingerprint is an HMAC under a key derived from the master key, so whoever reads the database cannot test
 * guesses of a password against it. Fingerprints an older stbd stored unkeyed still count as what they
 * stand for (`unkeyed`: the caller stores them again keyed), so an upgrade provisions no device again.
 */
export class ProvisioningFingerprints {
  readonly #hmac: HmacSha256;

  constructor(key: Buffer) {
    this.#hmac = new HmacSha256(key);
  }

  of(values: readonly ParameterValue[]): string {
    return this.#hmac.digest(canonical(values)).toString('base64url').slice(0, 22);
  }

  compare(values: readonly ParameterValue[], stored: string | null): FingerprintMatch {
    if (stored === null) return 'changed';
    if (this.of(values) === stored) return 'same';
    return unkeyed(values) === stored ? 'unkeyed' : 'changed';
  }
}

/** The fingerprint stbd stored before they were keyed. */
export function unkeyed(values: readonly ParameterValue[]): string {
  return hash('sha256', canonical(values), 'base64url').slice(0, 22);
}
