import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import t from 'tap';
import type * as Tap from 'tap';
import type { FileCatalog, FileRecord } from '../src/campaigns/file-source.js';
import { run, setup } from './helpers/campaign-loop.js';

/**
 * Firmware campaigns: success is verified, not assumed. stbd's own file server is not in this branch
 * (issue 16 point 1, h/files): the catalog here is the test's, over a real HTTP server serving the image.
 * The simulator's Download is its current one: no fetch, a TransferComplete after --download-delay (a fault
 * when the URL says "fail"), no reboot. So the test plays the firmware: it sets the new SoftwareVersion on
 * the box that upgrades, and reboots the boxes through stbd; every TransferComplete and Inform is on the wire.
 */
const SV = 'InternetGatewayDevice.DeviceInfo.SoftwareVersion';

async function imageServer(t: Tap.Test, image: Buffer): Promise<{ base: string; fetched: string[] }> {
  const fetched: string[] = [];
  const server = createServer((req, res) => {
    fetched.push(req.url ?? '');
    res.writeHead(200, { 'content-length': image.length, 'content-type': 'application/octet-stream' }).end(image);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise((r) => server.close(r)));
  return { base: `http://127.0.0.1:${(server.address() as { port: number }).port}`, fetched };
}


t.test('a firmware device succeeds only on the new version; a fault, a box that lies and a bricked box fail, each saying why', async (t) => {
  const image = Buffer.from('STBSIM-FIRMWARE version=2.0\n' + 'x'.repeat(4000));
  const { base } = await imageServer(t, image);
  const file: FileRecord = { id: 'fw-2.0', type: 'firmware', version: '2.0', size: image.length, sha256: createHash('sha256').update(image).digest('hex'), addedAt: 0 };
  const files: FileCatalog = {
    get: async (id) => (id === file.id ? file : undefined),
    // stb-0002's URL makes the simulator report a failed download.
    downloadUrl: (fileId, deviceId) => `${base}/files/${fileId}?device=${deviceId}${deviceId === 'stb-0002' ? '&fail' : ''}`,
  };
  const l = await setup(t, 4, [], { campaigns: { tick: '1s', verify_timeout: '1h' } }, { files, sim: { downloadDelayMs: 20, rebootDelayMs: 20 } });
  const transfers = new Set<string>();
  l.sim.on('session-end', (e) => {
    if (e.events.some((ev) => ev.code === '7 TRANSFER COMPLETE')) transfers.add(e.device);
  });

  const created = await l.d.api('POST', '/v1/campaigns', { json: { name: 'fw', where: "id LIKE 'stb-*'", firmware: 'fw-2.0', concurrency: 10, stopFailureRate: '100%', start: true } });
  t.equal(created.status, 201, JSON.stringify(created.body));
  t.match(created.body, { targetVersion: '2.0', action: { kind: 'firmware', fileId: 'fw-2.0' } });
  const gotFault = await run(t, l, 'fw', (s) => transfers.size === 4 && s.counts.failed === 1);
  t.match(gotFault.failures, [{ device: 'stb-0002', reason: 'download failed: TransferComplete fault 9010 Download failure' }]);
  t.equal(gotFault.counts['in-progress'], 3, 'a clean TransferComplete is not a success: the others wait for their new version');

  // The Download each box got: its own URL, the file's size, the target file name.
  const task = (await l.d.api('GET', '/v1/devices/stb-0001/tasks')).body.tasks.find((x: { origin: string }) => x.origin === 'campaign');
  t.match(task.request, { kind: 'download', url: `${base}/files/fw-2.0?device=stb-0001`, fileType: '1 Firmware Upgrade Image', fileSize: image.length, targetFileName: 'fw-2.0' });
  const fetched = await fetch(task.request.url);
  t.equal((await fetched.arrayBuffer()).byteLength, image.length, 'the URL serves the image');

  // stb-0001 "installs" 2.0 and reboots; stb-0003 reboots on its old version (it lied); stb-0004 never comes back.
  l.sim.device('stb-0001')!.tree.setInternal(SV, '2.0');
  for (const id of ['stb-0001', 'stb-0003']) t.equal((await l.d.api('POST', `/v1/devices/${id}/tasks`, { json: { kind: 'reboot' } })).status, 201);
  const rebooted = await run(t, l, 'fw', (s) => s.counts.succeeded === 1 && s.counts.failed === 2);
  t.match(rebooted.failures, [{ device: 'stb-0002' }, { device: 'stb-0003', reason: 'came back on version 1.0.0, not 2.0' }]);
  t.equal(rebooted.counts['in-progress'], 1, 'the bricked box is still awaited');

  const done = await run(t, l, 'fw', (s) => s.state === 'done', 60_000);
  t.same(done.counts, { pending: 0, 'in-progress': 0, succeeded: 1, failed: 3, skipped: 0, cancelled: 0 });
  t.match(done.failures.find((f: { device: string }) => f.device === 'stb-0004'), { reason: 'did not come back on version 2.0 within [campaigns] verify_timeout (1h)' });
});
