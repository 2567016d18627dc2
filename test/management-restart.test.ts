import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { spawnDaemon, writeTestConfig } from './helpers/daemon.js';
import { gpvResponseXml, informXml, TestCpe } from './helpers/test-cpe.js';

t.test('tasks survive restarts: queued before a SIGTERM, or in flight at kill -9, they complete afterwards', async (t) => {
  const dir = t.testdir();
  const config = writeTestConfig(dir);
  const token = () => readFileSync(join(dir, 'api.token'), 'utf8').trim();
  let daemon = await spawnDaemon(config);
  t.teardown(() => daemon.stop('SIGKILL'));
  const api = async (method: string, path: string, json?: unknown) => {
    const res = await fetch(`${daemon.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token()}`, ...(json === undefined ? {} : { 'content-type': 'application/json' }) },
      body: json === undefined ? null : JSON.stringify(json),
    });
    return { status: res.status, body: (await res.json()) as { id: number } };
  };
  await api('POST', '/v1/devices', { id: 'stb-1', cwmpPassword: 'pw', crPassword: 'cr-pw' });
  const a = await api('POST', '/v1/devices/stb-1/tasks', { kind: 'getParameterValues', names: ['A.B'] });
  const b = await api('POST', '/v1/devices/stb-1/tasks', { kind: 'getParameterValues', names: ['A.C'] });
  t.equal(await daemon.stop('SIGTERM'), 0);

  daemon = await spawnDaemon(config);
  let cpe = new TestCpe(`http://127.0.0.1:${daemon.cwmpPort}/`, 'stb-1', 'pw');
  await cpe.post(informXml({ serial: 'S1', events: ['1 BOOT'] }));
  const first = await cpe.post('');
  t.same(TestCpe.rpc(first.body), { id: String(a.body.id), method: 'GetParameterValues' }, 'queued before the restart: sent after it');
  const second = await cpe.post(gpvResponseXml(String(a.body.id), { 'A.B': '1' }));
  t.same(TestCpe.rpc(second.body), { id: String(b.body.id), method: 'GetParameterValues' });
  // The daemon dies while the second RPC is with the CPE.
  await daemon.stop('SIGKILL');

  daemon = await spawnDaemon(config);
  t.match((await api('GET', `/v1/tasks/${a.body.id}`)).body, { status: 'done', result: { parameters: [{ name: 'A.B', value: '1' }] } });
  cpe = new TestCpe(`http://127.0.0.1:${daemon.cwmpPort}/`, 'stb-1', 'pw');
  await cpe.post(informXml({ serial: 'S1', events: ['2 PERIODIC'] }));
  const again = await cpe.post('');
  t.same(TestCpe.rpc(again.body), { id: String(b.body.id), method: 'GetParameterValues' }, 'in flight at kill -9: sent again');
  t.equal((await cpe.post(gpvResponseXml(String(b.body.id), { 'A.C': '2' }))).status, 204);
  t.match((await api('GET', `/v1/tasks/${b.body.id}`)).body, { status: 'done', attempts: 2 });
});
