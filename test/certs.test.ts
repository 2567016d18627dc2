import { createPrivateKey, sign, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { buildCertificate, newKeyPair, newSerial } from '../src/ca/x509.js';
import { unwrapKey, type WrappedKey } from '../src/certs/key-wrap.js';
import { loadConfig } from '../src/config/load.js';
import { startDaemon } from '../src/daemon.js';
import { createLogger } from '../src/log/logger.js';
import { postHttps, TestStb } from './helpers/certs.js';
import { type ConfigOverrides, writeTestConfig } from './helpers/daemon.js';
import { type InProcessDaemon, ManualClock, startInProcess, until } from './helpers/in-process.js';
import { faultXml, informXml, responseXml, TestCpe } from './helpers/test-cpe.js';

const DAY = 86_400_000;
const CERT_PARAM = 'InternetGatewayDevice.X_STBD_Certificate.UpdateRequired';

async function setup(t: { testdir(): string; teardown(fn: () => unknown): void }, overrides: ConfigOverrides = {}) {
  const dir = t.testdir();
  const d = await startInProcess(dir, overrides);
  t.teardown(() => d.daemon.stop());
  for (const id of ['stb-1', 'stb-2']) {
    const res = await d.api('POST', '/v1/devices', { json: { id, cwmpPassword: `${id}-pw` } });
    if (res.status !== 201) throw new Error(JSON.stringify(res.body));
  }
  const port = d.daemon.certsEndpoint.port;
  const stb = new TestStb(port, 'stb-1', 'stb-1-pw', () => d.clock.now());
  const stb2 = new TestStb(port, 'stb-2', 'stb-2-pw', () => d.clock.now());
  const mediaToken = readFileSync(join(dir, 'media.token'), 'utf8').trim();
  const verify = (id: string, json: unknown, token: string | null = mediaToken) => d.api('POST', `/v1/certificates/${encodeURIComponent(id)}/verify`, { json, token });
  return { d, dir, port, stb, stb2, mediaToken, verify };
}

const status = async (d: InProcessDaemon, id: string) => (await d.api('GET', `/v1/certificates/${encodeURIComponent(id)}`)).body?.status as string | undefined;
const metricsText = async (d: InProcessDaemon) => (await fetch(`${d.url}/metrics`)).text();
const unwrap = (stb: TestStb, certId: string, version: number, nonce: string, key: WrappedKey) => unwrapKey(stb.secret, { stbId: stb.stbId, certId, version, nonce }, key);
const builtinCaPem = (dir: string) => {
  const db = new Database(join(dir, 'stbd.db'), { readonly: true });
  try {
    return (db.prepare("SELECT cert_pem FROM ca WHERE name = 'builtin'").get() as { cert_pem: string }).cert_pem;
  } finally {
    db.close();
  }
};

t.test('seed 002 steps 2–4: not-found → acknowledgement of the STB’s derived id → the CA issues → valid, the key wrapped for the STB', async (t) => {
  const { d, dir, stb } = await setup(t);
  const first = await stb.request('media-stb-1');
  t.same([first.status, first.body], [200, { status: 'not-found' }]);

  const ack = await stb.ack('media-stb-1');
  t.equal(ack.status, 200);
  t.match(ack.body, { status: 'issued', certId: 'media-stb-1', version: 1, notAfter: new Date(d.clock.now() + 365 * DAY).toISOString() });

  const served = await stb.request('media-stb-1');
  t.equal(served.status, 200);
  t.match(served.body, { status: 'valid', certId: 'media-stb-1', version: 1, notAfter: ack.body.notAfter, updatePending: false, key: { alg: 'A256GCM-HKDF-SHA256' } });
  t.same(Object.keys(served.body.key).sort(), ['alg', 'ciphertext', 'iv', 'tag']);
  t.notMatch(served.text, /PRIVATE KEY|BEGIN CERTIFICATE/, 'nothing in clear, even inside TLS');
  const info = unwrap(stb, 'media-stb-1', 1, served.nonce, served.body.key);
  const cert = new X509Certificate(info.certificatePem);
  t.ok(cert.checkPrivateKey(createPrivateKey(info.privateKeyPem)), 'the key is the certificate’s');
  t.equal(cert.subject, 'CN=stb-1');
  const ca = new X509Certificate(builtinCaPem(dir));
  t.ok(cert.verify(ca.publicKey), 'issued by the builtin CA');

  // The wrapping is bound to the secret, the nonce, the version and the ids.
  t.throws(() => unwrapKey('wrong-pw', { stbId: 'stb-1', certId: 'media-stb-1', version: 1, nonce: served.nonce }, served.body.key));
  t.throws(() => unwrap(stb, 'media-stb-1', 1, 'another-nonce-0123456789', served.body.key));
  t.throws(() => unwrap(stb, 'media-stb-1', 2, served.nonce, served.body.key));
  t.throws(() => unwrapKey('stb-1-pw', { stbId: 'stb-2', certId: 'media-stb-1', version: 1, nonce: served.nonce }, served.body.key));
  const again = await stb.request('media-stb-1');
  t.not(again.body.key.ciphertext, served.body.key.ciphertext, 'each answer has its own wrapping key and IV');

  // The server certificate: issued by the builtin CA for the endpoint.
  t.equal(served.peer?.subject, 'CN=stbd certificate proxy');
  t.ok(served.peer?.verify(ca.publicKey), 'the endpoint’s certificate is signed by the builtin CA');

  // An acknowledgement of a valid certificate fetches nothing more.
  t.match((await stb.ack('media-stb-1')).body, { status: 'issued', version: 1 });
  const shown = await d.api('GET', '/v1/certificates/media-stb-1');
  t.match(shown.body, { id: 'media-stb-1', device: 'stb-1', version: 1, status: 'valid', serial: cert.serialNumber.toLowerCase(), noticeTask: null });
  t.match(shown.body.versions, [{ version: 1, reason: 'issue', serial: cert.serialNumber.toLowerCase() }]);
  t.equal(shown.body.versions.length, 1);

  const metrics = await metricsText(d);
  t.match(metrics, /stbd_certificate_requests_total\{status="not-found"\} 1/);
  t.match(metrics, /stbd_certificate_requests_total\{status="valid"\} 2/);
  t.match(metrics, /stbd_certificate_requests_total\{status="issued"\} 2/);
  t.match(metrics, /stbd_certificates\{status="valid"\} 1/);
  t.match(metrics, /stbd_certificates\{status="revoked"\} 0/);
  t.match(d.logText(), /"certs":"127\.0\.0\.1:\d+".*"msg":"stbd started"/);
});

t.test('STB authentication: wrong secret, unknown STB, replayed nonce, stale timestamps (±5 minutes), another STB’s certificate', async (t) => {
  const { d, stb, stb2 } = await setup(t);
  await d.api('POST', '/v1/certificates', { json: { device: 'stb-1', id: 'c1' } });
  const failed = [401, { status: 'auth-failed' }];
  const answer = (r: { status: number; body: unknown }) => [r.status, r.body];

  t.same(answer(await stb.request('c1', { secret: 'not-the-password' })), failed, 'wrong secret');
  t.same(answer(await stb.ack('c1', { secret: 'not-the-password' })), failed, 'wrong secret on the acknowledgement');
  t.same(answer(await stb.request('c1', { stbId: 'nobody' })), failed, 'unknown STB');
  t.same(answer(await stb.request('c1', { secret: 'stb-2-pw' })), failed, 'another STB’s secret');

  const nonce = 'nonce-used-once-0001';
  t.equal((await stb.request('c1', { nonce })).body.status, 'valid');
  t.same(answer(await stb.request('c1', { nonce })), failed, 'replayed nonce');
  t.same(answer(await stb.ack('c1', { nonce })), failed, 'replayed on the other route');
  t.equal((await stb2.request('c1', { nonce })).body.status, 'not-found', 'nonces are per STB; stb-2 does not see stb-1’s certificate');
  t.same(answer(await stb2.ack('c1')), [404, { status: 'not-found', message: 'no certificate "c1" for this STB' }], 'nor can it take it over');

  const now = Math.floor(d.clock.now() / 1000);
  t.equal((await stb.request('c1', { timestamp: now - 300 })).body.status, 'valid', '5 minutes behind: accepted');
  t.equal((await stb.request('c1', { timestamp: now + 300 })).body.status, 'valid', '5 minutes ahead: accepted');
  t.same(answer(await stb.request('c1', { timestamp: now - 301 })), failed, 'older than 5 minutes');
  t.same(answer(await stb.request('c1', { timestamp: now + 301 })), failed, 'more than 5 minutes ahead');

  // A MAC in capitals is the same MAC.
  const p = stb.proof('c1');
  t.equal((await stb.send('/v1/certificate', { ...p, mac: p.mac.toUpperCase() })).body.status, 'valid');
  // A tampered field breaks the MAC.
  const q = stb.proof('c1');
  t.same(answer(await stb.send('/v1/certificate', { ...q, certId: 'c2' })), failed);

  const log = d.logText();
  for (const reason of ['bad-mac', 'unknown-stb', 'replayed', 'stale']) t.match(log, new RegExp(`"reason":"${reason}".*STB request refused: authentication failed`), reason);
  t.match(log, /STB acknowledgement refused: authentication failed/);
  t.notMatch(log, /stb-1-pw|not-the-password/, 'no secret in the log');
  t.match(await metricsText(d), /stbd_certificate_requests_total\{status="auth-failed"\} 9/);
});

t.test('a tampered wrapped key does not unwrap', async (t) => {
  const { d, stb } = await setup(t);
  await d.api('POST', '/v1/certificates', { json: { device: 'stb-1', id: 'c1' } });
  const r = await stb.request('c1');
  const key = r.body.key as WrappedKey;
  t.ok(unwrap(stb, 'c1', 1, r.nonce, key).privateKeyPem.includes('PRIVATE KEY'));
  const flip = (b64: string, at: number) => {
    const b = Buffer.from(b64, 'base64');
    b[at] = (b[at] as number) ^ 0x01;
    return b.toString('base64');
  };
  t.throws(() => unwrap(stb, 'c1', 1, r.nonce, { ...key, ciphertext: flip(key.ciphertext, 10) }), 'a flipped ciphertext byte');
  t.throws(() => unwrap(stb, 'c1', 1, r.nonce, { ...key, tag: flip(key.tag, 0) }), 'a flipped tag byte');
  t.throws(() => unwrap(stb, 'c1', 1, r.nonce, { ...key, iv: flip(key.iv, 3) }), 'a flipped IV byte');
});

t.test('bad input: 400 (or 413/415) with the field named, and nothing changes', async (t) => {
  const { d, stb } = await setup(t);
  const good = stb.proof('new-cert');
  const cases: [string, unknown, RegExp][] = [
    ['missing mac', { ...good, mac: undefined }, /^mac: is required$/],
    ['unknown field', { ...good, extra: 1 }, /^extra: is not a known field$/],
    ['timestamp as text', { ...good, timestamp: String(good.timestamp) }, /^timestamp: must be integer$/],
    ['fractional timestamp', { ...good, timestamp: good.timestamp + 0.5 }, /^timestamp: must be integer$/],
    ['short nonce', { ...good, nonce: 'short' }, /^nonce: must NOT have fewer than 16 characters$/],
    ['nonce with |', { ...good, nonce: 'abcdefgh|ijklmnopq' }, /^nonce: expected visible ASCII/],
    ['mac not hex', { ...good, mac: 'z'.repeat(64) }, /^mac: expected 64 hexadecimal/],
    ['empty certId', { ...good, certId: '' }, /^certId: must NOT have fewer than 1 characters$/],
    ['certId with a control character', { ...good, certId: 'a\u0001b' }, /^certId: contains characters that are not allowed/],
    ['stbId too long', { ...good, stbId: 'x'.repeat(257) }, /^stbId: must NOT have more than 256 characters$/],
    ['an array', [good], /^body: must be object$/],
  ];
  for (const path of ['/v1/certificate', '/v1/certificate/ack']) {
    for (const [name, body, message] of cases) {
      const r = await postHttps(stb.port, path, { json: body });
      t.equal(r.status, 400, `${path}: ${name}`);
      t.equal(r.body.error, 'bad-request');
      t.match(r.body.message, message, `${path}: ${name}`);
    }
    t.match(await postHttps(stb.port, path, { raw: '{"stbId": ', contentType: 'application/json' }), { status: 400, body: { error: 'bad-request' } }, 'not JSON');
    t.match(await postHttps(stb.port, path, { raw: JSON.stringify(good), contentType: 'text/plain' }), { status: 415, body: { error: 'unsupported-media-type' } });
    t.match(await postHttps(stb.port, path, { json: { ...good, nonce: 'n'.repeat(20_000) } }), { status: 413, body: { error: 'too-large' } });
    t.match(await postHttps(stb.port, path, { raw: '' }), { status: 400 }, 'no body');
  }
  t.match(await postHttps(stb.port, '/v1/other', { json: good }), { status: 404, body: { error: 'not-found' } });
  t.match(await postHttps(stb.port, '/v1/certificate', { method: 'GET' }), { status: 404 });

  // The admin routes.
  const bad: [string, string, unknown, number, string][] = [
    ['POST', '/v1/certificates', { device: 'nope' }, 400, 'unknown-device'],
    ['POST', '/v1/certificates', { device: 'stb-1', extra: true }, 400, 'bad-request'],
    ['POST', '/v1/certificates', { device: 'stb-1', id: '' }, 400, 'bad-request'],
    ['POST', '/v1/certificates', { device: 'stb-1', id: ' padded' }, 400, 'bad-request'],
    ['POST', '/v1/certificates', {}, 400, 'bad-request'],
    ['GET', '/v1/certificates?limit=0', undefined, 400, 'bad-request'],
    ['GET', '/v1/certificates?foo=1', undefined, 400, 'bad-request'],
    ['GET', '/v1/certificates/nope', undefined, 404, 'not-found'],
    ['POST', '/v1/certificates/nope/renew', undefined, 404, 'not-found'],
    ['POST', '/v1/certificates/nope/revoke', undefined, 404, 'not-found'],
    ['POST', '/v1/certificates/nope/verify', { certificatePem: 'x', challenge: 'y' }, 400, 'bad-request'],
    ['POST', '/v1/certificates/nope/verify', { certificatePem: 'x', challenge: 'y', signature: 'not base64!' }, 400, 'bad-request'],
  ];
  for (const [method, path, json, code, error] of bad) {
    const r = await d.api(method, path, json === undefined ? {} : { json });
    t.same([r.status, r.body.error], [code, error], `${method} ${path} ${JSON.stringify(json)}`);
  }
  t.same((await d.api('GET', '/v1/certificates')).body, { certificates: [], next: null }, 'nothing was stored');
  t.match(await metricsText(d), /stbd_certificate_requests_total\{status="bad-request"\} \d+/);

  // A taken id.
  t.equal((await d.api('POST', '/v1/certificates', { json: { device: 'stb-1', id: 'taken' } })).status, 201);
  t.match(await d.api('POST', '/v1/certificates', { json: { device: 'stb-2', id: 'taken' } }), { status: 409, body: { error: 'conflict' } });
  t.match((await d.api('GET', '/v1/certificates/taken')).body, { device: 'stb-1', version: 1 });
});

t.test('admin routes: issue with a generated id, list in pages and by device, show with versions, renew, revoke', async (t) => {
  const { d } = await setup(t);
  const made = await d.api('POST', '/v1/certificates', { json: { device: 'stb-1' } });
  t.equal(made.status, 201);
  t.match(made.body, { id: /^cert-[A-Za-z0-9_-]{16}$/, device: 'stb-1', version: 1, status: 'valid', serial: /^[0-9a-f]+$/, noticeTask: null });
  t.same(Object.keys(made.body), ['id', 'device', 'version', 'status', 'serial', 'notBefore', 'notAfter', 'renewAt', 'createdAt', 'updatedAt', 'noticeTask']);
  for (const id of ['a-1', 'a-2', 'b-1']) await d.api('POST', '/v1/certificates', { json: { device: id.startsWith('a') ? 'stb-1' : 'stb-2', id } });
  const p1 = await d.api('GET', '/v1/certificates?limit=2');
  t.same(p1.body.certificates.map((c: { id: string }) => c.id), ['a-1', 'a-2']);
  t.equal(p1.body.next, 'a-2');
  const p2 = await d.api('GET', `/v1/certificates?limit=2&after=${p1.body.next}`);
  t.same(p2.body.certificates.map((c: { id: string }) => c.id), ['b-1', made.body.id]);
  const p3 = await d.api('GET', `/v1/certificates?limit=2&after=${p2.body.next}`);
  t.same(p3.body, { certificates: [], next: null });
  const ofDevice = await d.api('GET', '/v1/certificates?device=stb-1&after=a-1');
  t.same(ofDevice.body.certificates.map((c: { id: string }) => c.id), ['a-2', made.body.id]);
  t.equal(ofDevice.body.next, null);

  const renewed = await d.api('POST', '/v1/certificates/a-1/renew');
  t.match(renewed, { status: 200, body: { id: 'a-1', version: 2, status: 'valid' } });
  const shown = await d.api('GET', '/v1/certificates/a-1');
  t.match(shown.body.versions, [{ version: 1, reason: 'issue' }, { version: 2, reason: 'renewal' }]);
  t.not(shown.body.versions[0].serial, shown.body.versions[1].serial);

  const revoked = await d.api('POST', '/v1/certificates/a-1/revoke');
  t.match(revoked, { status: 200, body: { id: 'a-1', status: 'revoked' } });
  t.match(await d.api('POST', '/v1/certificates/a-1/revoke'), { status: 200, body: { status: 'revoked' } }, 'revoking again changes nothing');
  t.match(await d.api('POST', '/v1/certificates/a-1/renew'), { status: 409, body: { error: 'revoked' } });
  t.match(await metricsText(d), /stbd_certificates\{status="revoked"\} 1/);

  // A revocation while the CA is issuing the next version is final: the renewal is dropped.
  const racing = d.daemon.certs.renew('a-2');
  const revoking = d.daemon.certs.revoke('a-2');
  await t.rejects(racing, { code: 'revoked' });
  t.match(await revoking, { status: 'revoked' });
  t.match(await d.api('GET', '/v1/certificates/a-2'), { body: { status: 'revoked', version: 1 } });
});

t.test('revocation: the STB gets revoked, its acknowledgement is refused, the media system hears revoked', async (t) => {
  const { d, stb, verify } = await setup(t);
  await d.api('POST', '/v1/certificates', { json: { device: 'stb-1', id: 'c1' } });
  const served = await stb.request('c1');
  const info = unwrap(stb, 'c1', 1, served.nonce, served.body.key);
  const presented = { certificatePem: info.certificatePem, challenge: 'login-42', signature: sign('sha256', Buffer.from('login-42'), info.privateKeyPem).toString('base64') };
  t.match((await verify('c1', presented)).body, { valid: true });
  t.equal((await d.api('POST', '/v1/certificates/c1/revoke')).body.status, 'revoked');
  t.same((await stb.request('c1')).body, { status: 'revoked' });
  t.match(await stb.ack('c1'), { status: 409, body: { status: 'revoked' } });
  t.same((await verify('c1', presented)).body, { valid: false, reason: 'revoked' });
  t.match(d.logText(), /certificate revoked/);
});

t.test('media-system verification: valid, unknown, mismatch (another certificate, a wrong signature, garbage), expired; tokens', async (t) => {
  const { d, dir, stb, verify } = await setup(t);
  await d.api('POST', '/v1/certificates', { json: { device: 'stb-1', id: 'c1' } });
  await d.api('POST', '/v1/certificates', { json: { device: 'stb-1', id: 'c2' } });
  const keyOf = async (id: string) => {
    const r = await stb.request(id);
    return unwrap(stb, id, 1, r.nonce, r.body.key);
  };
  const k1 = await keyOf('c1');
  const k2 = await keyOf('c2');
  const signed = (k: { privateKeyPem: string }, challenge: string) => sign('sha256', Buffer.from(challenge), k.privateKeyPem).toString('base64');
  const ok = { certificatePem: k1.certificatePem, challenge: 'ch-1', signature: signed(k1, 'ch-1') };
  const notAfter = (await d.api('GET', '/v1/certificates/c1')).body.notAfter;

  t.same((await verify('c1', ok)).body, { valid: true, notAfter });
  t.same((await verify('c1', ok, d.token)).body, { valid: true, notAfter }, 'the admin may verify too');
  t.same((await verify('nope', ok)).body, { valid: false, reason: 'unknown' });
  t.same((await verify('c1', { certificatePem: k2.certificatePem, challenge: 'ch-1', signature: signed(k2, 'ch-1') })).body, { valid: false, reason: 'mismatch' }, 'another certificate');
  t.same((await verify('c1', { ...ok, signature: signed(k1, 'ch-2') })).body, { valid: false, reason: 'mismatch' }, 'a signature over another challenge');
  t.same((await verify('c1', { ...ok, signature: signed(k2, 'ch-1') })).body, { valid: false, reason: 'mismatch' }, 'signed with another key');
  t.same((await verify('c1', { ...ok, certificatePem: 'garbage' })).body, { valid: false, reason: 'mismatch' }, 'not a certificate');

  // Tokens: the media token verifies and nothing else; others may not verify.
  const bss = readFileSync(join(dir, 'bss.token'), 'utf8').trim();
  t.match(await verify('c1', ok, bss), { status: 403, body: { error: 'forbidden' } });
  t.match(await verify('c1', ok, null), { status: 401 });
  t.match(await verify('c1', ok, 'x'.repeat(40)), { status: 401 });
  const media = readFileSync(join(dir, 'media.token'), 'utf8').trim();
  t.match(await d.api('GET', '/v1/certificates', { token: media }), { status: 403 });
  t.match(await d.api('GET', '/v1/devices', { token: media }), { status: 403 });

  // Past notAfter, even before the expiry deadline has run.
  d.clock.advance(366 * DAY);
  t.same((await verify('c1', ok)).body, { valid: false, reason: 'expired' });
  t.same((await stb.request('c1')).body, { status: 'expired' });
});

t.test('expiry with a moved clock: expired → acknowledgement → valid again as version 2', async (t) => {
  const { d, stb } = await setup(t, { certs: { validity: '10d', renew_at_percent: 90, renew_jitter_percent: 0 } });
  await d.api('POST', '/v1/certificates', { json: { device: 'stb-1', id: 'c1' } });
  const v1 = await stb.request('c1');
  t.equal(v1.body.version, 1);
  d.clock.advance(10 * DAY + 1000);
  t.ok(await until(d, async () => (await status(d, 'c1')) === 'expired', 1000), 'the expiry deadline ran');
  t.same((await stb.request('c1')).body, { status: 'expired' });
  const ack = await stb.ack('c1');
  t.match(ack, { status: 200, body: { status: 'issued', certId: 'c1', version: 2, notAfter: new Date(d.clock.now() + 10 * DAY).toISOString() } });
  const v2 = await stb.request('c1');
  t.match(v2.body, { status: 'valid', version: 2, updatePending: false });
  const k1 = unwrap(stb, 'c1', 1, v1.nonce, v1.body.key);
  const k2 = unwrap(stb, 'c1', 2, v2.nonce, v2.body.key);
  t.not(k2.certificatePem, k1.certificatePem);
  t.ok(new X509Certificate(k2.certificatePem).checkPrivateKey(createPrivateKey(k2.privateKeyPem)));
  t.match((await d.api('GET', '/v1/certificates/c1')).body.versions, [{ version: 1, reason: 'issue' }, { version: 2, reason: 'fetch' }]);
});

/** A CWMP session of stb-1 that answers the next RPC (the update notice) with `answer(id)`. */
async function answerNotice(d: InProcessDaemon, answer: (id: string) => string) {
  const cpe = new TestCpe(`http://127.0.0.1:${d.daemon.management.address!.port}/acs`, 'stb-1', 'stb-1-pw');
  await cpe.post(informXml({ serial: 'S1', params: { 'InternetGatewayDevice.ManagementServer.ConnectionRequestURL': 'http://127.0.0.1:1/stb-1' } }));
  const rpc = await cpe.post('');
  const { id, method } = TestCpe.rpc(rpc.body);
  const end = await cpe.post(answer(id));
  return { id, method, body: rpc.body, end };
}

t.test('renewal (seed 002 step 6): renewAt → update-pending and a notice task; the STB acknowledges in its CWMP session → version 2', async (t) => {
  const { d, stb } = await setup(t, { certs: { validity: '10d', renew_at_percent: 50, renew_jitter_percent: 0 } });
  const made = (await d.api('POST', '/v1/certificates', { json: { device: 'stb-1', id: 'c1' } })).body;
  t.equal(made.renewAt, new Date(d.clock.now() + 5 * DAY).toISOString());
  const v1 = await stb.request('c1');
  d.clock.advance(5 * DAY + 1000);
  t.ok(await until(d, async () => (await status(d, 'c1')) === 'update-pending', 1000), 'the renewal deadline ran');
  const pending = await stb.request('c1');
  t.match(pending.body, { status: 'valid', version: 1, updatePending: true }, 'still served until the STB acknowledges');
  const tasks = (await d.api('GET', '/v1/devices/stb-1/tasks')).body.tasks;
  t.equal(tasks.length, 1);
  t.match(tasks[0], { origin: 'certs', kind: 'setParameterValues', status: 'queued', request: { values: [{ name: CERT_PARAM, value: 'c1', type: 'xsd:string' }] } });
  t.equal((await d.api('GET', '/v1/certificates/c1')).body.noticeTask, tasks[0].id);

  const notice = await answerNotice(d, (id) => responseXml(id, 'SetParameterValuesResponse', '<Status>0</Status>'));
  t.equal(notice.method, 'SetParameterValues');
  t.equal(notice.id, String(tasks[0].id));
  t.match(notice.body, new RegExp(`<Name>${CERT_PARAM.replace(/\./g, '\\.')}</Name><Value xsi:type="xsd:string">c1</Value>`));
  t.ok(await until(d, async () => (await d.api('GET', '/v1/certificates/c1')).body.version === 2), 'renewed after the acknowledgement');
  const shown = (await d.api('GET', '/v1/certificates/c1')).body;
  t.match(shown, { status: 'valid', version: 2, noticeTask: null });
  t.match(shown.versions, [{ version: 1 }, { version: 2, reason: 'renewal' }]);
  const v2 = await stb.request('c1');
  t.match(v2.body, { status: 'valid', version: 2, updatePending: false });
  t.not(unwrap(stb, 'c1', 2, v2.nonce, v2.body.key).certificatePem, unwrap(stb, 'c1', 1, v1.nonce, v1.body.key).certificatePem, 'the endpoint serves the new certificate');
  t.match(d.logText(), /certificate needs update: notice sent to the STB/);
});

t.test('a notice answered with a fault: still update-pending and served until it expires; then expired, counted and logged', async (t) => {
  const { d, stb } = await setup(t, { certs: { validity: '10d', renew_at_percent: 50, renew_jitter_percent: 0 } });
  await d.api('POST', '/v1/certificates', { json: { device: 'stb-1', id: 'c1' } });
  d.clock.advance(5 * DAY + 1000);
  t.ok(await until(d, async () => (await status(d, 'c1')) === 'update-pending', 1000));
  const notice = await answerNotice(d, (id) => faultXml(id, 9005, 'Invalid parameter name'));
  t.equal(notice.method, 'SetParameterValues');
  t.ok(await until(d, () => d.logText().includes('certificate update notice not acknowledged')), 'the refusal is logged');
  t.equal(await status(d, 'c1'), 'update-pending');
  t.match((await stb.request('c1')).body, { status: 'valid', version: 1, updatePending: true });
  t.match(await metricsText(d), /stbd_certificates_expired_unacknowledged_total 0/);

  d.clock.advance(5 * DAY);
  t.ok(await until(d, async () => (await status(d, 'c1')) === 'expired', 1000));
  t.same((await stb.request('c1')).body, { status: 'expired' });
  t.match(await metricsText(d), /stbd_certificates_expired_unacknowledged_total 1/);
  t.match(d.logText(), /certificate expired: the STB never acknowledged its update notice/);
  t.match(await metricsText(d), /stbd_certificates\{status="expired"\} 1/);
});

t.test('recycling a device in the pool revokes its certificates', async (t) => {
  const { d, stb, verify } = await setup(t, { pool: { recycle_after: '1h' } });
  await d.api('POST', '/v1/certificates', { json: { device: 'stb-1', id: 'c1' } });
  const served = await stb.request('c1');
  const info = unwrap(stb, 'c1', 1, served.nonce, served.body.key);
  t.same((await d.api('PUT', '/v1/accounts/acct/devices/stb-1')).body, { result: 'registered' });
  t.equal((await d.api('DELETE', '/v1/accounts/acct/devices/stb-1')).status, 200);
  t.equal(await status(d, 'c1'), 'valid', 'in the pool it keeps its certificate');
  d.clock.advance(3_600_000);
  t.ok(await until(d, async () => (await d.api('GET', '/v1/pool')).body.entries.length === 0, 1000), 'recycled');
  t.equal(await status(d, 'c1'), 'revoked');
  t.same((await stb.request('c1')).body, { status: 'revoked' });
  const presented = { certificatePem: info.certificatePem, challenge: 'c', signature: sign('sha256', Buffer.from('c'), info.privateKeyPem).toString('base64') };
  t.same((await verify('c1', presented)).body, { valid: false, reason: 'revoked' });
});

t.test('the database holds no private key in clear (file and WAL), before and after shutdown', async (t) => {
  const { d, dir, stb } = await setup(t);
  await d.api('POST', '/v1/certificates', { json: { device: 'stb-1', id: 'c1' } });
  const r = await stb.request('c1');
  const info = unwrap(stb, 'c1', 1, r.nonce, r.body.key);
  const body = info.privateKeyPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  const der = createPrivateKey(info.privateKeyPem).export({ type: 'pkcs8', format: 'der' });
  const check = (when: string) => {
    for (const file of ['stbd.db', 'stbd.db-wal']) {
      let bytes: Buffer;
      try {
        bytes = readFileSync(join(dir, file));
      } catch {
        continue;
      }
      t.notOk(bytes.includes('PRIVATE KEY'), `${when}: ${file} has no PEM private-key header`);
      t.notOk(bytes.includes(body.slice(0, 64)), `${when}: ${file} has no part of the key's base64`);
      t.notOk(bytes.includes(body.slice(-64)), `${when}: ${file} has not the end of the key's base64`);
      t.notOk(bytes.includes(der.subarray(30, 94)), `${when}: ${file} has not the raw key bytes`);
    }
  };
  check('running');
  await d.daemon.stop();
  check('stopped');
  t.ok(readFileSync(join(dir, 'stbd.db')).includes(Buffer.from('BEGIN CERTIFICATE')), 'certificates themselves are stored in clear (they are public)');
});

t.test('[certs] tls_cert_file and tls_key_file: the endpoint presents them; a key that does not match stops the daemon', async (t) => {
  const dir = t.testdir();
  const make = async (cn: string) => {
    const keys = await newKeyPair();
    const now = new Date();
    const certPem = buildCertificate({ commonName: cn, publicKeyPem: keys.publicKeyPem, serial: newSerial(), notBefore: now, notAfter: new Date(now.getTime() + DAY), isCa: false }, { privateKeyPem: keys.privateKeyPem });
    return { certPem, keyPem: keys.privateKeyPem };
  };
  const a = await make('stb-proxy.example.net');
  const b = await make('other');
  writeFileSync(join(dir, 'server.crt'), a.certPem);
  writeFileSync(join(dir, 'server.key'), a.keyPem);
  writeFileSync(join(dir, 'other.key'), b.keyPem);
  writeFileSync(join(dir, 'junk.pem'), 'not a pem');
  const d = await startInProcess(dir, { certs: { tls_cert_file: join(dir, 'server.crt'), tls_key_file: join(dir, 'server.key') } });
  const r = await postHttps(d.daemon.certsEndpoint.port, '/v1/certificate', { json: {} });
  t.equal(r.status, 400);
  t.equal(r.peer?.subject, 'CN=stb-proxy.example.net');
  t.equal(r.peer?.fingerprint256, new X509Certificate(a.certPem).fingerprint256);
  t.match(d.logText(), /"source":"files".*server certificate loaded/);
  await d.daemon.stop();

  const start = (overrides: ConfigOverrides) =>
    startDaemon({ config: loadConfig(writeTestConfig(dir, overrides), dir), log: createLogger('silent'), clock: new ManualClock() });
  await t.rejects(start({ certs: { tls_cert_file: join(dir, 'server.crt'), tls_key_file: join(dir, 'other.key') } }), { message: /\[certs\] tls_key_file .*other\.key: is not the key of the certificate/ });
  await t.rejects(start({ certs: { tls_cert_file: join(dir, 'junk.pem'), tls_key_file: join(dir, 'server.key') } }), { message: /\[certs\] tls_cert_file .*junk\.pem: not a PEM certificate/ });
  await t.rejects(start({ certs: { tls_cert_file: join(dir, 'server.crt'), tls_key_file: join(dir, 'junk.pem') } }), { message: /\[certs\] tls_key_file .*junk\.pem: not a PEM private key/ });
  await t.rejects(start({ certs: { tls_cert_file: join(dir, 'missing.crt'), tls_key_file: join(dir, 'server.key') } }), { message: /\[certs\] tls_cert_file .*missing\.crt: cannot read it \(ENOENT\)/ });
});

t.test('the builtin server certificate is kept: a second start presents the same one; one about to expire is replaced', async (t) => {
  const dir = t.testdir();
  const d1 = await startInProcess(dir);
  const first = (await postHttps(d1.daemon.certsEndpoint.port, '/v1/certificate', { json: {} })).peer!;
  await d1.daemon.stop();
  const d2 = await startInProcess(dir);
  const second = (await postHttps(d2.daemon.certsEndpoint.port, '/v1/certificate', { json: {} })).peer!;
  await d2.daemon.stop();
  t.equal(second.fingerprint256, first.fingerprint256);

  // Nearly 10 years later, less than 30 days left: the next generation.
  const clock = new ManualClock(Date.parse(first.validTo) - 10 * DAY);
  const config = loadConfig(writeTestConfig(dir), dir);
  const d4 = await startDaemon({ config, log: createLogger('silent'), clock });
  const third = (await postHttps(d4.certsEndpoint.port, '/v1/certificate', { json: {} })).peer!;
  await d4.stop();
  t.not(third.fingerprint256, first.fingerprint256);
  t.ok(Date.parse(third.validTo) > Date.parse(first.validTo));
});
