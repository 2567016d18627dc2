import type { CertificateRecord, CertificateVersion, CertStatus } from './certificate.js';
import type { ClaimOutcome } from './cert-rules.js';

/** A certificate version to store: the certificate, its sealed key and its dates. */
export interface NewVersion {
  readonly id: string;
  readonly deviceId: string;
  readonly version: number;
  readonly serial: string;
  readonly certPem: string;
  readonly keySealed: Buffer;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly renewAt: number;
  readonly at: number;
  readonly reason: string;
}

/** A certificate the expiry deadline expired, and the status it had (update-pending: its STB never acknowledged). */
export interface Expired {
  readonly record: CertificateRecord;
  readonly was: CertStatus;
}

/**
 * The certificate proxy's store, one method per unit of work: each runs in one transaction and writes the
 * durable renewal and expiry deadlines (cert-rules.ts: RENEW, EXPIRY) with the state they belong to. The
 * caller tells the scheduler (`stored`/`removed`) after a method returns; a crash in between is repaired by
 * the scheduler reloading deadlines at start, and a deadline it still holds for a changed certificate
 * finds nothing to do (the rules in cert-rules.ts check what is stored).
 */
export interface CertRepo {
  /**
   * Claims a new certificate id for a device before the CA is asked: of concurrent claims of one id exactly
   * one wins, and a device holds at most `cap` certificates and claims (revoked ones not counted).
   */
  claim(id: string, deviceId: string, cap: number, at: number): Promise<ClaimOutcome>;
  /** Gives a claimed id back (the CA did not issue). */
  unclaim(id: string, deviceId: string): Promise<void>;
  /**
   * Forgets the claims of CA calls a stop or crash interrupted, at start. With several nodes on one store
   * (PostgreSQL) a claim has an owner and a lease: only this node's own and those of dead nodes are forgotten.
   */
  unclaimAll(now: number): Promise<void>;

  /**
   * A new certificate (version 1, in place of the device's claim of its id), or the next version of an
   * existing one, with its history row and its renewal and expiry deadlines; false without the claim, if
   * the certificate moved on meanwhile, or if it was revoked while the CA was issuing (a revocation is final).
   */
  store(v: NewVersion): Promise<boolean>;
  /** The renewal deadline due at `dueAt` fired: valid → update-pending. The certificate whose STB to notify (again), if any. */
  renewalDue(id: string, dueAt: number, at: number): Promise<CertificateRecord | undefined>;
  /** Records the task carrying the update notice of this version (a newer version has none). */
  setNoticeTask(id: string, version: number, task: number, at: number): Promise<void>;
  /** Moves the renewal deadline to `dueAt` (a renewal failed); false when the certificate is gone or revoked. */
  retryRenewal(id: string, dueAt: number): Promise<boolean>;
  /** The expiry deadline due at `dueAt` fired: → expired, if it still is valid or update-pending and past notAfter. */
  expiryDue(id: string, dueAt: number, at: number): Promise<Expired | undefined>;
  /** → revoked, its deadlines deleted; undefined when there is no such certificate or it already was. */
  revoke(id: string, at: number): Promise<CertificateRecord | undefined>;
  /** Revokes every certificate of a device not revoked yet, deadlines deleted; the ones it revoked. */
  revokeDevice(deviceId: string, at: number): Promise<CertificateRecord[]>;

  get(id: string): Promise<CertificateRecord | undefined>;
  sealedKey(id: string, version: number): Promise<Buffer | undefined>;
  /** Every version of a certificate, oldest first. */
  versions(id: string): Promise<CertificateVersion[]>;
  /** Certificates in id order, after the `after` cursor. */
  page(after: string, limit: number): Promise<CertificateRecord[]>;
  ofDevice(deviceId: string): Promise<CertificateRecord[]>;
  countsByStatus(): Promise<Record<string, number>>;
}
