import t from 'tap';
import { CasError } from '../src/cas/cas.js';
import { HttpCas } from '../src/cas/http-cas.js';
import { FakeCas } from './helpers/fake-cas.js';

t.test('the HTTP CAS adapter against a real server playing the CAS', async (t) => {
  const server = await FakeCas.start('s3cret');
  t.teardown(() => server.stop());
  const cas = new HttpCas({ url: `${server.url}/`, token: 's3cret', timeoutMs: 300 });

  t.test('register and deregister, with the token and idempotency keys', async (t) => {
    const { certificateId } = await cas.register('stb-1', 'register:stb-1:1');
    t.match(certificateId, /^cas-/);
    t.same(server.calls.at(-1), { path: '/registrations', key: 'register:stb-1:1', auth: 'Bearer s3cret' });
    await cas.deregister('stb-1', certificateId, 'deregister:stb-1:1');
    t.notOk(server.registered.has('stb-1'));
  });

  t.test('a repeated call (same key) is answered the same and changes nothing more', async (t) => {
    const before = { ...server.effects };
    const a = await cas.register('stb-2', 'register:stb-2:1');
    const b = await cas.register('stb-2', 'register:stb-2:1');
    t.same(a, b);
    await cas.deregister('stb-2', a.certificateId, 'deregister:stb-2:1');
    await cas.deregister('stb-2', a.certificateId, 'deregister:stb-2:1');
    t.same(server.effects, { registrations: before.registrations + 1, deregistrations: before.deregistrations + 1 });
    await t.resolves(cas.deregister('stb-never', 'x', 'deregister:stb-never:1'), 'nothing to deregister counts as done (404)');
  });

  t.test('failures: retryable when down or hanging, final when refused', async (t) => {
    server.mode = 'fail';
    await t.rejects(cas.register('stb-3', 'k3'), new CasError(true, `CAS at ${server.url}/registrations answered 503`));
    server.mode = 'hang';
    const started = Date.now();
    await t.rejects(cas.register('stb-3', 'k3'), { retryable: true, message: /unreachable: ETIMEDOUT/ });
    t.ok(Date.now() - started < 2000, 'gives up after the timeout');
    server.mode = 'refuse';
    await t.rejects(cas.register('stb-3', 'k3'), { retryable: false, message: /refused with 400/ });
    server.mode = 'ok';
    const wrongToken = new HttpCas({ url: server.url, token: 'nope', timeoutMs: 300 });
    await t.rejects(wrongToken.register('stb-3', 'k4'), { retryable: false, message: /refused with 401/ });
    const nowhere = new HttpCas({ url: 'http://127.0.0.1:9', token: 'x', timeoutMs: 300 });
    await t.rejects(nowhere.register('stb-3', 'k5'), { retryable: true, message: /ECONNREFUSED/ });
  });
});
