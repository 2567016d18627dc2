import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { clientsOf, spawnDaemon, writeTestConfig } from './helpers/daemon.js';
import { faultXml, gpvResponseXml, informXml, responseXml, TestCpe } from './helpers/test-cpe.js';

const IGD = 'InternetGatewayDevice.';
const VERSION = `${IGD}DeviceInfo.SoftwareVersion`;

type Answer = (id: string, method: string, body: string) => string;

/**
 * A CPE on the public internet: it tells the daemon its ConnectionRequestURL in an Inform, and when the daemon
 * calls that URL (as it does when a task is queued) it opens a CWMP session and answers each RPC with
 * `answer`. Everything is driven by the daemon's own requests: no timing guesses.
 */
class CallableCpe {
  readonly cpe: TestCpe;
  readonly #server: Server;
  #url = '';
  #busy = false;
  #again = false;
  /** Every RPC the daemon sent, in order. */
  readonly rpcs: { method: string; body: string }[] = [];
  answer: Answer = (id) => faultXml(id, 9000, 'no answer set');

  constructor(
    cwmpUrl: string,
    readonly id: string,
    password: string,
  ) {
    this.cpe = new TestCpe(cwmpUrl, id, password);
    this.#server = createServer((_req, res) => {
      res.end();
      this.#called();
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.#url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/cr`;
    await this.session(['1 BOOT']);
  }

  /** A connection request: a session now, or right after the one under way (a request may come just as one ends). */
  #called(): void {
    if (this.#busy) return void (this.#again = true);
    this.#busy = true;
    void this.session(['6 CONNECTION REQUEST']).finally(() => {
      this.#busy = false;
      if (this.#again) {
        this.#again = false;
        this.#called();
      }
    });
  }

