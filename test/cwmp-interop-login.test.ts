import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import t from 'tap';
import { acceptProvisioning, addDevice, basicInform, digestInform, expectedDigest, IGD, inform, param, setup } from './helpers/cwmp-wire.js';
import { until } from './helpers/in-process.js';
import { RawCpe } from './helpers/raw-cpe.js';

/** CWMP logins as deployed CPEs do them: shared factory credentials, credentials pushed and rotated. */

function bootstrapFile(dir: string, lines: string): string {
  const file = join(dir, 'bootstrap.creds');
  writeFileSync(file, lines, { mode: 0o600 });
  return file;
}

t.test('shared factory credentials: 20 CPEs with one pair each get registered and their own credentials; a factory reset is accepted again', async (t) => {
  const dir = t.testdir();
  const file = bootstrapFile(dir, '# model STB-4K\nacs-factory:fact0ry\nempty-pw:\n');
  const { d, port } = await setup(t, { cwmp: { bootstrap_credentials_file: file, auto_register: true } }, dir);
  const own: Record<string, Record<string, string>> = {};
  for (let i = 1; i <= 20; i++) {
    const cpe = new RawCpe(port);
    const r = await digestInform(cpe, 'acs-factory', 'fact0ry', inform({ serial: `S${i}`, events: ['0 BOOTSTRAP', '1 BOOT'] }));
    t.equal(r.status, 200, `CPE ${i} logs in with the factory pair`);
    own[i] = await acceptProvisioning(t, cpe);
    cpe.close();
  }
  const list = await d.api('GET', '/v1/devices');
  t.equal(list.body.devices.length, 20, 'all registered, by DeviceId');
  const v = own[7]!;
  t.same(Object.keys(v), ['Username', 'Password', 'ConnectionRequestUsername', 'ConnectionRequestPassword']);
  t.equal(v['Username'], '00D09E-STB-S7');
  t.not(v['Password'], own[8]!['Password'], 'each its own password');
  t.notMatch(d.logText(), /wrong credentials/);

  // Its own credentials work now...
  let cpe = new RawCpe(port);
  t.equal((await digestInform(cpe, '00D09E-STB-S7', v['Password']!, inform({ serial: 'S7' }))).status, 200);
  t.equal((await cpe.request('')).status, 204, 'nothing more to provision');
  cpe.close();
  // ...and after a factory reset the CPE is back on the factory pair: accepted, and given new credentials.
  cpe = new RawCpe(port);
  t.equal((await digestInform(cpe, 'acs-factory', 'fact0ry', inform({ serial: 'S7', events: ['0 BOOTSTRAP', '1 BOOT'] }))).status, 200);
  const again = await acceptProvisioning(t, cpe);
  t.not(again['Password'], v['Password'], 'new credentials after the reset');
  cpe.close();
  cpe = new RawCpe(port);
  t.equal((await digestInform(cpe, '00D09E-STB-S7', v['Password']!, inform({ serial: 'S7' }))).status, 401, 'the old ones are gone once the new ones are accepted');
  cpe.close();
  // An empty factory password is a valid pair too.
  cpe = new RawCpe(port);
  t.equal((await basicInform(cpe, 'empty-pw', '', inform({ serial: 'S21' }))).status, 200);
  cpe.close();
  const metrics = await (await fetch(`${d.url}/metrics`)).text();
  t.match(metrics, /stbd_cwmp_bootstrap_logins_total\{result="accepted"\} 22/);
  t.match(d.logText(), /bootstrap login with a factory credential/);
});

t.test('until the CPE accepts its new credentials the old ones stay valid', async (t) => {
  const dir = t.testdir();
  const file = bootstrapFile(dir, 'acs-factory:fact0ry\n');
  const { d, port } = await setup(t, { cwmp: { bootstrap_credentials_file: file } }, dir);
  await addDevice(d, '00D09E-STB-S1');
  let cpe = new RawCpe(port);
  t.equal((await digestInform(cpe, 'acs-factory', 'fact0ry', inform({ serial: 'S1', events: ['0 BOOTSTRAP'] }))).status, 200, 'a registered device may use the factory pair');
  const rpc = await cpe.request('');
  const pushed = /<Name>InternetGatewayDevice\.ManagementServer\.Password<\/Name><Value xsi:type="xsd:string">([^<]*)</.exec(rpc.text)?.[1];
  cpe.close(); // the session drops before the answer
  cpe = new RawCpe(port);
  t.equal((await digestInform(cpe, '00D09E-STB-S1', '00D09E-STB-S1-pw', inform({ serial: 'S1' }))).status, 200, 'its registered password still works');
  cpe.close();
  cpe = new RawCpe(port);
  t.equal((await digestInform(cpe, '00D09E-STB-S1', pushed!, inform({ serial: 'S1' }))).status, 200, 'and so does the one pushed (the CPE may have stored it)');
  cpe.close();
  cpe = new RawCpe(port);
  t.equal((await digestInform(cpe, '00D09E-STB-S1', '00D09E-STB-S1-pw', inform({ serial: 'S1' }))).status, 401, 'logging in with the new one made it the only one');
  cpe.close();
  t.notOk((await d.api('GET', '/v1/devices/00D09E-STB-S1')).body.management.provisioning.credentialsPending);
});

