import { randomBytes, type X509Certificate } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { buildCertificate, newKeyPair, newSerial } from '../../src/ca/x509.js';
import { stbMac } from '../../src/certs/stb-auth.js';

export interface HttpsReply {
  readonly status: number;
  readonly body: any;
  readonly text: string;
  /** The server certificate the endpoint presented. */
  readonly peer: X509Certificate | undefined;
}

/**
 * One HTTPS POST to the STB endpoint on 127.0.0.1. The server certificate is not checked by OpenSSL here
 * (the tests check it themselves: issuer, key); `json` is sent as JSON, `raw` as it is.
 */
export function postHttps(port: number, path: string, opts: { json?: unknown; raw?: string; contentType?: string; method?: string }): Promise<HttpsReply> {
  const body = opts.raw ?? (opts.json === undefined ? '' : JSON.stringify(opts.json));
  const headers: Record<string, string | number> = { 'content-length': Buffer.byteLength(body) };
  if (opts.contentType !== undefined || opts.json !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: opts.method ?? 'POST', headers, rejectUnauthorized: false, agent: false }, (res) => {
      const peer = res.socket && 'getPeerX509Certificate' in res.socket ? (res.socket as import('node:tls').TLSSocket).getPeerX509Certificate() : undefined;
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        let parsed: unknown;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          parsed = undefined;
        }
        resolve({ status: res.statusCode ?? 0, body: parsed, text, peer });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** An STB speaking the certificate proxy's protocol: proofs signed with its CWMP password, on the daemon's clock. */
export class TestStb {
  constructor(
    readonly port: number,
    readonly stbId: string,
    readonly secret: string,
    readonly now: () => number,
  ) {}

  proof(certId: string, o: { timestamp?: number; nonce?: string; secret?: string; stbId?: string } = {}) {
    const p = { stbId: o.stbId ?? this.stbId, certId, timestamp: o.timestamp ?? Math.floor(this.now() / 1000), nonce: o.nonce ?? randomBytes(18).toString('base64url') };
    return { ...p, mac: stbMac(o.secret ?? this.secret, p) };
  }

  request(certId: string, o: Parameters<TestStb['proof']>[1] = {}): Promise<HttpsReply & { nonce: string }> {
    const p = this.proof(certId, o);
    return postHttps(this.port, '/v1/certificate', { json: p }).then((r) => ({ ...r, nonce: p.nonce }));
  }

  ack(certId: string, o: Parameters<TestStb['proof']>[1] = {}): Promise<HttpsReply> {
    return postHttps(this.port, '/v1/certificate/ack', { json: this.proof(certId, o) });
  }

  send(path: string, body: unknown): Promise<HttpsReply> {
    return postHttps(this.port, path, { json: body });
  }
}

/** A CA of the test's own (real time, valid for years), and client certificates it issues (CN, clientAuth). */
export async function testCa(commonName = 'test CPE CA') {
  const keys = await newKeyPair();
  const now = Date.now();
  const period = { notBefore: new Date(now - 86_400_000), notAfter: new Date(now + 3650 * 86_400_000) };
  const root = { certPem: buildCertificate({ commonName, publicKeyPem: keys.publicKeyPem, serial: newSerial(), ...period, isCa: true }, { privateKeyPem: keys.privateKeyPem }), privateKeyPem: keys.privateKeyPem };
  return {
    ...root,
    async issue(cn: string): Promise<{ cert: string; key: string }> {
      const k = await newKeyPair();
      return { cert: buildCertificate({ commonName: cn, publicKeyPem: k.publicKeyPem, serial: newSerial(), ...period, isCa: false }, root), key: k.privateKeyPem };
    },
  };
}

export type CaMode = 'ok' | 'fail' | 'refuse' | 'mismatch' | 'not-json' | 'incomplete';

/**
 * A small real HTTP server playing an external CA (the contract of src/ca/http-cert-authority.ts): its own
 * self-signed root issues each request's certificate with a fresh key. A repeated idempotency key gets the
 * first answer. Modes: 503, 400, a key that is not the certificate's, a body that is not JSON, a body
 * without the certificate.
 */
export class FakeCa {
  mode: CaMode = 'ok';
  readonly calls: { path: string; key: string | undefined; auth: string | undefined; body: Record<string, unknown> }[] = [];
  readonly #answers = new Map<string, string>();
  issued = 0;
  /** While set, requests wait for it before they are answered (to hold the CA mid-call). */
  gate: Promise<void> | undefined;
  private constructor(
    readonly server: Server,
    readonly token: string,
    readonly root: { certPem: string; privateKeyPem: string },
  ) {}

  static async start(token: string): Promise<FakeCa> {
    const root = await testCa('fake external CA');
    const server = createServer();
    const ca = new FakeCa(server, token, root);
    server.on('request', (req, res) => void ca.#handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return ca;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const key = req.headers['idempotency-key'] as string | undefined;
    const body = JSON.parse(Buffer.concat(chunks).toString() || '{}') as { device?: string; notBefore?: string; notAfter?: string };
    this.calls.push({ path: req.url ?? '', key, auth: req.headers.authorization, body });
    await this.gate;
    if (this.mode === 'fail') return void res.writeHead(503).end('{"error":"maintenance"}');
    if (this.mode === 'refuse') return void res.writeHead(400).end('{"error":"unknown device"}');
    if (this.mode === 'not-json') return void res.writeHead(200, { 'content-type': 'text/html' }).end('<html>proxy error</html>');
    if (this.mode === 'incomplete') return void res.writeHead(201, { 'content-type': 'application/json' }).end('{"certificatePem":"x"}');
    if (req.headers.authorization !== `Bearer ${this.token}` || req.url !== '/certificates' || req.method !== 'POST') return void res.writeHead(401).end();
    const first = key ? this.#answers.get(key) : undefined;
    if (first) return void res.writeHead(201, { 'content-type': 'application/json' }).end(first);
    const keys = await newKeyPair();
    const certPem = buildCertificate(
      { commonName: body.device ?? 'unknown', publicKeyPem: keys.publicKeyPem, serial: newSerial(), notBefore: new Date(body.notBefore ?? Date.now()), notAfter: new Date(body.notAfter ?? Date.now() + 86_400_000), isCa: false },
      this.root,
    );
    const privateKeyPem = this.mode === 'mismatch' ? (await newKeyPair()).privateKeyPem : keys.privateKeyPem;
    const answer = JSON.stringify({ certificatePem: certPem, privateKeyPem });
    this.issued++;
    if (key) this.#answers.set(key, answer);
    res.writeHead(201, { 'content-type': 'application/json' }).end(answer);
  }
}
