import type { CertificateRecord } from './certificate.js';

/**
 * The certificate proxy's rules (seed 002) that both store engines apply inside their units of work:
 * each engine reads what a rule needs (locked, in one transaction) and writes what it allows.
 */

/** The durable deadline kinds of the proxy (key: the certificate id). */
export const RENEW = 'cert-renew';
export const EXPIRY = 'cert-expiry';

export type ClaimOutcome = 'claimed' | 'taken' | 'limit-reached';

/**
 * Whether a device may claim a new id: not when a certificate has it, nor past the device's cap of
 * certificates and claims (`held`, revoked certificates not counted). An existing claim of the id is left
 * to the insert (the primary key decides, so that of concurrent claims exactly one wins).
 */
export function claimRefusal(certificateExists: boolean, held: number, cap: number): Exclude<ClaimOutcome, 'claimed'> | undefined {
  if (certificateExists) return 'taken';
  if (held >= cap) return 'limit-reached';
  return undefined;
}

/** The deadlines a stored version is due at: its renewal, and its expiry. */
export const deadlinesOf = (v: { readonly id: string; readonly renewAt: number; readonly notAfter: number }) =>
  [
    { kind: RENEW, key: v.id, dueAt: v.renewAt },
    { kind: EXPIRY, key: v.id, dueAt: v.notAfter },
  ] as const;

const live = (r: CertificateRecord | undefined): r is CertificateRecord => r !== undefined && (r.status === 'valid' || r.status === 'update-pending');

/**
 * The renewal deadline due at `dueAt` fired: the STB is told (again, when already update-pending: a retry)
 * unless the certificate is gone, revoked, expired, or was renewed meanwhile (its renewAt is later).
 */
export const renewalIsDue = (r: CertificateRecord | undefined, dueAt: number): r is CertificateRecord => live(r) && r.renewAt <= dueAt;

/** The expiry deadline due at `dueAt` fired: a live certificate expires unless a newer version lasts longer. */
export const expiryIsDue = (r: CertificateRecord | undefined, dueAt: number): r is CertificateRecord => live(r) && r.notAfter <= dueAt;

/** A renewal may be retried for a certificate that exists and is not revoked. */
export const renewalRetryAllowed = (r: { readonly status: string } | undefined): boolean => r !== undefined && r.status !== 'revoked';
