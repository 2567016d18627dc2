import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { FakeCa, TestStb } from './helpers/certs.js';
import type { ConfigOverrides } from './helpers/daemon.js';
import { startInProcess, until } from './helpers/in-process.js';

/**
 * Certificate identities cannot be squatted: STBs create no certificate id but their derived one
 * (`[certs] derived_id_prefix` + STB id); the admin and the media system create the others, within
 * `[certs] max_per_device`, one winner per id; and an STB cannot tell another STB's id from none.
 */
async function setup(t: { testdir(): string; teardown(fn: () => unknown): void }, certs: ConfigOverrides[string] = {}, extra: ConfigOverrides = {}, dir = t.testdir()) {
  const d = await startInProcess(dir, { certs, ...extra });
  t.teardown(() => d.daemon.stop());
  for (const id of ['stb-1', 'stb-2']) await d.api('POST', '/v1/devices', { json: { id, cwmpPassword: `${id}-pw` } });
  const port = d.daemon.certsEndpoint.port;
  const media = readFileSync(join(dir, 'media.token'), 'utf8').trim();
  return { d, dir, media, stb1: new TestStb(port, 'stb-1', 'stb-1-pw', () => d.clock.now()), stb2: new TestStb(port, 'stb-2', 'stb-2-pw', () => d.clock.now()) };
}

/** The daemon with an external CA of the test's own (FakeCa: its calls counted, held while `gate` is set). */
async function withFakeCa(t: { testdir(): string; teardown(fn: () => unknown): void }) {
  const dir = t.testdir();
  const ca = await FakeCa.start('ca-secret-0123456789');
  t.teardown(() => ca.stop());
  writeFileSync(join(dir, 'ca.token'), 'ca-secret-0123456789\n', { mode: 0o600 });
  return { ...(await setup(t, {}, { ca: { kind: 'http', url: ca.url, token_file: join(dir, 'ca.token') } }, dir)), ca };
}

const ids = async (d: { api(m: string, p: string): Promise<{ body: any }> }) => (await d.api('GET', '/v1/certificates')).body.certificates.map((c: { id: string; device: string }) => `${c.id}@${c.device}`);

t.test('an STB cannot create a certificate id by acknowledging not-found: refused, nothing stored; only its derived id', async (t) => {
  const { d, stb1, stb2 } = await setup(t);
  t.same((await stb1.request('chosen-by-stb')).body, { status: 'not-found' });
  t.same(await stb1.ack('chosen-by-stb').then((r) => [r.status, r.body]), [404, { status: 'not-found', message: 'no certificate "chosen-by-stb" for this STB' }]);
  t.same((await stb1.request('chosen-by-stb')).body, { status: 'not-found' }, 'still not found');
  t.same(await stb2.ack('media-stb-1').then((r) => r.status), 404, 'nor another STB’s derived id');
  t.same(await ids(d), [], 'nothing stored');
  // The media system (or the admin) creates it; then it is the STB's.
  t.equal((await d.api('POST', '/v1/certificates', { json: { device: 'stb-1', id: 'chosen-by-stb' } })).status, 201);
  t.equal((await stb1.request('chosen-by-stb')).body.status, 'valid');
  // Its derived id the STB may have fetched on its own.
  t.match(await stb2.ack('media-stb-2'), { status: 200, body: { status: 'issued', certId: 'media-stb-2', version: 1 } });
  t.same(await ids(d), ['chosen-by-stb@stb-1', 'media-stb-2@stb-2']);
  t.match(d.logText(), /"cert":"chosen-by-stb","code":"not-found".*certificate acknowledgement not served/);
});

t.test('derived_id_prefix = "": no STB creates any id', async (t) => {
  const { d, stb1 } = await setup(t, { derived_id_prefix: '' });
  t.equal((await stb1.ack('media-stb-1')).status, 404);
  t.equal((await stb1.ack('stb-1')).status, 404);
  t.same(await ids(d), []);
});

t.test('the answers to an STB about another STB’s certificate are those about no certificate at all', async (t) => {
  const { d, stb1, stb2 } = await setup(t);
  t.equal((await d.api('POST', '/v1/certificates', { json: { device: 'stb-1', id: 'owned-by-1' } })).status, 201);
  t.equal((await d.api('POST', '/v1/certificates', { json: { device: 'stb-1', id: 'media-stb-2-x' } })).status, 201);
  // Same length, so that not even the size of the answer differs.
  const other = 'owned-by-1';
  const none = 'owned-by-9';
  const seen = async (certId: string) => {
    const r = await stb2.request(certId);
    const a = await stb2.ack(certId);
    return JSON.stringify([r.status, r.text, a.status, a.text]).replaceAll(certId, 'ID');
  };
  t.equal(await seen(other), await seen(none), 'request and acknowledgement: same status, same bytes');
  t.equal(await seen('media-stb-2-x'), await seen('media-stb-2-y'));
  t.equal((await stb1.request(other)).body.status, 'valid', 'the owner is served');
  t.same(await ids(d), ['media-stb-2-x@stb-1', 'owned-by-1@stb-1'], 'nothing taken over');
});

