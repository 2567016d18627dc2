/**
 * The floor for certificate issuance in bench:certs: what one certificate costs with no daemon around it.
 * The same work a signing worker does (an RSA-2048 key pair from OpenSSL, then the certificate built and
 * signed by node-forge under a CA of the same kind as stbd's), in a plain loop on one thread: no API, no
 * worker messages, no SQLite, no sealing.
 *
 *   node --import tsx bench/cert-baseline.ts DURATION_MS
 *
 * Prints one JSON line (BaselineResult) after DURATION_MS.
 */
import { performance } from 'node:perf_hooks';
import { buildCertificate, newKeyPairSync, newSerial, parseIssuer } from '../src/ca/x509.js';
import { selfCpuMs } from './processes.js';

export interface BaselineResult {
  readonly issued: number;
  readonly ms: number;
  readonly perSec: number;
  /** Mean CPU per certificate, and its two parts. */
  readonly cpuMsPerCert: number;
  readonly keygenMs: number;
  readonly signMs: number;
}

const durationMs = Number(process.argv[2] ?? 10_000);
const DAY = 86_400_000;
const now = new Date();
const caKeys = newKeyPairSync();
const caPem = buildCertificate({ commonName: 'bench CA', publicKeyPem: caKeys.publicKeyPem, serial: newSerial(), notBefore: now, notAfter: new Date(now.getTime() + 3650 * DAY), isCa: true }, { privateKeyPem: caKeys.privateKeyPem });
// Parsed once, as a signing worker keeps it.
const issuer = parseIssuer({ certPem: caPem, privateKeyPem: caKeys.privateKeyPem });

let issued = 0;
let keygenMs = 0;
let signMs = 0;
const cpu0 = selfCpuMs();
const t0 = performance.now();
while (performance.now() - t0 < durationMs) {
  const a = performance.now();
  const keys = newKeyPairSync();
  const b = performance.now();
  buildCertificate({ commonName: `00259E-CertSTB-${issued}`, publicKeyPem: keys.publicKeyPem, serial: newSerial(), notBefore: now, notAfter: new Date(now.getTime() + 365 * DAY), isCa: false }, issuer);
  keygenMs += b - a;
  signMs += performance.now() - b;
  issued++;
}
const ms = performance.now() - t0;
const result: BaselineResult = { issued, ms, perSec: (issued * 1000) / ms, cpuMsPerCert: (selfCpuMs() - cpu0) / issued, keygenMs: keygenMs / issued, signMs: signMs / issued };
process.stdout.write(`${JSON.stringify(result)}\n`);
