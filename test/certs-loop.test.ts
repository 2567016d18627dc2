import { readFileSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import t from 'tap';
import { Simulator } from '../src/sim/index.js';
import { run, spawnDaemon, STBCTL, writeTestConfig } from './helpers/daemon.js';

const sameSerial = (a: string, b: string) => BigInt(`0x${a}`) === BigInt(`0x${b}`);

/**
 * Seed 002 over loopback with nothing stood in: the simulated STB fetches its certificate from the real
 * daemon's HTTPS endpoint (not found → acknowledgement → the builtin CA issues → valid, key unwrapped and
 * used once), the media system verifies what it presented; then the renewal falls due, the daemon sends
 * the "certificate needs update" notice through a UDP connection request and a CWMP session, the STB's
 * SetParameterValuesResponse acknowledges it, the daemon renews, and the STB fetches version 2.
 */
t.test('fetch, verify, renewal notice, acknowledgement, renewed version', async (t) => {
  const dir = t.testdir();
  // The shortest lifetime the config takes, renewal due after 1 % of it (0.6 s), no jitter.
  const config = writeTestConfig(dir, {
    cwmp: { connection_request_retry: '200ms', connection_request_timeout: '10s' },
    certs: { validity: '1m', renew_at_percent: 1, renew_jitter_percent: 0 },
  });
  const daemon = await spawnDaemon(config);
  t.teardown(() => daemon.stop('SIGKILL'));
  const ctl = (...args: string[]) => run(STBCTL, ['--config', config, '--api', daemon.url, ...args]);

  // One TR-098 and one TR-181 STB: the notice goes under each one's own root.
  const sim = new Simulator({
    count: 2,
    prefix: 'cert-',
    dataModel: 'mixed',
    acsUrl: `http://127.0.0.1:${daemon.cwmpPort}/`,
    stun: { host: '127.0.0.1', port: daemon.stunPort },
    keepaliveIntervalS: 1,
    certsUrl: `https://127.0.0.1:${daemon.certsPort}`,
    certNoticeDelayMs: 50,
  });
  writeFileSync(join(dir, 'devices.csv'), sim.csv());
  t.equal((await ctl('devices', 'import', join(dir, 'devices.csv'))).code, 0);
  await sim.start();
  t.teardown(() => sim.stop());
  await Promise.all(sim.devices.map((d) => sim.waitFor('stun-binding', (e) => e.device === d.id, 10_000)));
  await sim.idle();

  const ids = sim.devices.map((d) => d.id);
  t.same(ids, ['cert-0001', 'cert-0002']);
  // Subscribed before anything happens: the renewal falls due 0.6 s after the first issue.
  const notices = ids.map((id) => sim.waitFor('cert-update-notice', (e) => e.device === id, 20_000));
  const renewed = ids.map((id) => sim.waitFor('cert', (e) => e.device === id && e.status === 'valid' && e.version >= 2, 20_000));

  const first = await sim.fetchCertificates();
  for (const [i, r] of first.entries()) {
    t.match(r, { status: 'valid', certId: `media-${ids[i]}`, version: 1 }, `${ids[i]}: not found, acknowledged, issued, served`);
  }
  const r = first[0]!;
  if (r.status !== 'valid') return;

  // What the STB presented is what the media system checks with the proxy (seed 002 step 5).
  const media = readFileSync(join(dir, 'media.token'), 'utf8').trim();
  const verify = (body: unknown) =>
    fetch(`${daemon.url}/v1/certificates/media-cert-0001/verify`, { method: 'POST', headers: { authorization: `Bearer ${media}`, 'content-type': 'application/json' }, body: JSON.stringify(body) }).then(async (res) => ({ status: res.status, body: await res.json() }));
  t.match(await verify(r.presented), { status: 200, body: { valid: true } }, 'the media system lets it in');
  t.match(await verify({ ...r.presented, challenge: 'another challenge' }), { status: 200, body: { valid: false, reason: 'mismatch' } }, 'a signature over something else: refused');

  const shown = JSON.parse((await ctl('certs', 'show', 'media-cert-0001', '--json')).stdout);
  t.equal(shown.device, 'cert-0001');
  t.ok(sameSerial(new X509Certificate(r.presented.certificatePem).serialNumber, shown.versions[0].serial), 'the certificate the STB got is version 1 of the store');
  t.equal(shown.versions[0].reason, 'issue');

  // The renewal falls due: notice → UDP connection request → session → SetParameterValuesResponse → renewal → fetch.
  t.same(
    (await Promise.all(notices)).map((n) => n.certId),
    ['media-cert-0001', 'media-cert-0002'],
  );
  const v2 = await Promise.all(renewed);
  t.ok(sim.stats.crAccepted >= 2, 'the notices came through UDP connection requests');
  for (const [i, e] of v2.entries()) {
    if (e.status !== 'valid') continue;
    t.equal(e.certId, `media-${ids[i]}`);
    // Renewal falls due every 0.6 s here: by now the STB may be on a later version still.
    t.ok((sim.devices[i]!.certificate?.version ?? 0) >= e.version, 'the device remembers the version, not the key');
    t.not(e.presented.certificatePem, first[i]!.status === 'valid' ? first[i]!.presented.certificatePem : '', 'a new certificate');
  }
  t.ok(
    daemon.logs.some((l) => l.includes('certificate needs update: notice sent to the STB')),
    'the daemon logged its notice',
  );
  const history = JSON.parse((await ctl('certs', 'show', 'media-cert-0002', '--json')).stdout);
  t.match(history.versions[1], { version: 2, reason: 'renewal' });
  const roots = sim.devices.map((d) => d.tree.value(`${d.paths.root}X_STBD_Certificate.UpdateRequired`));
  t.same(roots, ['media-cert-0001', 'media-cert-0002'], 'each STB got the notice under its own data model');
});