t.test('the media system creates certificates with its token; the admin and media API refuse another registered STB’s derived id', async (t) => {
  const { d, dir, media } = await setup(t);
  t.match(await d.api('POST', '/v1/certificates', { json: { device: 'stb-1', id: 'm-1' }, token: media }), { status: 201, body: { id: 'm-1', device: 'stb-1' } });
  const bss = readFileSync(join(dir, 'bss.token'), 'utf8').trim();
  t.match(await d.api('POST', '/v1/certificates', { json: { device: 'stb-1', id: 'm-2' }, token: bss }), { status: 403 });
  t.match(await d.api('POST', '/v1/certificates', { json: { device: 'stb-1', id: 'media-stb-2' }, token: media }), {
    status: 409,
    body: { error: 'conflict', message: 'certificate id "media-stb-2" is STB "stb-2"\'s own (derived from its id)' },
  });
  t.equal((await d.api('POST', '/v1/certificates', { json: { device: 'stb-2', id: 'media-stb-2' } })).status, 201, 'for that STB itself: fine');
  t.equal((await d.api('POST', '/v1/certificates', { json: { device: 'stb-1', id: 'media-nobody' } })).status, 201, 'an id naming no registered STB: fine');
  t.same(await ids(d), ['m-1@stb-1', 'media-nobody@stb-1', 'media-stb-2@stb-2']);
});

t.test('[certs] max_per_device: past it 409 limit-reached, nothing stored; revoked ones do not count', async (t) => {
  const { d, stb1 } = await setup(t, { max_per_device: 2 });
  for (const id of ['a', 'b']) t.equal((await d.api('POST', '/v1/certificates', { json: { device: 'stb-1', id } })).status, 201);
  t.match(await d.api('POST', '/v1/certificates', { json: { device: 'stb-1', id: 'c' } }), {
    status: 409,
    body: { error: 'limit-reached', message: 'device "stb-1" already holds 2 certificates (the most [certs] max_per_device allows)' },
  });
  t.match(await stb1.ack('media-stb-1'), { status: 409, body: { status: 'limit-reached' } }, 'its derived id too');
  t.equal((await d.api('POST', '/v1/certificates', { json: { device: 'stb-2', id: 'c' } })).status, 201, 'another STB has its own allowance');
  t.same(await ids(d), ['a@stb-1', 'b@stb-1', 'c@stb-2']);
  await d.api('POST', '/v1/certificates/a/revoke');
  t.match(await stb1.ack('media-stb-1'), { status: 200, body: { status: 'issued' } }, 'a revoked one frees its place');
});

t.test('concurrent creation of one id: one 201, one 409 at once, one CA call; a failed CA call frees the id', async (t) => {
  const { d, ca } = await withFakeCa(t);
  let release!: () => void;
  ca.gate = new Promise<void>((r) => (release = r));
  const first = d.api('POST', '/v1/certificates', { json: { device: 'stb-1', id: 'one' } });
  t.ok(await until(d, () => ca.calls.length === 1), 'the CA is issuing for the first');
  const second = await d.api('POST', '/v1/certificates', { json: { device: 'stb-2', id: 'one' } });
  t.match(second, { status: 409, body: { error: 'conflict', message: 'certificate "one" already exists' } }, 'the loser is answered while the CA works');
  const third = await d.api('POST', '/v1/certificates', { json: { device: 'stb-1', id: 'one' } });
  t.equal(third.status, 409, 'the same device asking again loses too');
  release();
  t.match(await first, { status: 201, body: { id: 'one', device: 'stb-1' } });
  t.equal(ca.calls.length, 1, 'one CA call');
  t.same(await ids(d), ['one@stb-1']);

  ca.gate = undefined;
  ca.mode = 'fail';
  t.equal((await d.api('POST', '/v1/certificates', { json: { device: 'stb-2', id: 'two' } })).status, 503);
  ca.mode = 'ok';
  t.equal((await d.api('POST', '/v1/certificates', { json: { device: 'stb-1', id: 'two' } })).status, 201, 'the id was given back');
});

t.test('a revocation while the CA issues the next version is final: the new version is dropped, no deadline comes back', async (t) => {
  const { d, dir, ca } = await withFakeCa(t);
  t.equal((await d.api('POST', '/v1/certificates', { json: { device: 'stb-1', id: 'c1' } })).status, 201);
  let release!: () => void;
  ca.gate = new Promise<void>((r) => (release = r));
  const renewing = d.api('POST', '/v1/certificates/c1/renew');
  t.ok(await until(d, () => ca.calls.length === 2), 'the CA is issuing version 2');
  t.match(await d.api('POST', '/v1/certificates/c1/revoke'), { status: 200, body: { status: 'revoked', version: 1 } });
  release();
  t.match(await renewing, { status: 409, body: { error: 'revoked' } });
  t.match((await d.api('GET', '/v1/certificates/c1')).body, { status: 'revoked', version: 1, versions: [{ version: 1 }] });
  const db = new Database(join(dir, 'stbd.db'), { readonly: true });
  t.teardown(() => db.close());
  t.same(db.prepare("SELECT kind FROM timer_deadlines WHERE key = 'c1'").all(), [], 'the revocation deleted its deadlines; the dropped version wrote none');
});

t.test('a claim left by a stop during a CA call is forgotten at the next start', async (t) => {
  const { d, dir } = await setup(t);
  await d.daemon.stop();
  const db = new Database(join(dir, 'stbd.db'));
  db.prepare("INSERT INTO certificate_claims (id, device_id, claimed_at) VALUES ('stuck', 'stb-1', 0)").run();
  db.close();
  const again = await startInProcess(dir);
  t.teardown(() => again.daemon.stop());
  t.equal((await again.api('POST', '/v1/certificates', { json: { device: 'stb-2', id: 'stuck' } })).status, 201);
});
