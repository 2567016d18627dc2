/**
 * bench:files — the file server's throughput against a minimal Node static file server, in one run:
 * a 4 MiB simulator firmware image fetched by 50 concurrent clients (keep-alive, every byte read), each
 * with its own device's URL (the token checked on every request).
 *
 *   npm run bench:files [-- --quick]
 *
 * Servers pinned to core 0, the load generator (bench/file-load.ts) to core 1:
 *   1. bench/minimal-file-server.ts serving the image: the baseline;
 *   2. bin/stbd (log level warn): 50 devices registered, the image added through POST /v1/files, each
 *      device's URL from GET /v1/files/ID/url, the same load against [files] listen.
 * Prints the ratio to the baseline against its target (≥ 0.8×), then one JSON line with everything.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { firmwareImage } from '../src/sim/firmware-image.js';
import { spawnDaemon, writeTestConfig } from '../test/helpers/daemon.js';
import { fileLoad, minimalFileServing } from './file-serving.js';
import { daemonOnCore0, PINNED, scratchDir } from './processes.js';

const QUICK = process.argv.includes('--quick');
const SIZE = 4 * 1024 ** 2;
const CLIENTS = 50;
const DURATION_MS = QUICK ? 3_000 : 10_000;
const TARGET = 0.8;

const dir = scratchDir('stbd-bench-files-');
const image = join(dir, 'fw.bin');
writeFileSync(image, firmwareImage('2.1.0', SIZE));

// 1. The baseline.
// Both servers whole on core 0.
const baseline = await minimalFileServing(image, CLIENTS, DURATION_MS, 'core0');

// 2. stbd.
const config = writeTestConfig(dir, { log: { level: 'info' }, api: { body_timeout: '5m' } });
const daemon = await spawnDaemon(config, daemonOnCore0());
const token = readFileSync(join(dir, 'api.token'), 'utf8').trim();
const api = async (method: string, path: string, body?: Buffer | object) => {
  const res = await fetch(`${daemon.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': Buffer.isBuffer(body) ? 'application/octet-stream' : 'application/json' }) },
    ...(body === undefined ? {} : { body: Buffer.isBuffer(body) ? body : JSON.stringify(body) }),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.json() as Promise<any>;
};
const file = await api('POST', '/v1/files?type=firmware&version=2.1.0', readFileSync(image));
const urls: string[] = [];
for (let i = 0; i < CLIENTS; i++) {
  await api('POST', '/v1/devices', { id: `bench-${i}`, cwmpPassword: `bench-${i}-password` });
  urls.push((await api('GET', `/v1/files/${file.id}/url?device=bench-${i}`)).url);
}
const stbd = await fileLoad(urls, CLIENTS, DURATION_MS);
await daemon.stop();

const ratio = stbd.mibPerSec / baseline.mibPerSec;
process.stdout.write(
  [
    `bench:files — a ${SIZE / 1024 ** 2} MiB image, ${CLIENTS} clients, ${DURATION_MS / 1000} s each${PINNED ? ', servers on core 0, load on core 1' : ' (not pinned: taskset missing)'}`,
    `  minimal Node static server: ${baseline.mibPerSec.toFixed(0)} MiB/s (${baseline.fetches} fetches, ${baseline.failed} failed)`,
    `  stbd [files] listen:        ${stbd.mibPerSec.toFixed(0)} MiB/s (${stbd.fetches} fetches, ${stbd.failed} failed)`,
    `  ratio ${ratio.toFixed(2)}× (target ≥ ${TARGET}×) ${ratio >= TARGET ? 'ok' : 'BELOW TARGET'}`,
    JSON.stringify({ bench: 'files', sizeBytes: SIZE, clients: CLIENTS, durationMs: DURATION_MS, pinned: PINNED, baseline, stbd, ratio }),
  ].join('\n') + '\n',
);
process.exit(0);
