import { buildCertificate, type CertificateRequest, type Issuer, newKeyPairSync, type ParsedIssuer, parseIssuer } from './x509.js';

/** What a signer is asked for: everything of a certificate but its key, which the signer makes. */
export type NewCertificate = Omit<CertificateRequest, 'publicKeyPem'>;

/** A certificate and its new private key, PEM. */
export interface KeyedCertificate {
  readonly certPem: string;
  readonly privateKeyPem: string;
}

export interface SigningJob {
  readonly id: number;
  readonly request: NewCertificate;
  /** Absent: self-signed. */
  readonly issuer?: Issuer;
}

export type SigningResult = ({ readonly ok: true } & KeyedCertificate) | { readonly ok: false; readonly message: string };

/**
 * Runs one job on the calling thread, synchronously: an RSA-2048 key pair (OpenSSL) and the certificate
 * for it (node-forge). `cache` keeps the last issuer parsed (jobs carry the issuer's PEM each time; it is
 * nearly always the same one). Called by the signing worker; tests call it directly.
 */
export function runSigningJob(job: Omit<SigningJob, 'id'>, cache: { issuer?: ParsedIssuer }): SigningResult {
  try {
    let issuer: ParsedIssuer | undefined;
    if (job.issuer) {
      const last = cache.issuer;
      issuer = last && last.source.privateKeyPem === job.issuer.privateKeyPem && last.source.certPem === job.issuer.certPem ? last : (cache.issuer = parseIssuer(job.issuer));
    }
    const keys = newKeyPairSync();
    const req = { ...job.request, publicKeyPem: keys.publicKeyPem };
    const certPem = buildCertificate(req, issuer ?? { privateKeyPem: keys.privateKeyPem });
    return { ok: true, certPem, privateKeyPem: keys.privateKeyPem };
  } catch (err) {
    return { ok: false, message: err instanceof Error ? err.message : String(err) };
  }
}
