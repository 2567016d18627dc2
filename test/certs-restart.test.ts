import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { unwrapKey } from '../src/certs/key-wrap.js';
import { TestStb } from './helpers/certs.js';
import { type SpawnedDaemon, spawnDaemon, writeTestConfig } from './helpers/daemon.js';

async function api(daemon: SpawnedDaemon, token: string, method: string, path: string, json?: unknown) {
  const res = await fetch(`${daemon.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(json === undefined ? {} : { 'content-type': 'application/json' }) },
    body: json === undefined ? null : JSON.stringify(json),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

t.test('restart persistence: after kill -9 the certificate, its key, its status and the server certificate are all still there', async (t) => {
  const dir = t.testdir();
  const config = writeTestConfig(dir);
  const first = await spawnDaemon(config);
  t.teardown(() => first.stop('SIGKILL'));
  t.ok(first.certsPort > 0, 'the "stbd started" line names the certificate endpoint');
  const token = readFileSync(join(dir, 'api.token'), 'utf8').trim();
  t.equal((await api(first, token, 'POST', '/v1/devices', { id: 'stb-1', cwmpPassword: 'stb-1-pw' })).status, 201);
  t.equal((await api(first, token, 'POST', '/v1/certificates', { device: 'stb-1', id: 'c1' })).status, 201);
  t.equal((await api(first, token, 'POST', '/v1/certificates', { device: 'stb-1', id: 'c2' })).status, 201);
  t.equal((await api(first, token, 'POST', '/v1/certificates/c2/revoke')).body.status, 'revoked');
  const stb = new TestStb(first.certsPort, 'stb-1', 'stb-1-pw', () => Date.now());
  const before = await stb.request('c1');
  t.equal(before.body.status, 'valid');
  const key1 = unwrapKey('stb-1-pw', { stbId: 'stb-1', certId: 'c1', version: 1, nonce: before.nonce }, before.body.key);
  t.equal(await first.stop('SIGKILL'), null, 'killed');

  const second = await spawnDaemon(config);
  t.teardown(() => second.stop());
  const stb2 = new TestStb(second.certsPort, 'stb-1', 'stb-1-pw', () => Date.now());
  const after = await stb2.request('c1');
  t.match(after.body, { status: 'valid', certId: 'c1', version: 1 });
  const key2 = unwrapKey('stb-1-pw', { stbId: 'stb-1', certId: 'c1', version: 1, nonce: after.nonce }, after.body.key);
  t.same(key2, key1, 'the same certificate and key, opened with the same master key');
  t.ok(new X509Certificate(key2.certificatePem).checkPrivateKey(createPrivateKey(key2.privateKeyPem)));
  t.equal(after.peer?.fingerprint256, before.peer?.fingerprint256, 'the same server certificate');
  t.same((await stb2.request('c2')).body, { status: 'revoked' }, 'a revocation survives too');
  t.match((await api(second, token, 'GET', '/v1/certificates')).body.certificates, [{ id: 'c1', status: 'valid' }, { id: 'c2', status: 'revoked' }]);
  t.equal(await second.stop(), 0);
});
