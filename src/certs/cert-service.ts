import { randomBytes, verify as verifySignature, X509Certificate } from 'node:crypto';
import { CaError, type CertificateAuthority } from '../ca/cert-authority.js';
import type { SealedBox } from '../ca/sealed-box.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log/logger.js';
import type { Scheduler } from '../timer/scheduler.js';
import { type CertificateRecord, type CertificateVersion, type DerivedIdRule, keyContext, renewAtOf } from './certificate.js';
import type { CertRepo } from './cert-repo.js';
import { EXPIRY, RENEW } from './cert-rules.js';
import type { KeyInformation } from './key-wrap.js';

export class CertError extends Error {
  constructor(
    readonly code: 'not-found' | 'conflict' | 'limit-reached' | 'unknown-device' | 'revoked' | 'ca-unavailable' | 'ca-refused',
    message: string,
  ) {
    super(message);
    this.name = 'CertError';
  }
}

/** What the proxy answers an authenticated STB (seed 002 step 4). */
export type Lookup =
  | { readonly status: 'not-found' }
  | { readonly status: 'expired' | 'revoked'; readonly record: CertificateRecord }
  | { readonly status: 'valid'; readonly record: CertificateRecord; readonly key: KeyInformation };

/** What the media system learns (seed 002 step 5). */
export type Verdict = { readonly valid: true; readonly notAfter: number } | { readonly valid: false; readonly reason: 'unknown' | 'expired' | 'revoked' | 'mismatch' };

export interface CertServiceDeps {
  readonly repo: CertRepo;
  readonly ca: CertificateAuthority;
  readonly box: SealedBox;
  readonly scheduler: Scheduler;
  readonly clock: Clock;
  readonly log: Logger;
  readonly deviceExists: (id: string) => boolean | Promise<boolean>;
  /** Sends the owning STB a "certificate needs update" notice (seed 002 step 6); returns the task id. */
  readonly notify: (deviceId: string, certId: string) => number | Promise<number>;
  readonly random?: () => number;
  readonly onExpiredUnacknowledged?: () => void;
}

export interface CertServiceOptions {
  readonly validityMs: number;
  /** Renewal falls due after this fraction of the lifetime… */
  readonly renewFraction: number;
  /** …plus up to this fraction more, at random. */
  readonly renewJitter: number;
  /** Most certificates (not revoked) one device may hold. */
  readonly maxPerDevice: number;
  /** The id each STB may have created by acknowledging `not-found`. */
  readonly derivedIds: DerivedIdRule;
}

/** How long after a failed renewal (the STB had acknowledged) the renewal check runs again. */
const RENEWAL_RETRY_MS = 60_000;

/**
 * The certificate proxy's state machine. Certificates and their sealed keys live in the store; renewal and
 * expiry are durable deadlines, which the store's units of work write with the state they belong to (this
 * service only tells the scheduler). A renewal falls due → `update-pending` and a notice to the STB; its
 * acknowledgement → a new version from the CA (`valid` again). A certificate past notAfter is `expired`.
 */
export class CertService {
  readonly #d: CertServiceDeps;
  readonly #o: CertServiceOptions;
  /** One CA call per certificate at a time: concurrent callers share it. */
  readonly #inFlight = new Map<string, Promise<CertificateRecord>>();