t.test('bootstrap_reuse = false: a device that has its own credentials cannot come back on the factory pair', async (t) => {
  const dir = t.testdir();
  const file = bootstrapFile(dir, 'acs-factory:fact0ry\n');
  const { d, port } = await setup(t, { cwmp: { bootstrap_credentials_file: file, auto_register: true, bootstrap_reuse: false } }, dir);
  let cpe = new RawCpe(port);
  await digestInform(cpe, 'acs-factory', 'fact0ry', inform({ serial: 'S1', events: ['0 BOOTSTRAP'] }));
  await acceptProvisioning(t, cpe);
  cpe.close();
  cpe = new RawCpe(port);
  t.equal((await digestInform(cpe, 'acs-factory', 'fact0ry', inform({ serial: 'S1', events: ['0 BOOTSTRAP'] }))).status, 401);
  t.match(d.logText(), /already has its own credentials and came back with the factory pair; \[cwmp\] bootstrap_reuse = false refuses that/);
  const unknown = new RawCpe(port);
  t.equal((await digestInform(unknown, 'acs-factory', 'wrong', inform({ serial: 'S2' }))).status, 401, 'a wrong factory password is refused');
});

t.test('without a bootstrap file, a username used by two DeviceIds is refused with a line that says so', async (t) => {
  const { d, port } = await setup(t, { cwmp: { auto_register: true } });
  const first = new RawCpe(port);
  t.equal((await basicInform(first, 'factory', 'pw', inform({ serial: 'S1', params: param(`${IGD}ConnectionRequestURL`, 'http://127.0.0.1:1/') }))).status, 200);
  first.close();
  for (let i = 2; i <= 20; i++) {
    const cpe = new RawCpe(port);
    t.equal((await basicInform(cpe, 'factory', 'pw', inform({ serial: `S${i}` }))).status, 401);
    cpe.close();
  }
  t.equal((await d.api('GET', '/v1/devices')).body.devices.length, 1);
  t.match(d.logText(), /CWMP username \\"factory\\" belongs to device 00D09E-STB-S1 \(DeviceId 00D09E-STB-S1\), but a CPE with DeviceId 00D09E-STB-S2 presented it; CPEs that share factory credentials need them listed in \[cwmp\] bootstrap_credentials_file/);
  // First use: the CPE's original password keeps working until it accepts the one stbd generated.
  const again = new RawCpe(port);
  t.equal((await basicInform(again, 'factory', 'pw', inform({ serial: 'S1' }))).status, 200, 'the original password still works');
  const pushed = await acceptProvisioning(t, again);
  again.close();
  const after = new RawCpe(port);
  t.equal((await basicInform(after, 'factory', 'pw', inform({ serial: 'S1' }))).status, 401, 'not once the CPE has accepted its own');
  t.equal((await basicInform(new RawCpe(port), 'factory', pushed['Password']!, inform({ serial: 'S1' }))).status, 200);
});

t.test('HTTP connection requests work for a direct auto-registered device: its generated CR credentials are pushed first', async (t) => {
  const seen: string[] = [];
  let expected = { username: 'factory-cr', password: 'factory-cr-pw' };
  const crServer = createServer((req, res) => {
    const auth = req.headers.authorization ?? '';
    seen.push(auth);
    const field = (k: string) => new RegExp(`[, ]${k}="?([^",]*)"?`).exec(` ${auth}`)?.[1] ?? '';
    const valid = field('username') === expected.username && field('response') === expectedDigest(expected, 'cpe', 'n1', req.method ?? 'GET', field('uri'), field('nc'), field('cnonce'));
    if (!valid) {
      res.writeHead(401, { 'www-authenticate': 'Digest realm="cpe", nonce="n1", qop="auth"' }).end();
      return;
    }
    res.writeHead(200).end();
  });
  await new Promise<void>((r) => crServer.listen(0, '127.0.0.1', r));
  t.teardown(() => crServer.close());
  const crUrl = `http://127.0.0.1:${(crServer.address() as { port: number }).port}/cr`;
  const { d, port } = await setup(t, { cwmp: { auto_register: true } });
  const cpe = new RawCpe(port);
  t.equal((await basicInform(cpe, 'stb-x', 'orig', inform({ serial: 'X1', params: param(`${IGD}ConnectionRequestURL`, crUrl) }))).status, 200);
  const values = await acceptProvisioning(t, cpe);
  t.ok(values['ConnectionRequestPassword'], 'the connection-request credentials are pushed, NAT or not');
  expected = { username: values['ConnectionRequestUsername']!, password: values['ConnectionRequestPassword']! };
  cpe.close();
  await d.api('POST', '/v1/devices/00D09E-STB-X1/tasks', { json: { kind: 'reboot' } });
  t.ok(await until(d, () => seen.length >= 2), 'challenged, then answered');
  t.ok(
    await until(d, async () => /sent; waiting for the device's session/.test((await d.api('GET', '/v1/devices/00D09E-STB-X1/tasks')).body.tasks[0].pending ?? '')),
    'the CPE accepted the Digest answer with the pushed credentials',
  );
});

