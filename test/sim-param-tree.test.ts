import t from 'tap';
import { CwmpFault } from '../src/sim/cwmp-fault.js';
import { treeDefinition, type DeviceFacts } from '../src/sim/data-model.js';
import { normalizeValue, ParamTree } from '../src/sim/param-tree.js';

const facts: DeviceFacts = {
  id: 'sim-0001',
  acsUrl: 'http://127.0.0.1:7547/',
  cwmpUsername: 'sim-0001',
  cwmpPassword: 'cwmp-pw',
  crUsername: 'sim-0001',
  crPassword: 'cr-pw',
  informIntervalS: 300,
  wanAddress: '127.0.0.1',
};
const MS = 'InternetGatewayDevice.ManagementServer.';
const FWD = 'InternetGatewayDevice.Layer3Forwarding.Forwarding.';

const faultOf = (fn: () => unknown): CwmpFault => {
  try {
    fn();
  } catch (err) {
    if (err instanceof CwmpFault) return err;
    throw err;
  }
  throw new Error('no fault');
};

t.test('GetParameterValues: full names, partial paths, passwords read back empty', async (t) => {
  const tree = new ParamTree(treeDefinition('tr098', facts));
  t.same(tree.getValues([`${MS}PeriodicInformInterval`]), [{ name: `${MS}PeriodicInformInterval`, value: '300', type: 'xsd:unsignedInt' }]);
  const ms = tree.getValues([MS]);
  t.ok(ms.length >= 19, 'every ManagementServer parameter');
  t.ok(ms.every((p) => p.name.startsWith(MS)));
  t.equal(ms.find((p) => p.name === `${MS}ConnectionRequestPassword`)?.value, '', 'password empty on read');
  t.equal(ms.find((p) => p.name === `${MS}Password`)?.value, '');
  t.equal(tree.value(`${MS}ConnectionRequestPassword`), 'cr-pw', 'but kept for the device itself');
  t.equal(tree.getValues(['']).length, tree.getValues(['InternetGatewayDevice.']).length, '"" is the whole tree');
  t.equal(faultOf(() => tree.getValues(['InternetGatewayDevice.Nope'])).code, 9005);
  t.equal(faultOf(() => tree.getValues(['InternetGatewayDevice.Nope.'])).code, 9005);
  t.equal(faultOf(() => tree.getValues(['InternetGatewayDevice.DeviceInfo'])).code, 9005, 'an object without its dot is no parameter');
});

t.test('SetParameterValues: all or nothing, 9005/9007/9008, ParameterKey', async (t) => {
  const tree = new ParamTree(treeDefinition('tr181', facts));
  const ms = 'Device.ManagementServer.';
  const changed = tree.setValues(
    [
      { name: `${ms}STUNEnable`, value: '1' },
      { name: `${ms}STUNServerPort`, value: '3479' },
      { name: `${ms}STUNServerAddress`, value: '127.0.0.1' },
      { name: `${ms}STUNMaximumKeepAlivePeriod`, value: '-1' },
    ],
    'key-1',
  );
  t.same(changed, [`${ms}STUNEnable`, `${ms}STUNServerPort`, `${ms}STUNServerAddress`]);
  t.equal(tree.value(`${ms}STUNEnable`), 'true', 'booleans normalized');
  t.equal(tree.value(`${ms}ParameterKey`), 'key-1');

  const unknown = faultOf(() => tree.setValues([{ name: `${ms}PeriodicInformInterval`, value: '60' }, { name: `${ms}Bogus`, value: 'x' }], 'key-2'));
  t.equal(unknown.code, 9005);
  t.same(unknown.parameterFaults, [{ name: `${ms}Bogus`, code: 9005, message: 'Invalid parameter name' }]);
  t.equal(tree.value(`${ms}PeriodicInformInterval`), '300', 'nothing applied');
  t.equal(tree.value(`${ms}ParameterKey`), 'key-1', 'ParameterKey unchanged');

  t.equal(faultOf(() => tree.setValues([{ name: `${ms}NATDetected`, value: 'true' }], 'k')).code, 9008);
  t.equal(faultOf(() => tree.setValues([{ name: `${ms}STUNEnable`, value: 'yes' }], 'k')).code, 9007);
  t.equal(faultOf(() => tree.setValues([{ name: `${ms}PeriodicInformInterval`, value: '-5' }], 'k')).code, 9007);
  const mixed = faultOf(() => tree.setValues([{ name: `${ms}NATDetected`, value: 'true' }, { name: `${ms}STUNServerPort`, value: 'x' }], 'k'));
  t.equal(mixed.code, 9003, 'different per-parameter faults: Invalid arguments');
  t.same(mixed.parameterFaults.map((f) => f.code), [9008, 9007]);
});

