import { createPrivateKey, X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { CaError } from '../src/ca/cert-authority.js';
import { HttpCertAuthority } from '../src/ca/http-cert-authority.js';
import { unwrapKey } from '../src/certs/key-wrap.js';
import { FakeCa, TestStb } from './helpers/certs.js';
import { startInProcess } from './helpers/in-process.js';

const TOKEN = 'ca-secret-0123456789';

async function setup(t: { testdir(): string; teardown(fn: () => unknown): void }) {
  const dir = t.testdir();
  const ca = await FakeCa.start(TOKEN);
  t.teardown(() => ca.stop());
  writeFileSync(join(dir, 'ca.token'), `${TOKEN}\n`, { mode: 0o600 });
  const d = await startInProcess(dir, { ca: { kind: 'http', url: `${ca.url}/`, token_file: join(dir, 'ca.token'), timeout: '5s' } });
  t.teardown(() => d.daemon.stop());
  await d.api('POST', '/v1/devices', { json: { id: 'stb-1', cwmpPassword: 'stb-1-pw' } });
  const stb = new TestStb(d.daemon.certsEndpoint.port, 'stb-1', 'stb-1-pw', () => d.clock.now());
  return { d, ca, stb };
}

t.test('external CA over HTTP+JSON: the proxy fetches from it, with its token and an idempotency key; the STB gets the key', async (t) => {
  const { d, ca, stb } = await setup(t);
  t.same((await stb.request('media-stb-1')).body, { status: 'not-found' });
  const ack = await stb.ack('media-stb-1');
  t.match(ack, { status: 200, body: { status: 'issued', version: 1 } });
  t.equal(ca.calls.length, 1);
  t.match(ca.calls[0], { path: '/certificates', key: 'media-stb-1:1', auth: `Bearer ${TOKEN}`, body: { certificateId: 'media-stb-1', device: 'stb-1', version: 1, notBefore: new Date(d.clock.now()).toISOString() } });
  const served = await stb.request('media-stb-1');
  t.equal(served.body.status, 'valid');
  const info = unwrapKey('stb-1-pw', { stbId: 'stb-1', certId: 'media-stb-1', version: 1, nonce: served.nonce }, served.body.key);
  const cert = new X509Certificate(info.certificatePem);
  t.ok(cert.checkPrivateKey(createPrivateKey(info.privateKeyPem)));
  t.ok(cert.verify(new X509Certificate(ca.root.certPem).publicKey), 'issued by the external CA');
  t.match((await d.api('GET', '/v1/certificates/media-stb-1')).body, { serial: cert.serialNumber.toLowerCase(), notAfter: new Date(cert.validTo).toISOString() });

  const renewed = await d.api('POST', '/v1/certificates/media-stb-1/renew');
  t.match(renewed, { status: 200, body: { version: 2 } });
  t.equal(ca.calls.at(-1)?.key, 'media-stb-1:2');
});

t.test('external CA failures: 5xx and unusable answers → ca-unavailable, 4xx → ca-refused, unreachable → ca-unavailable; nothing is stored', async (t) => {
  const { d, ca, stb } = await setup(t);
  const cases: [typeof ca.mode, number, string][] = [
    ['fail', 503, 'ca-unavailable'],
    ['refuse', 502, 'ca-refused'],
    ['mismatch', 503, 'ca-unavailable'],
    ['not-json', 503, 'ca-unavailable'],
    ['incomplete', 503, 'ca-unavailable'],
  ];
  for (const [mode, code, error] of cases) {
    ca.mode = mode;
    const admin = await d.api('POST', '/v1/certificates', { json: { device: 'stb-1', id: `c-${mode}` } });
    t.same([admin.status, admin.body.error], [code, error], `admin issue, CA ${mode}`);
    const ack = await stb.ack('media-stb-1');
    t.same([ack.status, ack.body.status], [code, error], `STB acknowledgement of its derived id, CA ${mode}`);
    t.same((await stb.request('media-stb-1')).body, { status: 'not-found' }, 'still not found');
  }
  t.same((await d.api('GET', '/v1/certificates')).body.certificates, [], 'nothing stored');
  t.match(d.logText(), /answered an unusable certificate: the private key does not belong to the certificate/);

  // A renewal that fails keeps the current version.
  ca.mode = 'ok';
  t.equal((await d.api('POST', '/v1/certificates', { json: { device: 'stb-1', id: 'kept' } })).status, 201);
  ca.mode = 'fail';
  t.match(await d.api('POST', '/v1/certificates/kept/renew'), { status: 503, body: { error: 'ca-unavailable' } });
  t.match((await d.api('GET', '/v1/certificates/kept')).body, { version: 1, status: 'valid' });

  await ca.stop();
  t.match(await d.api('POST', '/v1/certificates/kept/renew'), { status: 503, body: { error: 'ca-unavailable', message: /unreachable/ } });
  t.match(await d.api('GET', '/v1/certificates/kept'), { body: { version: 1 } });
});

t.test('HttpCertAuthority directly: the CaError it throws says whether to retry', async (t) => {
  const ca = await FakeCa.start(TOKEN);
  t.teardown(() => ca.stop());
  const http = new HttpCertAuthority({ url: ca.url, token: TOKEN, timeoutMs: 2000 });
  const req = { certificateId: 'x', deviceId: 'stb-9', version: 1, notBefore: new Date('2026-01-01T00:00:00Z'), notAfter: new Date('2027-01-01T00:00:00Z') };
  const issued = await http.issue(req);
  t.same([issued.notBefore.toISOString(), issued.notAfter.toISOString()], ['2026-01-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z']);
  t.same(await http.issue(req), issued, 'a repeated request gets the first answer (idempotency key)');
  t.equal(ca.issued, 1);
  ca.mode = 'refuse';
  await t.rejects(http.issue({ ...req, version: 2 }), new CaError(false, `CA at ${ca.url}/certificates refused with 400: {"error":"unknown device"}`));
  ca.mode = 'fail';
  await t.rejects(http.issue({ ...req, version: 2 }), { retryable: true, message: /answered 503/ });
  const wrongToken = new HttpCertAuthority({ url: ca.url, token: 'wrong-token-0123456789', timeoutMs: 2000 });
  ca.mode = 'ok';
  await t.rejects(wrongToken.issue({ ...req, version: 3 }), { retryable: false, message: /refused with 401/ });
});
