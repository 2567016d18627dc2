import { generateKeyPair as generateKeyPairCb, generateKeyPairSync, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { promisify } from 'node:util';
import forge from 'node-forge';

const generateKeyPair = promisify(generateKeyPairCb);

export interface KeyPairPem {
  readonly publicKeyPem: string;
  readonly privateKeyPem: string;
}

const RSA_OPTIONS = {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
} as const;

/** An RSA-2048 key pair from node:crypto (OpenSSL, on libuv's thread pool), as PEM. */
export async function newKeyPair(): Promise<KeyPairPem> {
  const { publicKey, privateKey } = await generateKeyPair('rsa', RSA_OPTIONS);
  return { publicKeyPem: publicKey, privateKeyPem: privateKey };
}

/** The same, on the calling thread (for a signing worker: it blocks that thread only). */
export function newKeyPairSync(): KeyPairPem {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', RSA_OPTIONS);
  return { publicKeyPem: publicKey, privateKeyPem: privateKey };
}

/** A positive 128-bit serial number, as hex. */
export function newSerial(): string {
  const b = randomBytes(16);
  b[0] = (b[0] as number) & 0x7f;
  return b.toString('hex');
}

/** The names a TLS server certificate is valid for (its subjectAltName). */
export interface ServerNames {
  readonly dnsNames: readonly string[];
  /** IPv4 or IPv6 literals. */
  readonly ips: readonly string[];
}

export interface CertificateRequest {
  readonly commonName: string;
  readonly publicKeyPem: string;
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** A CA certificate (may sign others) rather than an end entity's. */
  readonly isCa: boolean;
  /**
   * End entities only: a TLS server certificate for these names (extended key usage serverAuth,
   * subjectAltName) instead of the default client profile (clientAuth, no subjectAltName).
   */
  readonly server?: ServerNames;
}

export interface Issuer {
  /** The issuer's certificate; absent for a self-signed certificate. */
  readonly certPem?: string;
  readonly privateKeyPem: string;
}

type Extension = Record<string, unknown> & { name: string };

function extensions(req: CertificateRequest): Extension[] {
  if (req.isCa) {
    return [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
      { name: 'subjectKeyIdentifier' },
    ];
  }
  const endEntity: Extension[] = [
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
  ];
  if (!req.server) return [...endEntity, { name: 'extKeyUsage', clientAuth: true }];
  for (const ip of req.server.ips) if (isIP(ip) === 0) throw new TypeError(`not an IP address: ${JSON.stringify(ip)}`);
  const altNames = [...req.server.dnsNames.map((value) => ({ type: 2, value })), ...req.server.ips.map((ip) => ({ type: 7, ip }))];
  if (altNames.length === 0) throw new TypeError('a server certificate needs at least one DNS name or IP address');
  return [...endEntity, { name: 'extKeyUsage', serverAuth: true }, { name: 'subjectAltName', altNames }];
}

/** An issuer's parsed key and subject: parsing PEM with node-forge costs about a millisecond, so a signer keeps the last one. */
export interface ParsedIssuer {
  readonly source: Issuer;
  readonly key: forge.pki.rsa.PrivateKey;
  /** The issuer's subject attributes; undefined for a self-signed certificate. */
  readonly subject: forge.pki.CertificateField[] | undefined;
}

export function parseIssuer(issuer: Issuer): ParsedIssuer {
  return {
    source: issuer,
    key: forge.pki.privateKeyFromPem(issuer.privateKeyPem) as forge.pki.rsa.PrivateKey,
    subject: issuer.certPem ? forge.pki.certificateFromPem(issuer.certPem).subject.attributes : undefined,
  };
}

/**
 * Builds and signs an X.509 v3 certificate (node-forge, SHA-256 with RSA). Pure JavaScript, about 30 ms
 * of CPU for RSA-2048: the daemon runs it on its signing pool (signing-pool.ts), never on the event loop.
 */
export function buildCertificate(req: CertificateRequest, issuer: Issuer | ParsedIssuer): string {
  const parsed = 'source' in issuer ? issuer : parseIssuer(issuer);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(req.publicKeyPem);
  cert.serialNumber = req.serial;
  cert.validity.notBefore = req.notBefore;
  cert.validity.notAfter = req.notAfter;
  const subject = [{ name: 'commonName', value: req.commonName }];
  cert.setSubject(subject);
  cert.setIssuer(parsed.subject ?? subject);
  cert.setExtensions(extensions(req));
  cert.sign(parsed.key, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}
