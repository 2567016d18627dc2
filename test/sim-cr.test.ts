import { request } from 'node:http';
import t from 'tap';
import { answerChallenge } from '../src/http-digest.js';
import { encodeConnectionRequest, type ConnectionRequest } from '../src/management/udp-connection-request.js';
import { Simulator } from '../src/sim/index.js';
import { UdpPeer } from './helpers/udp.js';

// Nothing listens there: sessions fail at once (and are retried much later), which is all these tests need.
const NO_ACS = 'http://127.0.0.1:9/';

function get(port: number, authorization?: string): Promise<{ status: number; challenge: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', method: 'GET', headers: authorization ? { authorization } : {} }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, challenge: res.headers['www-authenticate'] }));
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('UDP connection requests', async (t) => {
  const sim = new Simulator({ acsUrl: NO_ACS, bootInform: false, dropCr: 2 });
  await sim.start();
  t.teardown(() => sim.stop());
  const device = sim.devices[0]!;
  const port = device.crPort!;
  const password = device.credentials.crPassword;
  const peer = await UdpPeer.open();
  t.teardown(() => peer.close());
  let ts = 1_700_000_000;
  let id = 1;
  const cr = (over: Partial<ConnectionRequest> = {}, pw = password) =>
    encodeConnectionRequest({ ts: ts++, id: id++, un: device.credentials.crUsername, cn: 'abcdef', ...over }, pw, '127.0.0.1', port);

  t.test('--drop-cr N drops exactly the first N', async (t) => {
    for (let i = 0; i < 2; i++) {
      const dropped = sim.waitFor('cr-dropped');
      await peer.send(cr(), port);
      t.same(await dropped, { device: device.id, why: 'drop-cr' });
    }
    const accepted = sim.waitFor('cr-accepted');
    const session = sim.waitFor('session-start');
    await peer.send(cr(), port);
    t.same(await accepted, { device: device.id, transport: 'udp' });
    const s = await session;
    t.ok(s.events.some((e) => e.code === '6 CONNECTION REQUEST'), 'a session with 6 CONNECTION REQUEST');
    t.ok(s.events.some((e) => e.code === '1 BOOT'), 'carrying the boot events held back by bootInform: false');
    t.equal(sim.stats.crDropped, 2);
    t.equal(sim.stats.crAccepted, 1);
    const ended = await sim.waitFor('session-end');
    t.equal(ended.ok, false, 'no ACS there');
    t.match(ended.error, /ECONNREFUSED/);
  });

  t.test('replays, bad signatures, wrong usernames, garbage', async (t) => {
    const datagram = cr();
    let accepted = sim.waitFor('cr-accepted');
    await peer.send(datagram, port);
    await accepted;
    const replay = sim.waitFor('cr-rejected');
    await peer.send(datagram, port);
    t.match(await replay, { device: device.id, transport: 'udp', reason: 'repeated-id' });

    const stale = sim.waitFor('cr-rejected');
    await peer.send(cr({ ts: 1_600_000_000 }), port);
    t.match(await stale, { reason: 'stale-ts' });

    const badSig = sim.waitFor('cr-rejected');
    await peer.send(cr({}, 'not-the-password'), port);
    t.match(await badSig, { reason: 'bad-signature' });

    const badUser = sim.waitFor('cr-rejected');
    await peer.send(cr({ un: 'someone-else' }), port);
    t.match(await badUser, { reason: 'bad-username' });

    const garbage = sim.waitFor('cr-rejected');
    await peer.send(Buffer.from('hello'), port);
    t.match(await garbage, { reason: 'bad-format' });

    accepted = sim.waitFor('cr-accepted');
    await peer.send(cr(), port);
    await accepted;
    t.match(sim.stats.crRejected, { 'repeated-id': 1, 'stale-ts': 1, 'bad-signature': 1, 'bad-username': 1, 'bad-format': 1 });
    t.equal(sim.stats.crAccepted, 3);
  });

  t.test('the ACS can change the CR credentials', async (t) => {
    device.tree.setValues([{ name: 'InternetGatewayDevice.ManagementServer.ConnectionRequestPassword', value: 'new-pw' }], 'k');
    const rejected = sim.waitFor('cr-rejected');
    await peer.send(cr(), port);
    t.match(await rejected, { reason: 'bad-signature' });
    const accepted = sim.waitFor('cr-accepted');
    await peer.send(cr({}, 'new-pw'), port);
    await accepted;
  });
});

t.test('--loss drops connection requests before validation', async (t) => {
  const sim = new Simulator({ acsUrl: NO_ACS, bootInform: false, loss: 0.5, random: () => 0.2 });
  await sim.start();
  t.teardown(() => sim.stop());
  const device = sim.devices[0]!;
  const peer = await UdpPeer.open();
  t.teardown(() => peer.close());
  const dropped = sim.waitFor('cr-dropped');
  await peer.send(encodeConnectionRequest({ ts: 1, id: 1, un: device.id, cn: 'x' }, device.credentials.crPassword, '127.0.0.1', device.crPort!), device.crPort!);
  t.same(await dropped, { device: device.id, why: 'loss' });
});

t.test('HTTP connection requests (--http-cr): Digest, then a session', async (t) => {
  const sim = new Simulator({ acsUrl: NO_ACS, bootInform: false, httpCr: true, count: 2, dataModel: 'mixed', prefix: 'h-' });
  await sim.start();
  t.teardown(() => sim.stop());
  const device = sim.device('h-0002')!;
  t.equal(device.model, 'tr181');
  const port = device.crPort!;
  t.equal(device.tree.value('Device.ManagementServer.ConnectionRequestURL'), `http://127.0.0.1:${port}/`, 'the URL names the CR port');

  const first = await get(port);
  t.equal(first.status, 401);
  t.match(first.challenge, /^Digest realm="stbsim", qop="auth", algorithm=MD5, nonce="[0-9a-f]+"$/);

  const wrong = sim.waitFor('cr-rejected');
  const refused = await get(port, answerChallenge(first.challenge!, { username: device.credentials.crUsername, password: 'wrong' }, 'GET', '/'));
  t.equal(refused.status, 401);
  t.same(await wrong, { device: device.id, transport: 'http', reason: 'bad-auth' });

  const again = await get(port);
  const authorization = answerChallenge(again.challenge!, { username: device.credentials.crUsername, password: device.credentials.crPassword }, 'GET', '/')!;
  const accepted = sim.waitFor('cr-accepted');
  const session = sim.waitFor('session-start', (s) => s.device === device.id);
  t.equal((await get(port, authorization)).status, 200);
  t.same(await accepted, { device: device.id, transport: 'http' });
  t.ok((await session).events.some((e) => e.code === '6 CONNECTION REQUEST'));
  t.equal((await get(port, authorization)).status, 401, 'the same Authorization cannot be replayed');
  t.equal(sim.stats.crRejected['bad-auth'], 2);
});
