/**
 * The Node baseline for Inform-only CWMP sessions: a minimal hand-written node:http server.
 * A POST with a body must carry an Authorization header (not checked: without one it gets a fixed Digest
 * challenge, as a client needs one to start), is read by stbd's own reader of CPE bodies (`cwmpTreeReader`,
 * saxes underneath: the same parse and tree as stbd's, and its only stbd code; any well-formedness error is a
 * 400), must be an Inform naming its device, and gets a fixed InformResponse and a session cookie; the empty
 * POST gets 204. No database, no session table, no authentication arithmetic.
 *
 *   node --import tsx bench/minimal-cwmp.ts
 *
 * Prints {"port": N} on stdout once listening on 127.0.0.1 on an ephemeral port; runs until killed
 * (or until its stdin closes, i.e. the benchmark that started it went away).
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cwmpTreeReader } from '../src/management/cwmp-soap.js';
import type { XmlValue } from '../src/management/xml-tree.js';
import { INFORM_RESPONSE } from './cwmp-bodies.js';

const informResponse = Buffer.from(INFORM_RESPONSE);
const challenge = 'Digest realm="baseline", qop="auth", algorithm=MD5, nonce="baseline-nonce"';
let sessions = 0;

const reader = cwmpTreeReader();
const child = (node: XmlValue | undefined, local: string): XmlValue | undefined => {
  if (typeof node !== 'object' || Array.isArray(node)) return undefined;
  for (const [k, v] of Object.entries(node)) if (k === local || k.endsWith(`:${local}`)) return v;
  return undefined;
};

/** Envelope/Body/Inform/DeviceId/SerialNumber, whatever the prefixes; throws on malformed XML. */
function serialOf(body: string): string {
  const serial = child(child(child(child(child(reader.read(body), 'Envelope'), 'Body'), 'Inform'), 'DeviceId'), 'SerialNumber');
  return typeof serial === 'string' ? serial.trim() : '';
}

function plain(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    if (body.trim() === '') {
      res.writeHead(204);
      res.end();
      return;
    }
    if (!req.headers.authorization) return plain(res, 401, 'authentication required\n', { 'www-authenticate': challenge });
    let serial: string;
    try {
      serial = serialOf(body);
    } catch {
      return plain(res, 400, 'malformed XML\n');
    }
    if (serial === '') return plain(res, 400, 'not an Inform\n');
    res.writeHead(200, {
      'content-type': 'text/xml; charset="utf-8"',
      'content-length': informResponse.length,
      'set-cookie': `session=${++sessions}; Path=/; HttpOnly`,
    });
    res.end(informResponse);
  });
});
server.keepAliveTimeout = 60_000;

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});

process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
