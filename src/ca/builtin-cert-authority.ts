import type { BuiltinCa } from './builtin-ca.js';
import { CaError, type CertificateAuthority, type IssueRequest, type IssuedCertificate } from './cert-authority.js';
import { SigningError } from './signing-pool.js';

/** The builtin CA as the certificate proxy's CA: the subject is the STB id. `openCa` opens (or creates) it once. */
export class BuiltinCertAuthority implements CertificateAuthority {
  constructor(private readonly openCa: () => Promise<BuiltinCa>) {}

  async issue(req: IssueRequest): Promise<IssuedCertificate> {
    try {
      return await (await this.openCa()).issue(req.deviceId, req.notBefore, req.notAfter);
    } catch (err) {
      // The signing pool closing (stbd stopping) or losing a worker: try again later.
      if (err instanceof SigningError) throw new CaError(true, err.message);
      throw err;
    }
  }
}
