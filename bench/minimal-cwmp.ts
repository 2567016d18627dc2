/**
 * The Node baseline for Inform-only CWMP sessions: a minimal hand-written node:http server, no stbd code.
 * A POST with a body must carry an Authorization header (not checked: without one it gets a fixed Digest
 * challenge, as a client needs one to start), is parsed with fast-xml-parser configured as
 * src/management/cwmp-soap.ts configures it (validation included), must be an Inform naming its device,
 * and gets a fixed InformResponse and a session cookie; the empty POST gets 204. No database, no
 * session table, no authentication arithmetic.
 *
 *   node --import tsx bench/minimal-cwmp.ts
 *
 * Prints {"port": N} on stdout once listening on 127.0.0.1 on an ephemeral port; runs until killed
 * (or until its stdin closes, i.e. the benchmark that started it went away).
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { XMLParser } from 'fast-xml-parser';
import { INFORM_RESPONSE, LIST_ELEMENTS } from './cwmp-bodies.js';

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  parseTagValue: false,
  trimValues: true,
  processEntities: true,
  isArray: (name) => LIST_ELEMENTS.has(name.replace(/^[^:]*:/, '')),
});

const informResponse = Buffer.from(INFORM_RESPONSE);
const challenge = 'Digest realm="baseline", qop="auth", algorithm=MD5, nonce="baseline-nonce"';
let sessions = 0;

type Node = Record<string, unknown>;
const child = (node: unknown, local: string): unknown => {
  if (typeof node !== 'object' || node === null) return undefined;
  for (const [k, v] of Object.entries(node)) if (k === local || k.endsWith(`:${local}`)) return v;
  return undefined;
};

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
    let doc: Node;
    try {
      doc = parser.parse(body, true) as Node;
    } catch {
      return plain(res, 400, 'malformed XML\n');
    }
    const inform = child(child(child(doc, 'Envelope'), 'Body'), 'Inform');
    const serial = child(child(inform, 'DeviceId'), 'SerialNumber');
    if (typeof serial !== 'string' || serial === '') return plain(res, 400, 'not an Inform\n');
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
