import t from 'tap';
import { startInProcess } from './helpers/in-process.js';
import { gpvResponseXml, informXml, TestCpe } from './helpers/test-cpe.js';

const IGD = 'InternetGatewayDevice.';
const X = `${IGD}X_ACME_Stats.`;
const names = (from: number, n: number) => Array.from({ length: n }, (_, i) => `${X}Counter${from + i}`);
const values = (list: string[], value: string) => Object.fromEntries(list.map((n) => [n, value]));

t.test('[cwmp] max_parameters_per_device: values of new names beyond it are not stored, and the task or a CPE event says so', async (t) => {
  const d = await startInProcess(t.testdir(), { cwmp: { max_parameters_per_device: 10 } });
  t.teardown(() => d.daemon.stop());
  t.equal((await d.api('POST', '/v1/devices', { json: { id: 'stb-1', cwmpPassword: 'stb-1-pw', crPassword: 'stb-1-cr' } })).status, 201);
  const cpe = new TestCpe(`http://127.0.0.1:${d.daemon.management.address!.port}/acs`, 'stb-1', 'stb-1-pw');
  const cr = { [`${IGD}ManagementServer.ConnectionRequestURL`]: 'http://127.0.0.1:1/cr' };
  const known = async () => (await d.api('GET', '/v1/devices/stb-1')).body.management as { parameters: { name: string; value: string }[]; cpeEvents: { method: string; detail: unknown }[] };
  /** A session: an Inform with `params`, then one read answered with `answer`. */
  const session = async (params: Record<string, string>, answer?: Record<string, string>) => {
    cpe.endSession();
    t.equal((await cpe.post(informXml({ serial: 'S1', params: { ...cr, ...params } }))).status, 200);
    const rpc = await cpe.post('');
    if (answer) t.equal((await cpe.post(gpvResponseXml(TestCpe.rpc(rpc.body).id, answer))).status, 204);
  };
  const read = async (kind: 'refresh' | 'getParameterValues', answer: Record<string, string>) => {
    const task = (await d.api('POST', '/v1/devices/stb-1/tasks', { json: kind === 'refresh' ? { kind, path: X } : { kind, names: [X] } })).body;
    await session({}, answer);
    return (await d.api('GET', `/v1/tasks/${task.id}`)).body;
  };

  const over = await read('refresh', values(names(0, 12), 'a'));
  t.equal((await known()).parameters.length, 10, 'the CR URL and 9 of the 12 read');
  t.match(over, { status: 'fault', fault: { code: 0, message: '3 parameter values not stored: the device has 10 stored, the most [cwmp] max_parameters_per_device allows' } });
  t.equal(over.result.parameters.length, 12, 'the task still shows all it read');

  const update = await read('getParameterValues', values(names(0, 9), 'b'));
  t.equal(update.status, 'done', 'at the cap, known names are still updated');
  t.ok((await known()).parameters.filter((p) => p.name.startsWith(X)).every((p) => p.value === 'b'));

  await session(values(names(100, 2), 'c'));
  const state = await known();
  t.equal(state.parameters.length, 10);
  t.match(state.cpeEvents[0], { method: 'Inform', detail: { code: 0, message: '2 parameter values not stored: the device has 10 stored, the most [cwmp] max_parameters_per_device allows' } });

  const replaced = await read('refresh', values(names(50, 3), 'd'));
  t.equal(replaced.status, 'done', 'a refresh forgets what is gone from its subtree: room again');
  t.same((await known()).parameters.map((p) => p.name).filter((n) => n.startsWith(X)), names(50, 3));
});
