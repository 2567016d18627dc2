import { X509Certificate } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { CaRepo } from './ca-repo.js';
import type { SealedBox } from './sealed-box.js';
import { type CertificateSigner, inlineSigner } from './signing-pool.js';
import { newSerial, type ServerNames } from './x509.js';

/** The name BuiltinCa stores its row under in CaRepo. */
export const BUILTIN_CA_NAME = 'builtin';
const NAME = BUILTIN_CA_NAME;
const CA_YEARS = 20;

export interface IssuedCertificate {
  readonly serial: string;
  readonly certPem: string;
  /** The new private key, PEM. The caller seals it before storing it. */
  readonly privateKeyPem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/**
 * The daemon's own certificate authority: created on first use (RSA-2048, self-signed, 20 years), its
 * private key sealed at rest (AES-256-GCM under the master key). Issues end-entity certificates
 * (node-forge builds them; node:crypto makes the keys and verifies) through its signer: the daemon's
 * SigningPool (worker threads), or, by default, the calling thread (for one-off use such as `stbd ca init`).
 */
export class BuiltinCa {
  readonly #privateKeyPem: string;
  readonly #x509: X509Certificate;

  private constructor(
    readonly certPem: string,
    privateKeyPem: string,
    private readonly signer: CertificateSigner,
  ) {
    this.#privateKeyPem = privateKeyPem;
    this.#x509 = new X509Certificate(certPem);
  }

  static async open(repo: CaRepo, box: SealedBox, clock: Clock, signer: CertificateSigner = inlineSigner): Promise<BuiltinCa> {
    let stored = await repo.get(NAME);
    if (!stored) {
      const now = new Date(clock.now());
      const made = await signer.issue({ commonName: 'stbd builtin CA', serial: newSerial(), notBefore: now, notAfter: new Date(now.getTime() + CA_YEARS * 365 * 86_400_000), isCa: true });
      await repo.insert(NAME, { certPem: made.certPem, keySealed: box.seal(Buffer.from(made.privateKeyPem), `ca|${NAME}`) }, clock.now());
      stored = (await repo.get(NAME))!;
    }
    const privateKeyPem = box.open(stored.keySealed, `ca|${NAME}`).toString();
    return new BuiltinCa(stored.certPem, privateKeyPem, signer);
  }

  /**
   * Issues a certificate for `commonName`, valid from `notBefore` to `notAfter`, with a fresh key pair: a
   * client certificate (extended key usage clientAuth), or with `server`, a TLS server certificate for those
   * names (serverAuth, subjectAltName).
   */
  async issue(commonName: string, notBefore: Date, notAfter: Date, server?: ServerNames): Promise<IssuedCertificate> {
    const serial = newSerial();
    const made = await this.signer.issue({ commonName, serial, notBefore, notAfter, isCa: false, ...(server ? { server } : {}) }, { certPem: this.certPem, privateKeyPem: this.#privateKeyPem });
    return { serial, certPem: made.certPem, privateKeyPem: made.privateKeyPem, notBefore, notAfter };
  }

  /** Was `certPem` signed by this CA? (Validity dates and revocation are the caller's to check.) */
  signed(certPem: string): boolean {
    try {
      return new X509Certificate(certPem).verify(this.#x509.publicKey);
    } catch {
      return false;
    }
  }
}
