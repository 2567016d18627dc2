/**
 * The Node ceiling for the bind/unbind API: a minimal hand-written node:http server, no stbd code.
 * Answers `PUT` and `DELETE /v1/accounts/ACCOUNT/devices/DEVICE` with a fixed small JSON body (the
 * shape stbd answers with: `{"result":"confirmed"}`, `{"result":"unbound","recycleAt":…}`) after
 * checking the bearer token by plain comparison; no routing library, no validation, no state, no SQL.
 *
 *   node --import tsx bench/minimal-http.ts TOKEN
 *
 * Prints {"port": N} on stdout once listening on 127.0.0.1 on an ephemeral port; runs until killed
 * (or until its stdin closes, i.e. the benchmark that started it went away).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const token = process.argv[2] ?? '';
const bearer = `Bearer ${token}`;
const PREFIX = '/v1/accounts/';
const bound = Buffer.from('{"result":"confirmed"}');
const unbound = Buffer.from(`{"result":"unbound","recycleAt":"${new Date(Date.now() + 7 * 86_400_000).toISOString()}"}`);
const notFound = Buffer.from('{"error":"not-found","message":"no such route"}');
const unauthorized = Buffer.from('{"error":"unauthorized","message":"missing or wrong bearer token"}');

function send(res: import('node:http').ServerResponse, status: number, body: Buffer): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length });
  res.end(body);
}

const server = createServer((req, res) => {
  // No request here has a body; drain anything sent anyway so the connection stays usable.
  req.resume();
  const url = req.url ?? '';
  if (!url.startsWith(PREFIX) || !url.includes('/devices/', PREFIX.length)) return send(res, 404, notFound);
  if (req.headers.authorization !== bearer) return send(res, 401, unauthorized);
  if (req.method === 'PUT') return send(res, 200, bound);
  if (req.method === 'DELETE') return send(res, 200, unbound);
  return send(res, 404, notFound);
});
server.keepAliveTimeout = 60_000;

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});

process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
