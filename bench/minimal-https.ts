/**
 * The Node ceiling for key fetches in bench:certs: a minimal hand-written node:https server doing the work
 * a fetch needs, and nothing else: JSON parse of the proof, the STB's HMAC-SHA256 checked in constant time,
 * and the fixed key information wrapped for the STB (HKDF-SHA256 + AES-256-GCM, src/certs/key-wrap.ts).
 * No routing library, no schema validation, no nonce memory, no SQLite, no unsealing.
 *
 *   node --import tsx bench/minimal-https.ts CERT_FILE KEY_FILE STBS_FILE PAYLOAD_FILE
 *
 * STBS_FILE: one JSON array [stbId, secret, certId] a line. PAYLOAD_FILE: {"certificatePem", "privateKeyPem"}.
 * Prints {"port": N} once listening on 127.0.0.1; runs until killed or its stdin closes.
 */
import { timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { type KeyInformation, wrapKey } from '../src/certs/key-wrap.js';
import { type StbProof, stbMac } from '../src/certs/stb-auth.js';

const [certFile, keyFile, stbsFile, payloadFile] = process.argv.slice(2) as [string, string, string, string];
const secrets = new Map<string, string>();
for (const line of readFileSync(stbsFile, 'utf8').split('\n').filter(Boolean)) {
  const [id, secret] = JSON.parse(line) as [string, string];
  secrets.set(id, secret);
}
const payload = JSON.parse(readFileSync(payloadFile, 'utf8')) as KeyInformation;
const notAfter = new Date(Date.now() + 365 * 86_400_000).toISOString();
const refused = Buffer.from('{"status":"auth-failed"}');

const server = createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile), keepAliveTimeout: 60_000 }, (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const send = (status: number, body: Buffer) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length });
      res.end(body);
    };
    let p: StbProof;
    try {
      p = JSON.parse(Buffer.concat(chunks).toString('utf8')) as StbProof;
    } catch {
      return send(400, Buffer.from('{"error":"bad-request"}'));
    }
    const secret = secrets.get(p.stbId);
    const given = Buffer.from(typeof p.mac === 'string' ? p.mac : '', 'hex');
    const expected = Buffer.from(stbMac(secret ?? '', p), 'hex');
    if (secret === undefined || given.length !== expected.length || !timingSafeEqual(given, expected)) return send(401, refused);
    const key = wrapKey(secret, { stbId: p.stbId, certId: p.certId, version: 1, nonce: p.nonce }, payload);
    send(200, Buffer.from(JSON.stringify({ status: 'valid', certId: p.certId, version: 1, notAfter, updatePending: false, key })));
  });
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});

process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
