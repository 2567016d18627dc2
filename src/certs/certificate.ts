/** valid → update-pending (renewal due, notice sent) → valid (renewed); → expired; → revoked. */
export type CertStatus = 'valid' | 'expired' | 'revoked' | 'update-pending';

/** A media-access certificate the proxy keeps for one STB. The private key stays sealed in the store. */
export interface CertificateRecord {
  /** Chosen by the media system or the operator (or generated), or the STB's own by the prefix rule. */
  readonly id: string;
  readonly deviceId: string;
  /** 1 for the first issue; each renewal adds one. */
  readonly version: number;
  readonly status: CertStatus;
  readonly serial: string;
  readonly certPem: string;
  /** Unix ms. */
  readonly notBefore: number;
  readonly notAfter: number;
  readonly renewAt: number;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** The management task carrying the last "certificate needs update" notice. */
  readonly noticeTask: number | null;
}

export interface CertificateVersion {
  readonly version: number;
  readonly serial: string;
  readonly certPem: string;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly issuedAt: number;
  /** Why this version was made: issue, renewal, fetch (the STB asked for a missing or expired one). */
  readonly reason: string;
}

/** Associated data of a sealed certificate key: a key moved to another row or version does not open. */
export const keyContext = (certificateId: string, deviceId: string, version: number): string => `cert|${certificateId}|${deviceId}|${version}`;

/**
 * When to renew: after `fraction` of the lifetime, plus up to `jitter` of it, so that certificates issued
 * together are not all renewed in the same second.
 */
export function renewAtOf(notBefore: number, notAfter: number, fraction: number, jitter: number, random: () => number): number {
  const lifetime = notAfter - notBefore;
  return Math.min(notAfter - 1, Math.round(notBefore + lifetime * fraction + lifetime * jitter * random()));
}

/**
 * The one certificate id an STB may have the proxy create on its own (by acknowledging `not-found`): the
 * prefix followed by its STB id, a rule the media system knows. Every other id is created through the API.
 * An empty prefix: no such id.
 */
export class DerivedIdRule {
  constructor(private readonly prefix: string) {}

  idOf(stbId: string): string | undefined {
    return this.prefix === '' ? undefined : `${this.prefix}${stbId}`;
  }

  /** The STB whose own id this is, if the rule gives it one. */
  ownerOf(certId: string): string | undefined {
    return this.prefix !== '' && certId.startsWith(this.prefix) && certId.length > this.prefix.length ? certId.slice(this.prefix.length) : undefined;
  }
}
