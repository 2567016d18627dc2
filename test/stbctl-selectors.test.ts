import { join } from 'node:path';
import t from 'tap';
import { cpeRequest } from './helpers/cpe.js';
import { clientsOf, spawnDaemon, writeTestConfig } from './helpers/daemon.js';
import { faultXml, gpvResponseXml, informXml, responseXml, TestCpe } from './helpers/test-cpe.js';
import { UdpPeer } from './helpers/udp.js';

const IGD = 'InternetGatewayDevice.';

/** One Inform session: the facts a selector reads (product class, software version, NAT), the daemon's own requests answered. */
async function inform(cwmpUrl: string, id: string, productClass: string, version: string, crHost: string): Promise<void> {
  const cpe = new TestCpe(cwmpUrl, id, `${id}-pw`);
  const params = { [`${IGD}DeviceInfo.SoftwareVersion`]: version, [`${IGD}ManagementServer.ConnectionRequestURL`]: `http://${crHost}:7547/cr` };
  const r = await cpe.post(informXml({ serial: id, events: ['1 BOOT'], params, productClass }));
  if (r.status !== 200) throw new Error(`Inform answered ${r.status}`);
  let next = await cpe.post('');
  while (next.status === 200) {
    const { id: rpc, method } = TestCpe.rpc(next.body);
    const answer = method === 'SetParameterValues' ? responseXml(rpc, 'SetParameterValuesResponse', '<Status>0</Status>') : method === 'GetParameterValues' ? gpvResponseXml(rpc, {}) : faultXml(rpc, 9000, 'not here');
    next = await cpe.post(answer);
  }
}