  async session(events: string[]): Promise<void> {
    this.cpe.endSession();
    const params = { [`${IGD}ManagementServer.ConnectionRequestURL`]: this.#url, ...(events.includes('1 BOOT') ? { [VERSION]: '1.0.0' } : {}) };
    const informed = await this.cpe.post(informXml({ serial: this.id, events, params }));
    if (informed.status !== 200) throw new Error(`Inform answered ${informed.status}`);
    let r = await this.cpe.post('');
    while (r.status === 200) {
      const { id, method } = TestCpe.rpc(r.body);
      this.rpcs.push({ method, body: r.body });
      r = await this.cpe.post(this.answer(id, method, r.body));
    }
    if (r.status !== 204) throw new Error(`the session ended with ${r.status}`);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

t.test('stbctl task commands against a running daemon and a test CPE', async (t) => {
  const dir = t.testdir();
  const config = writeTestConfig(dir);
  const daemon = await spawnDaemon(config);
  t.teardown(() => daemon.stop());
  const { ctl, json, api } = clientsOf(config, daemon, join(dir, 'api.token'));
  for (const id of ['cpe-1', 'ghost']) t.equal((await api('POST', '/v1/devices', { id, cwmpPassword: `${id}-pw`, crPassword: `${id}-cr` })).status, 201);

  const cpe = new CallableCpe(`http://127.0.0.1:${daemon.cwmpPort}/acs`, 'cpe-1', 'cpe-1-pw');
  await cpe.start();
  t.teardown(() => cpe.close());

  t.test('get --wait prints the values the device answered; --json gives {id, status, result}', async (t) => {
    cpe.answer = (id) => gpvResponseXml(id, { [VERSION]: '2.5.1', [`${IGD}Time.NTPServer1`]: 'pool.ntp.org' });
    const r = await ctl('get', 'cpe-1', VERSION, `${IGD}Time.`, '--wait', '10');
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout, `NAME${' '.repeat(46)}VALUE\n${VERSION}  2.5.1\n${IGD}Time.NTPServer1${' '.repeat(13)}pool.ntp.org\n`);
    t.match(cpe.rpcs.at(-1)?.body, new RegExp(`<cwmp:GetParameterValues><ParameterNames[^>]*><string>${VERSION}</string><string>${IGD}Time.</string>`));

    const j = await json('get', 'cpe-1', VERSION, '--wait', '10');
    t.equal(j.code, 0);
    t.same(Object.keys(j.out), ['id', 'status', 'result']);
    t.match(j.out, { id: Number, status: 'done', result: { parameters: [{ name: VERSION, value: '2.5.1', type: 'xsd:string' }] } });
  });

  t.test('set with types: NAME=VALUE operands, --type NAME=TYPE', async (t) => {
    cpe.answer = (id) => responseXml(id, 'SetParameterValuesResponse', '<Status>1</Status>');
    const r = await ctl('set', 'cpe-1', `${IGD}X.Enable=true`, `${IGD}X.Interval=300`, `${IGD}X.Url=http://h/?a=b`, '--type', `${IGD}X.Enable=xsd:boolean`, '--type', `${IGD}X.Interval=unsignedInt`, '--wait', '10');
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout, 'applied; takes effect after a reboot (status 1)\n');
    const body = cpe.rpcs.at(-1)?.body ?? '';
    t.match(body, `<Name>${IGD}X.Enable</Name><Value xsi:type="xsd:boolean">true</Value>`);
    t.match(body, `<Name>${IGD}X.Interval</Name><Value xsi:type="xsd:unsignedInt">300</Value>`);
    t.match(body, `<Name>${IGD}X.Url</Name><Value xsi:type="xsd:string">http://h/?a=b</Value>`, 'the value is everything after the first "="');

    cpe.answer = (id) => responseXml(id, 'SetParameterValuesResponse', '<Status>0</Status>');
    const applied = await ctl('set', 'cpe-1', `${IGD}X.Name=`, '--wait', '10');
    t.equal(applied.stdout, 'applied (status 0)\n');
  });

  t.test('a fault: "fault CODE: MESSAGE" on stderr and exit 1; with --json the task on stdout', async (t) => {
    cpe.answer = (id) => faultXml(id, 9005, 'Invalid parameter name');
    const r = await ctl('get', 'cpe-1', `${IGD}Nope`, '--wait', '10');
    t.equal(r.code, 1);
    t.equal(r.stdout, '');
    t.match(r.stderr, /^stbctl: task \d+ on cpe-1: fault 9005: Invalid parameter name\n$/);
    const j = await json('set', 'cpe-1', `${IGD}Nope=1`, '--wait', '10');
    t.equal(j.code, 1);
    t.match(j.out, { id: Number, status: 'fault', fault: { code: 9005, message: 'Invalid parameter name' } });
  });

  t.test('the other RPCs, each printed readably', async (t) => {
    cpe.answer = (id, method) =>
      ({
        AddObject: responseXml(id, 'AddObjectResponse', '<InstanceNumber>3</InstanceNumber><Status>0</Status>'),
        DeleteObject: responseXml(id, 'DeleteObjectResponse', '<Status>1</Status>'),
        GetParameterNames: responseXml(id, 'GetParameterNamesResponse', `<ParameterList><ParameterInfoStruct><Name>${IGD}Time.Enable</Name><Writable>1</Writable></ParameterInfoStruct><ParameterInfoStruct><Name>${IGD}Time.Status</Name><Writable>0</Writable></ParameterInfoStruct></ParameterList>`),
        Download: responseXml(id, 'DownloadResponse', '<Status>1</Status><StartTime>0001-01-01T00:00:00Z</StartTime><CompleteTime>0001-01-01T00:00:00Z</CompleteTime>'),
        GetParameterValues: gpvResponseXml(id, { [`${IGD}Time.NTPServer1`]: 'ntp.example.net' }),
        Reboot: responseXml(id, 'RebootResponse', ''),
      })[method] ?? faultXml(id, 9000, `unexpected ${method}`);
    const out = async (...args: string[]) => {
      const r = await ctl(...args, '--wait', '10');
      t.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    t.equal(await out('add-object', 'cpe-1', `${IGD}X.PortMapping.`), `created ${IGD}X.PortMapping.3. (status 0)\n`);
    t.equal(await out('delete-object', 'cpe-1', `${IGD}X.PortMapping.3.`), `deleted ${IGD}X.PortMapping.3.; takes effect after a reboot (status 1)\n`);
    t.match(await out('get-names', 'cpe-1', `${IGD}Time.`, '--next-level'), /^NAME\s+WRITABLE\n\S+Time\.Enable\s+yes\n\S+Time\.Status\s+no\n$/);
    t.match(cpe.rpcs.at(-1)?.body, /<NextLevel>true<\/NextLevel>/);
    t.match(await out('download', 'cpe-1', 'https://files.example.net/fw.bin', '--file-type', '3', '--username', 'u', '--password', 'secret-pw', '--file-size', '1024'), /^download accepted; the device reports completion later in a TransferComplete \(see: stbctl task show \d+\)\n$/);
    t.match(cpe.rpcs.at(-1)?.body, /<FileType>3 Vendor Configuration File<\/FileType><URL>https:\/\/files\.example\.net\/fw\.bin<\/URL><Username>u<\/Username><Password>secret-pw<\/Password><FileSize>1024<\/FileSize>/);
    t.match(await out('refresh', 'cpe-1', `${IGD}Time.`), /^NAME\s+VALUE\n\S+Time\.NTPServer1\s+ntp\.example\.net\n$/);
    t.equal(await out('reboot', 'cpe-1'), 'done: cpe-1 accepted the reboot\n');

    const tasks = await json('tasks', 'cpe-1', '--limit', '6');
    t.same(tasks.out.map((x: { kind: string }) => x.kind), ['reboot', 'refresh', 'download', 'getParameterNames', 'deleteObject', 'addObject']);
    t.equal(tasks.out[2].request.password, '(secret)', 'the API never shows the password back');
    const table = await ctl('tasks', 'cpe-1', '--limit', '3');
    t.match(table.stdout, /^ID\s+KIND\s+ORIGIN\s+STATUS\s+CREATED\s+FINISHED\s+DETAIL\n\d+\s+reboot\s+operator\s+done\s+\S+\s+\S+\s+done: cpe-1 accepted the reboot\n\d+\s+refresh\s+operator\s+done .* 1 parameters\n\d+\s+download\s+operator\s+done .* download accepted; .*\n\(older tasks: stbctl tasks cpe-1 --before \d+\)\n$/);
  });

  t.test('no --wait: queued, with why it waits; --wait on a device that never calls in: still pending, exit 1', async (t) => {
    const r = await ctl('reboot', 'ghost');
    t.equal(r.code, 0, r.stderr);
    // On PostgreSQL every stbd is a node of a cluster: a binding not held here may be held by another node.
    t.match(r.stdout, /^task \d+ queued for ghost: device offline( \(it has no known connection-request address\):| on this node \(its NAT binding is not held here\): the node of the cluster holding it, if any, sends the connection request from its STUN socket; else) its tasks wait for its next periodic Inform\n$/);
    const j = await json('factory-reset', 'ghost', '--expires-in', '3600', '--idempotency-key', 'fr-1');
    t.equal(j.code, 0);
    t.same(Object.keys(j.out), ['id', 'status', 'pending']);
    t.match(j.out, { status: 'queued', pending: /^device offline/ });
    const [replay, waited, wj] = await Promise.all([
      json('factory-reset', 'ghost', '--idempotency-key', 'fr-1', '--expires-in', '3600'),
      ctl('get', 'ghost', VERSION, '--wait', '0.5'),
      json('get', 'ghost', VERSION, '--wait', '0.5'),
    ]);
    t.equal(replay.out.id, j.out.id, 'the same key: the same task');
    t.equal(waited.code, 1);
    t.equal(waited.stdout, '');
    t.match(waited.stderr, /^stbctl: task (\d+) still queued after 0\.5 s: device offline .* \(wait longer with: stbctl task show \1 --wait SECONDS\)\n$/);
    t.equal(wj.code, 1);
    t.match(wj.out, { status: 'queued', pending: /^device offline/ });
    t.notOk('result' in wj.out);

    const shown = await ctl('task', 'show', String(wj.out.id));
    t.equal(shown.code, 0);
    t.match(shown.stdout, new RegExp(`^task\\s+${wj.out.id}\\ndevice\\s+ghost\\nkind\\s+getParameterValues\\nrequest\\s+\\{"names":\\["${VERSION.replaceAll('.', '\\.')}"\\]\\}\\n(.*\\n)*status\\s+queued\\n(.*\\n)*pending\\s+device offline`));
    const showWait = await json('task', 'show', String(wj.out.id), '--wait', '0.2');
    t.equal(showWait.code, 1, 'with --wait, exit 1 unless done');
    t.match(showWait.out, { id: wj.out.id, device: 'ghost', status: 'queued', createdAt: String });
  });

  t.test('tasks and task cancel', async (t) => {
    const list = await json('tasks', 'ghost');
    t.equal(list.code, 0);
    t.same(list.out.map((x: { kind: string }) => x.kind), ['getParameterValues', 'getParameterValues', 'factoryReset', 'reboot']);

    const id = String(list.out.at(-1).id);
    const cancelled = await ctl('task', 'cancel', id);
    t.equal(cancelled.code, 0, cancelled.stderr);
    t.equal(cancelled.stdout, `task ${id} cancelled\n`);
    const again = await ctl('task', 'cancel', id);
    t.equal(again.code, 1);
    t.equal(again.stderr, `stbctl: task ${id} is cancelled: only a queued task can be cancelled\n`);
    const [againJson, shown, missing, unknownDevice, unknownQueue] = await Promise.all([
      json('task', 'cancel', id),
      ctl('tasks', 'ghost'),
      ctl('task', 'cancel', '99999'),
      ctl('tasks', 'nope'),
      json('reboot', 'nope'),
    ]);
    t.same(againJson.out, { error: 'not-cancellable', message: `task ${id} is cancelled: only a queued task can be cancelled` });
    t.match(shown.stdout, /^ID\s+KIND\s+ORIGIN\s+STATUS\s+CREATED\s+FINISHED\s+DETAIL\n\d+\s+getParameterValues\s+operator\s+queued\s+\S+\s+-\s+device offline/);
    t.match(shown.stdout, new RegExp(`\\n${id}\\s+reboot\\s+operator\\s+cancelled\\s+\\S+\\s+\\S+\\s+cancelled\\n`));
    t.equal(missing.code, 1);
    t.equal(missing.stderr, 'stbctl: no task 99999\n');
    t.equal(unknownDevice.code, 1);
    t.equal(unknownDevice.stderr, 'stbctl: device "nope" not found\n');
    t.equal(unknownQueue.code, 1);
    t.match(unknownQueue.out, { error: 'unknown-device', message: 'device "nope" not found' });
  });

  t.test('--wait and --expires-in take durations (10s, 5m, 500ms) as well as seconds', async (t) => {
    const q = await json('reboot', 'ghost', '--expires-in', '10m');
    t.equal(q.code, 0, q.stderr);
    const shown = await json('task', 'show', String(q.out.id), '--wait', '500ms');
    t.equal(shown.code, 1, 'still queued after the wait');
    t.equal(Date.parse(shown.out.expiresAt) - Date.parse(shown.out.createdAt), 600_000, '10m is 600 s');
    const waited = await ctl('get', 'ghost', VERSION, '--wait', '500ms');
    t.equal(waited.code, 1);
    t.match(waited.stderr, /^stbctl: task \d+ still queued after 0\.5 s: /);
    await ctl('task', 'cancel', String(q.out.id));
  });

  t.test('usage errors exit 2', async (t) => {
    const cases: [string[], RegExp][] = [
      [['reboot'], /give a device ID, or --all-online, --from FILE or --where EXPR/],
      [['get', VERSION, '--all-online', '--from', 'x'], /give one of --all-online, --from FILE and --where EXPR, not several/],
      [['reboot', '--where', 'online', '--from', 'x'], /give one of --all-online, --from FILE and --where EXPR, not several/],
      [['reboot', 'ghost', '--all-online'], /too many arguments; with --all-online, --from FILE or --where EXPR, give no device ID/],
      [['reboot', '--where', "softwareVersion < AND online"], /^stbctl: option '--where <expr>' argument 'softwareVersion < AND online' is invalid\. where: column 19: expected a value after '<'; see 'stbctl reboot --help'\n$/],
      [['factory-reset', '--where', 'online'], /factory-reset of many devices needs --yes/],
      [['get', 'ghost', VERSION, '--all-online'], /"ghost" is not a parameter name.*give no device ID/],
      [['set', 'ghost', 'novalue'], /expected NAME=VALUE, got "novalue"/],
      [['set', 'ghost', `${IGD}A=1`, '--type', `${IGD}B=xsd:boolean`], /InternetGatewayDevice\.B is not one of the parameters set/],
      [['get', 'ghost', VERSION, '--wait', '301'], /option '--wait <seconds>' argument '301' is invalid\. expected seconds from 0 to 300/],
      [['add-object', 'ghost', `${IGD}X`], /PATH must be an object path ending in "\."/],
      [['task', 'cancel', 'abc'], /TASK must be a task id/],
      [['task', 'show', '1', '--frob'], /^stbctl: unknown option '--frob'; see 'stbctl task show --help'\n$/],
      [['task', 'show'], /^stbctl: missing required argument 'task'; see 'stbctl task show --help'\n$/],
      [['get', 'ghost', VERSION, '--wait', '5h'], /^stbctl: option '--wait <seconds>' argument '5h' is invalid\. expected seconds from 0 to 300 \(e\.g\. 30, 10s, 5m, 500ms\); see 'stbctl get --help'\n$/],
      [['reboot', 'ghost', '--expires-in', '500ms'], /^stbctl: option '--expires-in <seconds>' argument '500ms' is invalid\. expected whole seconds/],
      [['tasks', 'ghost', '--limit', '0'], /^stbctl: option '--limit <n>' argument '0' is invalid.*; see 'stbctl tasks --help'\n$/],
      [['factory-reset', '--all-online'], /factory-reset of many devices needs --yes/],
    ];
    const results = await Promise.all(cases.map(([args]) => ctl(...args)));
    results.forEach((r, i) => {
      const [args, message] = cases[i]!;
      t.equal(r.code, 2, `${args.join(' ')} exits 2`);
      t.match(r.stderr, message, args.join(' '));
      t.match(r.stderr, /^stbctl: [^\n]*; see 'stbctl [a-z -]+ --help'\n$/, `${args.join(' ')}: one line naming the command's help`);
      t.notMatch(r.stderr, /Usage:/, 'never the whole help text');
    });
    const j = await json('reboot');
    t.same(j.out, { error: 'bad-usage', message: "give a device ID, or --all-online, --from FILE or --where EXPR; see 'stbctl reboot --help'" });
    const badJson = await json('task', 'show', '--wait', 'soon', '1');
    t.equal(badJson.code, 2);
    t.match(badJson.out, { error: 'bad-usage', message: /^option '--wait <seconds>' argument 'soon' is invalid.*; see 'stbctl task show --help'$/ });
  });

  t.test('bulk --from FILE: one answers, one never calls in, one is unknown: table, summary, exit 1', async (t) => {
    cpe.answer = (id) => gpvResponseXml(id, { [VERSION]: '2.5.1' });
    const file = join(dir, 'ids.txt');
    writeFileSync(file, '# the pilot group\ncpe-1\n\nghost\nnope\ncpe-1\n');
    const r = await ctl('get', '--from', file, VERSION, '--wait', '1');
    t.equal(r.code, 1);
    t.equal(r.stderr, '', 'no progress bar when stderr is not a terminal');
    t.match(r.stdout, /^DEVICE\s+TASK\s+STATUS\s+DETAIL\ncpe-1\s+\d+\s+done\s+InternetGatewayDevice\.DeviceInfo\.SoftwareVersion=2\.5\.1\nghost\s+\d+\s+queued\s+device offline .*\nnope\s+-\s+failed\s+device "nope" not found\n/);
    t.match(r.stdout, /\n3 devices: 1 done, 0 fault, 1 pending, 1 failed to queue\n$/);

    cpe.answer = (id) => faultXml(id, 9001, 'Request denied');
    const j = await json('reboot', '--from', file, '--idempotency-key', 'bulk-1');
    t.equal(j.code, 1, 'without --wait, exit 1 because one could not be queued');
    t.match(j.out, { total: 3, done: 0, fault: 0, pending: 2, failed: 1, expired: 0, cancelled: 0 });
    t.match(j.out.tasks, [
      { device: 'cpe-1', id: Number, status: /queued|sent/ },
      { device: 'ghost', id: Number, status: 'queued', pending: /^device offline/ },
      { device: 'nope', id: null, status: 'failed', error: 'unknown-device', message: String },
    ]);
    const keyed = await api('GET', `/v1/tasks/${j.out.tasks[1].id}`);
    t.equal((keyed.body as { idempotencyKey: string }).idempotencyKey, 'bulk-1', 'keys are per device: the same key for each');

    const w = await json('reboot', '--from', file, '--idempotency-key', 'bulk-1', '--wait', '1');
    t.equal(w.code, 1);
    t.match(w.out, { total: 3, done: 0, fault: 1, pending: 1, failed: 1 });
    t.match(w.out.tasks[0], { device: 'cpe-1', status: 'fault', fault: { code: 9001 } });

    const empty = join(dir, 'empty.txt');
    writeFileSync(empty, '# nobody yet\n\n');
    const [none, missing, refused, emptyFile, emptyJson] = await Promise.all([
      ctl('reboot', '--all-online', '--wait', '5s'),
      ctl('reboot', '--from', join(dir, 'missing.txt')),
      json('set', '--from', file, `${IGD}A=1`, '--type', `${IGD}A=xsd:${'x'.repeat(40)}`),
      ctl('reboot', '--from', empty),
      json('reboot', '--all-online'),
    ]);
    t.equal(none.code, 1, 'nobody online: said so, exit 1');
    t.equal(none.stdout, '');
    t.equal(none.stderr, 'stbctl: no device is online\n');
    t.equal(emptyFile.code, 1);
    t.equal(emptyFile.stderr, `stbctl: ${empty} lists no device\n`);
    t.equal(emptyJson.code, 1);
    t.same(emptyJson.out, { error: 'empty-selection', message: 'no device is online' });
    t.equal(missing.code, 1);
    t.match(missing.stderr, /^stbctl: cannot read .*missing\.txt \(ENOENT\)\n$/);
    t.equal(refused.code, 1, 'a body the API refuses stops the run at the first device');
    t.match(refused.out, { error: 'bad-request' });
  });

  t.test('device show: the management summary and the last known parameters', async (t) => {
    const r = await ctl('device', 'show', 'cpe-1');
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /^id\s+cpe-1\n/);
    t.match(r.stdout, /\nmanagement \(TR-069\):\nlast inform\s+\d{4}-\S+Z\nlast events\s+6 CONNECTION REQUEST\ndevice info\s+Acme 00D09E-STB-cpe-1\ndata model\s+InternetGatewayDevice\.\n/);
    t.match(r.stdout, /\nbehind nat\s+no\nkeepalive provisioned\s+no\nprovisioning\s+ok\n/);
    t.match(r.stdout, /\nlast known parameters:\nNAME\s+VALUE\s+UPDATED\n/);
    t.match(r.stdout, /\nInternetGatewayDevice\.DeviceInfo\.SoftwareVersion\s+2\.5\.1\s+\d{4}-\S+Z\n/, 'the value from the last result');
    t.match(r.stdout, /\nInternetGatewayDevice\.Time\.NTPServer1\s+ntp\.example\.net\s+/);
    const again = await ctl('provision', 'cpe-1');
    t.equal(again.code, 0, again.stderr);
    t.match(again.stdout, /^cpe-1: provisioning is retried (in the session the connection request asks for|at the device's next Inform)\n$/);
    const never = await ctl('provision', 'ghost');
    t.equal(never.stdout, 'ghost: the device has not called in yet: it is provisioned in its first session\n');
    t.equal((await ctl('provision', 'nobody')).code, 1);
    const ghost = await ctl('device', 'show', 'ghost');
    t.match(ghost.stdout, /\nlast inform\s+never\n(.*\n)*behind nat\s+unknown\n(.*\n)*last known parameters: none/);
  });
});
