/**
 * The Node baseline for Inform-only CWMP sessions: a minimal hand-written node:http server, no stbd code.
 * A POST with a body must carry an Authorization header (not checked: without one it gets a fixed Digest
 * challenge, as a client needs one to start), is read by saxes, the strict XML parser stbd reads CPE
 * bodies with (any well-formedness error is a 400), as a stream of events with no tree built, must be an
 * Inform naming its device, and gets a fixed InformResponse and a session cookie; the empty POST gets
 * 204. No database, no session table, no authentication arithmetic.
 *
 *   node --import tsx bench/minimal-cwmp.ts
 *
 * Prints {"port": N} on stdout once listening on 127.0.0.1 on an ephemeral port; runs until killed
 * (or until its stdin closes, i.e. the benchmark that started it went away).
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SaxesParser } from 'saxes';
import { INFORM_RESPONSE } from './cwmp-bodies.js';

const informResponse = Buffer.from(INFORM_RESPONSE);
const challenge = 'Digest realm="baseline", qop="auth", algorithm=MD5, nonce="baseline-nonce"';
let sessions = 0;

/** Envelope/Body/Inform/DeviceId/SerialNumber's text, whatever the prefixes; throws on malformed XML. */
const SERIAL_PATH = ['Envelope', 'Body', 'Inform', 'DeviceId', 'SerialNumber'];
function serialOf(body: string): string {
  const parser = new SaxesParser({ xmlns: false });
  const path: string[] = [];
  let serial = '';
  const atSerial = () => path.length === SERIAL_PATH.length && path.every((name, i) => name === SERIAL_PATH[i]);
  parser.on('opentag', (tag) => path.push(tag.name.slice(tag.name.indexOf(':') + 1)));
  parser.on('closetag', () => path.pop());
  parser.on('text', (text) => {
    if (atSerial()) serial += text;
  });
  parser.write(body).close();
  return serial.trim();
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
