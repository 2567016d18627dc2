import type { BuiltinCa } from './builtin-ca.js';
import type { CertificateAuthority, IssueRequest, IssuedCertificate } from './cert-authority.js';

/** The builtin CA as the certificate proxy's CA: the subject is the STB id. `openCa` opens (or creates) it once. */
export class BuiltinCertAuthority implements CertificateAuthority {
  constructor(private readonly openCa: () => Promise<BuiltinCa>) {}

  async issue(req: IssueRequest): Promise<IssuedCertificate> {
    return (await this.openCa()).issue(req.deviceId, req.notBefore, req.notAfter);
  }
}
