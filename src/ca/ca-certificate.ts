import { X509Certificate } from 'node:crypto';

/** A CA certificate as operators read it: what to check, and the PEM to install in STB trust stores. */
export interface CaCertificateView {
  readonly subject: string;
  readonly serial: string;
  readonly notBefore: string;
  readonly notAfter: string;
  readonly sha256: string;
  readonly pem: string;
}

export function caCertificateView(pem: string): CaCertificateView {
  const x = new X509Certificate(pem);
  return {
    subject: x.subject.replaceAll('\n', ', '),
    serial: x.serialNumber,
    notBefore: new Date(x.validFrom).toISOString(),
    notAfter: new Date(x.validTo).toISOString(),
    sha256: x.fingerprint256,
    pem: x.toString(),
  };
}

/** The lines `stbd ca init` and `stbctl ca show` print: the facts, then the PEM. */
export function caCertificateText(v: CaCertificateView): string {
  const facts = [`subject      ${v.subject}`, `serial       ${v.serial}`, `not before   ${v.notBefore}`, `not after    ${v.notAfter}`, `sha-256      ${v.sha256}`];
  return `${facts.join('\n')}\n\n${v.pem.trimEnd()}\n`;
}