t.test('value types', async (t) => {
  t.equal(normalizeValue('xsd:unsignedInt', '4294967295'), '4294967295');
  t.equal(normalizeValue('xsd:unsignedInt', '4294967296'), undefined);
  t.equal(normalizeValue('xsd:int', '-12'), '-12');
  t.equal(normalizeValue('xsd:int', '1.5'), undefined);
  t.equal(normalizeValue('xsd:boolean', '0'), 'false');
  t.equal(normalizeValue('xsd:dateTime', '2026-01-01T00:00:00Z'), '2026-01-01T00:00:00Z');
  t.equal(normalizeValue('xsd:dateTime', 'soon'), undefined);
  t.equal(normalizeValue('xsd:string', ''), '');
});

t.test('GetParameterNames', async (t) => {
  const tree = new ParamTree(treeDefinition('tr098', facts));
  t.same(tree.getNames('', true), [{ name: 'InternetGatewayDevice.', writable: false }]);
  const top = tree.getNames('InternetGatewayDevice.', true).map((p) => p.name);
  t.ok(top.includes('InternetGatewayDevice.ManagementServer.'));
  t.ok(top.includes('InternetGatewayDevice.Layer3Forwarding.'));
  t.notOk(top.some((n) => n.startsWith('InternetGatewayDevice.DeviceInfo.') && n !== 'InternetGatewayDevice.DeviceInfo.'), 'next level only');
  const di = tree.getNames('InternetGatewayDevice.DeviceInfo.', false);
  t.equal(di[0]?.name, 'InternetGatewayDevice.DeviceInfo.', 'the path itself first');
  t.ok(di.some((p) => p.name === 'InternetGatewayDevice.DeviceInfo.ProvisioningCode' && p.writable));
  t.same(tree.getNames(`${MS}URL`, false), [{ name: `${MS}URL`, writable: true }]);
  t.equal(faultOf(() => tree.getNames(`${MS}URL`, true)).code, 9003);
  t.equal(faultOf(() => tree.getNames('InternetGatewayDevice.Nope.', true)).code, 9005);
  t.same(tree.getNames(FWD, true), [{ name: `${FWD}1.`, writable: true }], 'the default instance');
  t.ok(tree.getNames('', false).length > 40);
});

t.test('AddObject / DeleteObject / factory reset', async (t) => {
  const tree = new ParamTree(treeDefinition('tr098', facts));
  const count = 'InternetGatewayDevice.Layer3Forwarding.ForwardNumberOfEntries';
  t.equal(tree.value(count), '1');
  t.equal(tree.addObject(FWD, 'add-1'), 2);
  t.equal(tree.value(`${MS}ParameterKey`), 'add-1');
  t.equal(tree.value(count), '2');
  t.same(tree.getValues([`${FWD}2.Enable`]), [{ name: `${FWD}2.Enable`, value: 'true', type: 'xsd:boolean' }]);
  tree.setValues([{ name: `${FWD}2.DestIPAddress`, value: '10.0.0.0' }], 'set-1');
  tree.deleteObject(`${FWD}1.`, 'del-1');
  t.equal(tree.value(count), '1');
  t.equal(faultOf(() => tree.getValues([`${FWD}1.`])).code, 9005);
  t.equal(faultOf(() => tree.deleteObject(`${FWD}1.`, 'x')).code, 9005, 'already gone');
  t.equal(faultOf(() => tree.deleteObject('InternetGatewayDevice.DeviceInfo.', 'x')).code, 9005, 'not an instance');
  t.equal(faultOf(() => tree.addObject('InternetGatewayDevice.DeviceInfo.', 'x')).code, 9005, 'not a table');
  t.equal(tree.addObject(FWD, 'add-2'), 3, 'instance numbers are not reused');
  tree.setInternal(`${MS}NATDetected`, 'true');
  tree.setInternal('InternetGatewayDevice.Nope', 'ignored');
  tree.reset();
  t.equal(tree.value(count), '1');
  t.equal(tree.value(`${MS}ParameterKey`), '');
  t.equal(tree.value(`${MS}NATDetected`), 'false');
  t.same(tree.getNames(FWD, true).map((p) => p.name), [`${FWD}1.`]);
});

