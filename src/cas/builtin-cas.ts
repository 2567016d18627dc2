import { randomUUID } from 'node:crypto';
import type { BuiltinCa } from '../ca/builtin-ca.js';
import type { SealedBox } from '../ca/sealed-box.js';
import type { Clock } from '../clock.js';
import type { Cas } from './cas.js';
import type { CasCertificateRepo } from './cas-certificate-repo.js';

/** Associated data binding a sealed private key to its certificate, device and key version. */
export const keyContext = (certificateId: string, deviceId: string) => `cas|${certificateId}|${deviceId}|1`;

/**
 * The default CAS: the daemon's own CA issues the device's conditional-access certificate on
 * registration and revokes it on deregistration. Certificates and sealed private keys live in the store.
 * Idempotent by key: a repeated registration returns the certificate issued the first time.
 */
export class BuiltinCas implements Cas {
  #ca: Promise<BuiltinCa> | undefined;

  /** `openCa` runs on the first registration (creating the CA then, if it is new), not at start-up. */
  constructor(
    private readonly repo: CasCertificateRepo,
    private readonly openCa: () => Promise<BuiltinCa>,
    private readonly box: SealedBox,
    private readonly clock: Clock,
    private readonly validityMs: number,
  ) {}

  #caOnce(): Promise<BuiltinCa> {
    this.#ca ??= this.openCa().catch((err: unknown) => {
      this.#ca = undefined;
      throw err;
    });
    return this.#ca;
  }

  async register(deviceId: string, idempotencyKey: string): Promise<{ certificateId: string }> {
    const existing = await this.repo.byIdempotencyKey(idempotencyKey);
    if (existing) return { certificateId: existing.certificateId };
    const now = this.clock.now();
    const issued = await (await this.#caOnce()).issue(deviceId, new Date(now), new Date(now + this.validityMs));
    const certificateId = randomUUID();
    await this.repo.insertOnce({
      certificateId,
      deviceId,
      idempotencyKey,
      serial: issued.serial,
      certPem: issued.certPem,
      keySealed: this.box.seal(Buffer.from(issued.privateKeyPem), keyContext(certificateId, deviceId)),
      issuedAt: now,
    });
    // Two registrations with one key racing: the first insert wins, and both answer with it.
    return { certificateId: (await this.repo.byIdempotencyKey(idempotencyKey))!.certificateId };
  }

  // Revocation is idempotent by itself: the key adds nothing here.
  async deregister(deviceId: string, certificateId: string | null, _idempotencyKey: string): Promise<void> {
    if (certificateId === null) await this.repo.revokeDevice(deviceId, this.clock.now());
    else await this.repo.revoke(certificateId, this.clock.now());
  }
}