t.test('tags and selectors through stbctl and the API, against a running daemon', async (t) => {
  const dir = t.testdir();
  const config = writeTestConfig(dir);
  const daemon = await spawnDaemon(config);
  t.teardown(() => daemon.stop());
  const { token, ctl, json, api } = clientsOf(config, daemon, join(dir, 'api.token'));
  const ids = async (...args: string[]) => {
    const r = await json('device', 'list', ...args);
    t.equal(r.code, 0, `device list ${args.join(' ')}: ${r.stderr}`);
    return (r.out as { id: string }[]).map((d) => d.id);
  };

  for (const id of ['a-4k-1', 'a-4k-2', 'b-hd-1', 'c-new']) t.equal((await api('POST', '/v1/devices', { id, cwmpPassword: `${id}-pw`, stunPassword: `${id}-stun` })).status, 201);
  const cwmp = `http://127.0.0.1:${daemon.cwmpPort}/acs`;
  await inform(cwmp, 'a-4k-1', 'STB-4K', '3.9.2', '10.0.0.5');
  await inform(cwmp, 'a-4k-2', 'STB-4K', '3.10', '127.0.0.1');
  await inform(cwmp, 'b-hd-1', 'STB-HD', '2.1.0', '127.0.0.1');
  const stb = await UdpPeer.open();
  t.teardown(() => stb.close());
  t.ok(await stb.exchange(cpeRequest({ username: 'a-4k-1', connectionRequestBinding: true, integrity: { password: 'a-4k-1-stun', variant: 'rfc3489' } }), daemon.stunPort), 'a-4k-1 is online');

  t.test('stbctl tag / untag one device; tags in device show and list', async (t) => {
    const r = await ctl('tag', 'a-4k-1', 'pilot', 'region:north');
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout, 'a-4k-1: tags pilot, region:north\n');
    const j = await json('tag', 'a-4k-2', 'pilot');
    t.same(j.out, { device: 'a-4k-2', tags: ['pilot'], added: ['pilot'], removed: [] });
    t.same((await json('untag', 'a-4k-2', 'pilot', 'never-had')).out, { device: 'a-4k-2', tags: [], added: [], removed: ['pilot'] });
    t.equal((await ctl('untag', 'a-4k-2', 'gone')).stdout, 'a-4k-2: no tags\n');

    const shown = await json('device', 'show', 'a-4k-1');
    t.same(shown.out.tags, ['pilot', 'region:north']);
    t.match((await ctl('device', 'show', 'a-4k-1')).stdout, /\ntags\s+pilot,region:north\n/);
    const table = await ctl('device', 'list');
    t.match(table.stdout, /^ID\s+ONLINE\s+BINDING\s+NAT ID\s+LAST SEEN\s+TAGS\na-4k-1\s+yes\s+127\.0\.0\.1:\d+\s+127\.0\.0\.1\s+\S+\s+pilot,region:north\na-4k-2\s+no\s+-\s+-\s+never\s+-\n/);
    t.same((await api('GET', '/v1/devices/a-4k-1/tags')).body, { device: 'a-4k-1', tags: ['pilot', 'region:north'] });

    const unknown = await ctl('tag', 'nobody', 'pilot');
    t.equal(unknown.code, 1);
    t.equal(unknown.stderr, 'stbctl: device "nobody" not found\n');
    const bad = await ctl('tag', 'a-4k-1', 'two words');
    t.equal(bad.code, 2, 'a bad tag is a usage error, found before the daemon is asked');
    t.equal(bad.stderr, `stbctl: "two words" is not a valid tag: letters and digits, and . _ : - after the first character; see 'stbctl tag --help'\n`);
    const many = await ctl('tag', 'a-4k-1', ...Array.from({ length: 31 }, (_, i) => `t${i}`));
    t.equal(many.code, 1);
    t.equal(many.stderr, 'stbctl: device "a-4k-1" would have 33 tags; at most 32 are allowed\n');
    t.same((await json('device', 'show', 'a-4k-1')).out.tags, ['pilot', 'region:north'], 'a refused change changes nothing');
    const api400 = await api('POST', '/v1/devices/a-4k-1/tags', { add: ['ok', '-bad'] });
    t.same(api400, { status: 400, body: { error: 'bad-request', message: '"-bad" is not a valid tag: letters and digits, and . _ : - after the first character' } });
    const api409 = await api('POST', '/v1/devices/a-4k-1/tags', { add: Array.from({ length: 31 }, (_, i) => `t${i}`) });
    t.match(api409, { status: 409, body: { error: 'too-many-tags' } });
    t.equal((await ctl('tag', 'a-4k-1')).code, 2, 'no tag given');
  });

  t.test('device list --where: every kind of field, through the real Informs and keepalives', async (t) => {
    t.same(await ids('--where', "productClass = 'STB-4K'"), ['a-4k-1', 'a-4k-2']);
    t.same(await ids('--where', "softwareVersion < '3.10'"), ['a-4k-1', 'b-hd-1'], '3.9.2 and 2.1.0 are older than 3.10');
    t.same(await ids('--where', "softwareVersion >= '3.10'"), ['a-4k-2']);
    t.same(await ids('--where', 'online'), ['a-4k-1']);
    t.same(await ids('--where', 'NOT online'), ['a-4k-2', 'b-hd-1', 'c-new']);
    t.same(await ids('--online', '--where', "tag = 'pilot'"), ['a-4k-1']);
    t.same(await ids('--where', 'behindNat'), ['a-4k-1'], 'its connection-request URL is not where it calls from');
    t.same(await ids('--where', "natId = '127.0.0.1'"), ['a-4k-1']);
    t.same(await ids('--where', 'lastInform > now() - 1h'), ['a-4k-1', 'a-4k-2', 'b-hd-1']);
    t.same(await ids('--where', 'NOT lastInform > now() - 1h'), ['c-new'], 'never informed: not after anything');
    t.same(await ids('--where', 'lastSeen > now() - 1h'), ['a-4k-1']);
    t.same(await ids('--where', "param('InternetGatewayDevice.DeviceInfo.SoftwareVersion') LIKE '3.*'"), ['a-4k-1', 'a-4k-2']);
    t.same(await ids('--where', "tag IN ('pilot', 'x') OR oui = 'nope'"), ['a-4k-1']);
    t.same(await ids('--where', "id = ''' OR ''1''=''1'"), [], 'an injection attempt is a value like any other');
    const table = await ctl('device', 'list', '--where', "tag = 'nobody'");
    t.equal(table.stdout, 'ID  ONLINE  BINDING  NAT ID  LAST SEEN  TAGS\n', 'nothing matches: the header alone');

    const bad = await ctl('device', 'list', '--where', "productClass = 'STB-4K' AND softwareVersion <");
    t.equal(bad.code, 2, 'a mistake in the selector is a usage error');
    t.equal(bad.stderr, `stbctl: option '--where <expr>' argument 'productClass = 'STB-4K' AND softwareVersion <' is invalid. where: column 46: expected a value after '<'; see 'stbctl device list --help'\n`);
  });

  t.test('the API: ?where=, /v1/device-ids in keyset pages, errors with their column', async (t) => {
    const q = (where: string, extra = '') => `?where=${encodeURIComponent(where)}${extra}`;
    const listed = await api('GET', `/v1/devices${q("tag = 'pilot'")}`);
    t.equal(listed.status, 200);
    t.match(listed.body, { devices: [{ id: 'a-4k-1', online: true, tags: ['pilot', 'region:north'] }], next: null });
    const bad = await api('GET', `/v1/devices${q("id = '' OR 1=1 --'")}`);
    t.same(bad, { status: 400, body: { error: 'bad-selector', message: "where: column 12: expected a condition (a field such as productClass, tag, online or param('Device.X')), got '1'", column: 12 } });
    t.equal((await api('GET', `/v1/device-ids${q('x'.repeat(5000))}`)).status, 400, 'a selector is bounded in length');

    const pages: { ids: string[]; next: string | null }[] = [];
    let after = '';
    for (;;) {
      const r = await api('GET', `/v1/device-ids${q("productClass LIKE 'STB-*'", `&limit=2${after ? `&after=${after}` : ''}`)}`);
      t.equal(r.status, 200);
      pages.push(r.body);
      if (r.body.next === null) break;
      after = encodeURIComponent(r.body.next);
    }
    t.same(pages, [
      { ids: ['a-4k-1', 'a-4k-2'], next: 'a-4k-2' },
      { ids: ['b-hd-1'], next: 'c-new' },
      { ids: [], next: null },
    ], 'each page examines two devices; the last window is short');
    t.same((await api('GET', '/v1/device-ids?online=true')).body, { ids: ['a-4k-1'], next: null });
  });

  t.test('bulk: tag --where, task commands --where, paging past one page', async (t) => {
    const r = await ctl('tag', '--where', "productClass = 'STB-4K'", 'fw-beta');
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout, '2 devices matched: 2 changed, 0 refused\n');
    t.same((await json('tag', '--where', "productClass = 'STB-4K'", 'fw-beta')).out, { matched: 2, changed: 0, refused: 0, refusals: [] }, 'again: nothing to change');
    const none = await ctl('untag', '--where', "tag = 'nobody'", 'fw-beta');
    t.equal(none.code, 1);
    t.equal(none.stderr, `stbctl: no device matches --where "tag = 'nobody'"\n`);

    const queued = await json('reboot', '--where', "tag = 'fw-beta' AND softwareVersion >= '3.10'", '--idempotency-key', 'sel-1');
    t.equal(queued.code, 0, queued.stderr);
    t.match(queued.out, { total: 1, failed: 0, tasks: [{ device: 'a-4k-2', status: 'queued' }] });
    const online = await json('reboot', '--all-online', '--idempotency-key', 'sel-1');
    t.match(online.out, { total: 1, tasks: [{ device: 'a-4k-1' }] }, '--all-online pages the same way');
    const empty = await ctl('reboot', '--where', "tag = 'nobody'");
    t.equal(empty.code, 1);
    t.equal(empty.stderr, `stbctl: no device matches --where "tag = 'nobody'"\n`);

    // 1,200 more devices: a selection over more than one page of 1,000, for tags and for tasks.
    const csv = `id\n${Array.from({ length: 1200 }, (_, i) => `bulk-${String(i).padStart(4, '0')}`).join('\n')}\n`;
    const imported = await fetch(`${daemon.url}/v1/devices/import`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv' }, body: csv });
    t.equal(imported.status, 201);
    const tagged = await ctl('tag', '--where', "id LIKE 'bulk-*'", 'batch-7');
    t.equal(tagged.stdout, '1200 devices matched: 1200 changed, 0 refused\n');
    t.same((await json('device', 'show', 'bulk-1199')).out.tags, ['batch-7']);
    const bulk = await json('get', '--where', "tag = 'batch-7' AND id >= 'bulk-0100'", `${IGD}DeviceInfo.SoftwareVersion`);
    t.equal(bulk.code, 0, bulk.stderr);
    t.match(bulk.out, { total: 1100, failed: 0 });
    t.equal(new Set((bulk.out.tasks as { device: string }[]).map((x) => x.device)).size, 1100, 'each device once');
    t.equal(bulk.out.tasks[0].device, 'bulk-0100');
    const untagged = await json('untag', '--where', "tag = 'batch-7' AND id < 'bulk-0010'", 'batch-7');
    t.same(untagged.out, { matched: 10, changed: 10, refused: 0, refusals: [] });
    t.equal((await ids('--where', "tag = 'batch-7'")).length, 1190);
  });
});