t.test('TR-181 has the same parameters under Device.', async (t) => {
  const tree = new ParamTree(treeDefinition('tr181', { ...facts, stun: { host: '127.0.0.1', port: 3478, username: 'u', password: 'p' } }));
  t.equal(tree.root, 'Device.');
  t.equal(tree.value('Device.ManagementServer.STUNEnable'), 'true', 'pre-provisioned STUN');
  t.equal(tree.value('Device.IP.Interface.1.IPv4Address.1.IPAddress'), '127.0.0.1');
  t.equal(tree.value('Device.Routing.Router.1.IPv4ForwardingNumberOfEntries'), '1');
  t.equal(tree.value('Device.Time.NTPServer1'), 'pool.ntp.org');
});

t.test('attributes: notification on values the device changes itself is remembered for the next Inform; ACS writes are not notified', async (t) => {
  const tree = new ParamTree(treeDefinition('tr098', facts));
  const CH = 'InternetGatewayDevice.X_STBSIM_Player.Channel';
  const NTP = 'InternetGatewayDevice.Time.NTPServer1';
  t.equal(tree.setInternal(CH, '5'), 0, 'notification off: not reported');
  t.same(tree.changed(), []);
  tree.setAttributes([
    { name: CH, notificationChange: true, notification: 2, accessListChange: false, accessList: [] },
    { name: NTP, notificationChange: true, notification: 1, accessListChange: false, accessList: [] },
  ]);
  t.equal(tree.setInternal(CH, '5'), 0, 'the same value is no change');
  t.equal(tree.setInternal(CH, '6'), 2);
  t.equal(tree.setInternal(NTP, 'ntp.example.net'), 1);
  t.same(tree.changed(), [
    { name: CH, value: '6', type: 'xsd:unsignedInt' },
    { name: NTP, value: 'ntp.example.net', type: 'xsd:string' },
  ]);
  tree.delivered([CH]);
  t.same(tree.changed().map((c) => c.name), [NTP], 'delivered ones are forgotten');
  tree.setValues([{ name: CH, value: '9' }], 'k');
  t.same(tree.changed().map((c) => c.name), [NTP], 'a SetParameterValues by the ACS is not a notification');
  t.equal(faultOf(() => tree.setAttributes([{ name: 'InternetGatewayDevice.DeviceInfo.UpTime', notificationChange: true, notification: 2, accessListChange: false, accessList: [] }])).code, 9009);
  t.equal(faultOf(() => tree.setAttributes([{ name: 'InternetGatewayDevice.Nope.', notificationChange: true, notification: 1, accessListChange: false, accessList: [] }])).code, 9005);
  tree.reset();
  t.same(tree.getAttributes([CH]), [{ name: CH, notification: 0, accessList: [] }], 'a factory reset forgets attributes');
  t.same(tree.changed(), []);
});

t.test('configFile: every writable parameter as NAME=VALUE, passwords empty', async (t) => {
  const tree = new ParamTree(treeDefinition('tr098', facts));
  const file = tree.configFile();
  t.match(file, `${MS}PeriodicInformInterval=300\n`);
  t.match(file, `${MS}PeriodicInformTime=0001-01-01T00:00:00Z\n`);
  t.match(file, `${MS}Password=\n`);
  t.notMatch(file, 'cwmp-pw', 'no secret in the file');
  t.notMatch(file, 'SerialNumber', 'read-only values are not configuration');
});
