/**
 * The baseline of bench:files: a minimal Node static file server, one file, no tokens, no ranges, no
 * metrics: node:http and fs.createReadStream piped into the response.
 *
 *   node --import tsx bench/minimal-file-server.ts FILE
 *
 * Prints {"port": N} once it listens.
 */
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const file = process.argv[2]!;
const size = statSync(file).size;
const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
  createReadStream(file, { highWaterMark: 64 * 1024 }).pipe(res);
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`));