  constructor(deps: CertServiceDeps, opts: CertServiceOptions) {
    this.#d = deps;
    this.#o = opts;
    deps.scheduler.handle(RENEW, (id, dueAt) => this.#renewalDue(id, dueAt));
    deps.scheduler.handle(EXPIRY, (id, dueAt) => this.#expiryDue(id, dueAt));
  }

  /** Before serving: claims left by CA calls a stop or crash interrupted are given back. */
  async start(): Promise<void> {
    await this.#d.repo.unclaimAll(this.#d.clock.now());
  }

  get(id: string): Promise<CertificateRecord | undefined> {
    return this.#d.repo.get(id);
  }

  page(after: string, limit: number): Promise<CertificateRecord[]> {
    return this.#d.repo.page(after, limit);
  }

  ofDevice(deviceId: string): Promise<CertificateRecord[]> {
    return this.#d.repo.ofDevice(deviceId);
  }

  versions(id: string): Promise<CertificateVersion[]> {
    return this.#d.repo.versions(id);
  }

  countsByStatus(): Promise<Record<string, number>> {
    return this.#d.repo.countsByStatus();
  }

  /**
   * A new certificate for `deviceId` under `certId` (generated when absent): the admin's or the media
   * system's call. An id the derived-id rule gives another registered STB is refused. @throws CertError
   */
  async issue(deviceId: string, certId?: string): Promise<CertificateRecord> {
    if (!(await this.#d.deviceExists(deviceId))) throw new CertError('unknown-device', `device ${JSON.stringify(deviceId)} not found`);
    const id = certId ?? `cert-${randomBytes(12).toString('base64url')}`;
    const owner = this.#o.derivedIds.ownerOf(id);
    if (owner !== undefined && owner !== deviceId && (await this.#d.deviceExists(owner))) {
      throw new CertError('conflict', `certificate id ${JSON.stringify(id)} is STB ${JSON.stringify(owner)}'s own (derived from its id)`);
    }
    return this.#create(id, deviceId);
  }

  /** Claims the id (one winner, within the device's cap), then has the CA issue version 1. */
  async #create(id: string, deviceId: string): Promise<CertificateRecord> {
    const claimed = await this.#d.repo.claim(id, deviceId, this.#o.maxPerDevice, this.#d.clock.now());
    if (claimed === 'taken') throw new CertError('conflict', `certificate ${JSON.stringify(id)} already exists`);
    if (claimed === 'limit-reached') {
      throw new CertError('limit-reached', `device ${JSON.stringify(deviceId)} already holds ${this.#o.maxPerDevice} certificates (the most [certs] max_per_device allows)`);
    }
    try {
      return await this.#fetch(id, deviceId, 1, 'issue');
    } catch (err) {
      await this.#d.repo.unclaim(id, deviceId);
      throw err;
    }
  }

  /** A new version of an existing certificate, from the CA. @throws CertError */
  renew(certId: string, reason = 'renewal'): Promise<CertificateRecord> {
    return this.#once(certId, async () => {
      const current = await this.#d.repo.get(certId);
      if (!current) throw new CertError('not-found', `no certificate ${JSON.stringify(certId)}`);
      if (current.status === 'revoked') throw new CertError('revoked', `certificate ${JSON.stringify(certId)} is revoked`);
      return this.#fetch(certId, current.deviceId, current.version + 1, reason);
    });
  }

  /**
   * The STB acknowledged `not-found` or `expired` (seed 002 step 4): fetch the certificate from the CA.
   * It may create only its derived id; any other id it does not hold, another STB's or none, is refused
   * alike as not found, so that the answer tells nothing about other STBs.
   */
  async fetchFor(deviceId: string, certId: string): Promise<CertificateRecord> {
    const current = await this.#d.repo.get(certId);
    if (!current && certId === this.#o.derivedIds.idOf(deviceId)) return this.#create(certId, deviceId);
    if (!current || current.deviceId !== deviceId) throw new CertError('not-found', `no certificate ${JSON.stringify(certId)} for this STB`);
    if (current.status === 'valid' && current.notAfter > this.#d.clock.now()) return current;
    return this.renew(certId, 'fetch');
  }

  /** Revokes a certificate (final); one already revoked is answered as it is. @throws CertError */
  async revoke(certId: string): Promise<CertificateRecord> {
    const done = await this.#d.repo.revoke(certId, this.#d.clock.now());
    if (done) {
      this.#revoked(done);
      return done;
    }
    const r = await this.#d.repo.get(certId);
    if (!r) throw new CertError('not-found', `no certificate ${JSON.stringify(certId)}`);
    return r;
  }

  /** Revokes every certificate of a device (it was recycled: its keys must not be served again); how many it revoked. */
  async revokeDevice(deviceId: string): Promise<number> {
    const done = await this.#d.repo.revokeDevice(deviceId, this.#d.clock.now());
    for (const r of done) this.#revoked(r);
    return done.length;
  }

  #revoked(r: CertificateRecord): void {
    this.#d.scheduler.removed(RENEW, r.id);
    this.#d.scheduler.removed(EXPIRY, r.id);
    this.#d.log.info({ cert: r.id, device: r.deviceId }, 'certificate revoked');
  }

  /** Seed 002 step 4, after authentication: the certificate's status, and its key when it is usable. */
  async lookup(deviceId: string, certId: string): Promise<Lookup> {
    const r = await this.#d.repo.get(certId);
    if (!r || r.deviceId !== deviceId) return { status: 'not-found' };
    if (r.status === 'revoked') return { status: 'revoked', record: r };
    if (r.status === 'expired' || r.notAfter <= this.#d.clock.now()) return { status: 'expired', record: r };
    // update-pending is still served while it is valid: the STB must keep working until it acknowledges.
    const sealed = await this.#d.repo.sealedKey(r.id, r.version);
    if (!sealed) return { status: 'not-found' };
    const privateKeyPem = this.#d.box.open(sealed, keyContext(r.id, r.deviceId, r.version)).toString('utf8');
    return { status: 'valid', record: r, key: { certificatePem: r.certPem, privateKeyPem } };
  }

  /**
   * Seed 002 step 5: the media system submits what the STB presented: the certificate, and its signature
   * (with the certificate's key) over the media system's login challenge.
   */
  async verify(certId: string, presented: { certificatePem: string; challenge: string; signature: string }): Promise<Verdict> {
    const r = await this.#d.repo.get(certId);
    if (!r) return { valid: false, reason: 'unknown' };
    if (r.status === 'revoked') return { valid: false, reason: 'revoked' };
    if (r.status === 'expired' || r.notAfter <= this.#d.clock.now()) return { valid: false, reason: 'expired' };
    let ok = false;
    try {
      const given = new X509Certificate(presented.certificatePem);
      ok = given.fingerprint256 === new X509Certificate(r.certPem).fingerprint256 && verifySignature('sha256', Buffer.from(presented.challenge), given.publicKey, Buffer.from(presented.signature, 'base64'));
    } catch {
      ok = false;
    }
    return ok ? { valid: true, notAfter: r.notAfter } : { valid: false, reason: 'mismatch' };
  }

  /** The STB acknowledged its update notice (the notice task finished): fetch the renewed certificate. */
  async noticeAnswered(certId: string, noticeTask: number, acknowledged: boolean): Promise<void> {
    const r = await this.#d.repo.get(certId);
    if (!r || r.noticeTask !== noticeTask || r.status !== 'update-pending') return;
    if (!acknowledged) {
      this.#d.log.warn({ cert: certId, device: r.deviceId, task: noticeTask }, 'certificate update notice not acknowledged; served until it expires');
      return;
    }
    try {
      await this.renew(certId);
    } catch (err) {
      this.#d.log.error({ cert: certId, err: (err as Error).message }, 'renewal after the acknowledgement failed; retried at the next renewal check');
      const at = this.#d.clock.now() + RENEWAL_RETRY_MS;
      if (await this.#d.repo.retryRenewal(certId, at)) this.#d.scheduler.stored(RENEW, certId, at);
    }
  }

  #once(id: string, fn: () => Promise<CertificateRecord>): Promise<CertificateRecord> {
    let p = this.#inFlight.get(id);
    if (!p) {
      p = fn().finally(() => this.#inFlight.delete(id));
      this.#inFlight.set(id, p);
    }
    return p;
  }

  async #fetch(id: string, deviceId: string, version: number, reason: string): Promise<CertificateRecord> {
    const { ca, box, repo, clock, scheduler, log } = this.#d;
    const now = clock.now();
    let issued;
    try {
      issued = await ca.issue({ certificateId: id, deviceId, version, notBefore: new Date(now), notAfter: new Date(now + this.#o.validityMs) });
    } catch (err) {
      if (err instanceof CaError) throw new CertError(err.retryable ? 'ca-unavailable' : 'ca-refused', err.message);
      throw err;
    }
    const notBefore = issued.notBefore.getTime();
    const notAfter = issued.notAfter.getTime();
    const renewAt = renewAtOf(notBefore, notAfter, this.#o.renewFraction, this.#o.renewJitter, this.#d.random ?? Math.random);
    const keySealed = box.seal(Buffer.from(issued.privateKeyPem), keyContext(id, deviceId, version));
    const stored = await repo.store({ id, deviceId, version, serial: issued.serial, certPem: issued.certPem, keySealed, notBefore, notAfter, renewAt, at: clock.now(), reason });
    if (!stored) {
      if ((await repo.get(id))?.status === 'revoked') throw new CertError('revoked', `certificate ${JSON.stringify(id)} was revoked while the CA was issuing`);
      throw new CertError('conflict', `certificate ${JSON.stringify(id)} changed while the CA was issuing`);
    }
    scheduler.stored(RENEW, id, renewAt);
    scheduler.stored(EXPIRY, id, notAfter);
    log.info({ cert: id, device: deviceId, version, reason, notAfter: new Date(notAfter).toISOString(), renewAt: new Date(renewAt).toISOString() }, 'certificate stored');
    const r = await repo.get(id);
    if (!r) throw new CertError('conflict', `certificate ${JSON.stringify(id)} changed while it was stored`);
    return r;
  }

  async #renewalDue(id: string, dueAt: number): Promise<void> {
    const { repo, clock, log } = this.#d;
    const r = await repo.renewalDue(id, dueAt, clock.now());
    if (!r) return;
    const task = await this.#d.notify(r.deviceId, id);
    await repo.setNoticeTask(id, r.version, task, clock.now());
    log.info({ cert: id, device: r.deviceId, task }, 'certificate needs update: notice sent to the STB');
  }

  async #expiryDue(id: string, dueAt: number): Promise<void> {
    const { repo, clock, log } = this.#d;
    const expired = await repo.expiryDue(id, dueAt, clock.now());
    if (!expired) return;
    const r = expired.record;
    if (expired.was === 'update-pending') {
      this.#d.onExpiredUnacknowledged?.();
      log.warn({ cert: id, device: r.deviceId, task: r.noticeTask }, 'certificate expired: the STB never acknowledged its update notice');
    } else {
      log.warn({ cert: id, device: r.deviceId }, 'certificate expired');
    }
  }
}
