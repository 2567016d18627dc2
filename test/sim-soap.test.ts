import t from 'tap';
import { CwmpSoap } from '../src/management/cwmp-soap.js';
import { AcsMessageError, CpeSoap } from '../src/sim/cpe-soap.js';
import { CwmpFault } from '../src/sim/cwmp-fault.js';
import { treeDefinition } from '../src/sim/data-model.js';
import { ParamTree } from '../src/sim/param-tree.js';
import { handleRpc, SUPPORTED_RPCS } from '../src/sim/rpc-handler.js';

// The daemon's own SOAP code on one side, the simulator's independent one on the other.
const acs = new CwmpSoap();
const cpe = new CpeSoap();
const MS = 'InternetGatewayDevice.ManagementServer.';
const newTree = () =>
  new ParamTree(
    treeDefinition('tr098', { id: 'sim-0001', acsUrl: 'http://acs/', cwmpUsername: 'u', cwmpPassword: 'p', crUsername: 'cu', crPassword: 'cp', informIntervalS: 300, wanAddress: '10.0.0.2' }),
  );

/** Runs an ACS request through the simulator and parses its answer with the daemon's parser. */
function roundTrip(tree: ParamTree, xml: string) {
  const msg = cpe.parse(xml);
  let answer: string;
  try {
    const r = handleRpc(tree, msg);
    answer = cpe.envelope(msg.version, msg.id, r.method, r.content);
  } catch (err) {
    answer = cpe.fault(msg.version, msg.id, err as CwmpFault);
  }
  return acs.parse(answer);
}

const acsRpc = (version: string, id: string, body: string) =>
  `<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:c="urn:dslforum-org:cwmp-${version}"><soapenv:Header><c:ID soapenv:mustUnderstand="1">${id}</c:ID></soapenv:Header><soapenv:Body>${body}</soapenv:Body></soapenv:Envelope>`;

t.test("the simulator's Inform, read by the daemon", async (t) => {
  const tree = newTree();
  const xml = cpe.inform('1-3', 'inf-1', {
    deviceId: { manufacturer: 'stbsim', oui: '00D09E', productClass: 'STB', serialNumber: 'sim-0001' },
    events: [
      { code: '0 BOOTSTRAP', commandKey: '' },
      { code: 'M Reboot', commandKey: 'rb & <1>' },
    ],
    currentTime: '2026-01-01T00:00:00Z',
    retryCount: 2,
    parameters: tree.getValues([`${MS}ConnectionRequestURL`, `${MS}NATDetected`, `${MS}PeriodicInformInterval`]),
  });
  const m = acs.parse(xml);
  t.equal(m.version, '1-3');
  t.equal(m.id, 'inf-1');
  t.same(m.body, {
    kind: 'Inform',
    deviceId: { manufacturer: 'stbsim', oui: '00D09E', productClass: 'STB', serialNumber: 'sim-0001' },
    events: [
      { code: '0 BOOTSTRAP', commandKey: '' },
      { code: 'M Reboot', commandKey: 'rb & <1>' },
    ],
    parameters: [
      { name: `${MS}ConnectionRequestURL`, value: '', type: 'xsd:string' },
      { name: `${MS}NATDetected`, value: 'false', type: 'xsd:boolean' },
      { name: `${MS}PeriodicInformInterval`, value: '300', type: 'xsd:unsignedInt' },
    ],
    retryCount: 2,
  });
  const tc = acs.parse(cpe.transferComplete('1-0', 'tc-1', { commandKey: 'dl', faultCode: 9010, faultString: 'Download failure', startTime: 'x', completeTime: 'y' }));
  t.same(tc.body, { kind: 'TransferComplete', commandKey: 'dl', faultCode: 9010, faultString: 'Download failure' });
});

t.test("the daemon's RPCs, answered by the simulator", async (t) => {
  const tree = newTree();
  const gpv = roundTrip(tree, acs.getParameterValues('1-2', 'req-1', [`${MS}PeriodicInformInterval`, 'InternetGatewayDevice.DeviceInfo.']));
  t.equal(gpv.version, '1-2', 'answered in the ACS version');
  t.equal(gpv.id, 'req-1', 'cwmp:ID echoed');
  if (gpv.body.kind !== 'Response') throw new Error(gpv.body.kind);
  t.equal(gpv.body.method, 'GetParameterValuesResponse');
  const values = acs.parameterValues(gpv.body.body);
  t.same(values[0], { name: `${MS}PeriodicInformInterval`, value: '300', type: 'xsd:unsignedInt' });
  t.ok(values.some((v) => v.name === 'InternetGatewayDevice.DeviceInfo.SerialNumber' && v.value === 'sim-0001'));

  const spv = roundTrip(
    tree,
    acs.setParameterValues(
      '1-0',
      'req-2',
      [
        { name: `${MS}PeriodicInformInterval`, value: '60', type: 'xsd:unsignedInt' },
        { name: 'InternetGatewayDevice.DeviceInfo.ProvisioningCode', value: 'a<b>&"c"', type: 'xsd:string' },
      ],
      'key-7',
    ),
  );
  t.match(spv.body, { kind: 'Response', method: 'SetParameterValuesResponse', body: { Status: '0' } });
  t.equal(tree.value(`${MS}PeriodicInformInterval`), '60');
  t.equal(tree.value('InternetGatewayDevice.DeviceInfo.ProvisioningCode'), 'a<b>&"c"', 'escaped and unescaped');
  t.equal(tree.value(`${MS}ParameterKey`), 'key-7');

  const bad = roundTrip(tree, acs.setParameterValues('1-0', 'req-3', [{ name: `${MS}Nope`, value: '1', type: 'xsd:string' }], 'k'));
  t.same([bad.id, bad.body], ['req-3', { kind: 'Fault', code: 9005, message: 'Invalid parameter name', details: [{ parameter: 'InternetGatewayDevice.ManagementServer.Nope', code: 9005, message: 'Invalid parameter name' }] }]);

  const reboot = cpe.parse(acs.reboot('1-1', 'req-4', 'rb-9'));
  t.same(handleRpc(tree, reboot).after, { kind: 'reboot', commandKey: 'rb-9' });
  t.match(roundTrip(tree, acs.reboot('1-1', 'req-4', 'rb-9')), { version: '1-1', id: 'req-4', body: { kind: 'Response', method: 'RebootResponse' } });
});

t.test('a SetParameterValues fault lists every parameter', async (t) => {
  const xml = cpe.fault('1-0', 'x', new CwmpFault(9003, 'Invalid arguments', [{ name: 'A', code: 9008, message: 'ro' }, { name: 'B', code: 9007, message: 'bad' }]));
  t.match(xml, /<SetParameterValuesFault><ParameterName>A<\/ParameterName><FaultCode>9008<\/FaultCode>/);
  t.match(xml, /<faultcode>Client<\/faultcode>/);
  t.same(acs.parse(xml).body, { kind: 'Fault', code: 9003, message: 'Invalid arguments', details: [{ parameter: 'A', code: 9008, message: 'ro' }, { parameter: 'B', code: 9007, message: 'bad' }] });
  t.match(cpe.fault('1-0', undefined, new CwmpFault(9002)), /<faultcode>Server<\/faultcode>.*<FaultString>Internal error<\/FaultString>/);
});

t.test('the other RPCs, in any prefix', async (t) => {
  const tree = newTree();
  const fwd = 'InternetGatewayDevice.Layer3Forwarding.Forwarding.';
  const gpn = roundTrip(tree, acsRpc('1-4', 'n1', `<c:GetParameterNames><ParameterPath>${fwd}</ParameterPath><NextLevel>1</NextLevel></c:GetParameterNames>`));
  if (gpn.body.kind !== 'Response') throw new Error(gpn.body.kind);
  t.same(gpn.body.body, { ParameterList: { '@arrayType': 'cwmp:ParameterInfoStruct[1]', ParameterInfoStruct: [{ Name: `${fwd}1.`, Writable: '1' }] } });
  t.match(roundTrip(tree, acsRpc('1-0', 'n2', '<c:GetParameterNames><ParameterPath></ParameterPath><NextLevel>maybe</NextLevel></c:GetParameterNames>')).body, { kind: 'Fault', code: 9003 });

  t.match(roundTrip(tree, acsRpc('1-0', 'a1', `<c:AddObject><ObjectName>${fwd}</ObjectName><ParameterKey>k</ParameterKey></c:AddObject>`)).body, {
    kind: 'Response',
    method: 'AddObjectResponse',
    body: { InstanceNumber: '2', Status: '0' },
  });
  t.match(roundTrip(tree, acsRpc('1-0', 'd1', `<c:DeleteObject><ObjectName>${fwd}1.</ObjectName><ParameterKey>k</ParameterKey></c:DeleteObject>`)).body, {
    kind: 'Response',
    method: 'DeleteObjectResponse',
    body: { Status: '0' },
  });
  t.match(roundTrip(tree, acsRpc('1-0', 'd2', `<c:DeleteObject><ObjectName>${fwd}1.</ObjectName><ParameterKey>k</ParameterKey></c:DeleteObject>`)).body, { kind: 'Fault', code: 9005 });

  const methods = roundTrip(tree, acsRpc('1-0', 'm', '<c:GetRPCMethods/>'));
  if (methods.body.kind !== 'Response') throw new Error(methods.body.kind);
  t.same((methods.body.body['MethodList'] as { string: string[] }).string, [...SUPPORTED_RPCS]);

  const factory = cpe.parse(acsRpc('1-0', 'f', '<c:FactoryReset/>'));
  t.same(handleRpc(tree, factory), { method: 'FactoryResetResponse', content: {}, after: { kind: 'factory-reset' } });

  const dl = cpe.parse(acsRpc('1-0', 'dl', '<c:Download><CommandKey>dl-1</CommandKey><FileType>1 Firmware Upgrade Image</FileType><URL>http://files/fw.bin</URL><FileSize>10</FileSize></c:Download>'));
  t.match(handleRpc(tree, dl), { method: 'DownloadResponse', content: { Status: 1 }, after: { kind: 'download', commandKey: 'dl-1', url: 'http://files/fw.bin' } });
  t.match(roundTrip(tree, acsRpc('1-0', 'dl', '<c:Download><CommandKey>x</CommandKey></c:Download>')).body, { kind: 'Fault', code: 9003 });

  t.match(roundTrip(tree, acsRpc('1-0', 'u', '<c:GetAllQueuedTransfers/>')).body, { kind: 'Fault', code: 9000 });
  const empty = cpe.parse(acsRpc('1-0', 'e', '<c:GetParameterValues><ParameterNames/></c:GetParameterValues>'));
  t.same(handleRpc(tree, empty).content, { ParameterList: { '@SOAP-ENC:arrayType': 'cwmp:ParameterValueStruct[0]', ParameterValueStruct: [] } });
});

t.test('GetParameterAttributes, SetParameterAttributes, ScheduleInform and Upload: built by the daemon, answered by the simulator, read by the daemon', async (t) => {
  const tree = newTree();
  const DI = 'InternetGatewayDevice.DeviceInfo.';
  const set = roundTrip(tree, acs.setParameterAttributes('1-2', 's1', [{ name: `${DI}SoftwareVersion`, notification: 2 }, { name: 'InternetGatewayDevice.X_STBSIM_Player.', notification: 1 }]));
  t.match(set, { id: 's1', body: { kind: 'Response', method: 'SetParameterAttributesResponse' } });
  const get = roundTrip(tree, acs.getParameterAttributes('1-2', 'g1', [`${DI}SoftwareVersion`, 'InternetGatewayDevice.X_STBSIM_Player.', `${DI}UpTime`]));
  if (get.body.kind !== 'Response') throw new Error(get.body.kind);
  t.same(acs.parameterAttributes(get.body.body), [
    { name: `${DI}SoftwareVersion`, notification: 'active', accessList: [] },
    { name: 'InternetGatewayDevice.X_STBSIM_Player.Channel', notification: 'passive', accessList: [] },
    { name: 'InternetGatewayDevice.X_STBSIM_Player.Volume', notification: 'passive', accessList: [] },
    { name: 'InternetGatewayDevice.X_STBSIM_Player.Standby', notification: 'passive', accessList: [] },
    { name: `${DI}UpTime`, notification: 'off', accessList: [] },
  ]);
  t.match(roundTrip(tree, acs.setParameterAttributes('1-2', 's2', [{ name: `${DI}UpTime`, notification: 2 }])).body, { kind: 'Fault', code: 9009 }, 'active notification refused on a counter');
  t.match(roundTrip(tree, acs.setParameterAttributes('1-2', 's3', [{ name: `${DI}Nope`, notification: 1 }])).body, { kind: 'Fault', code: 9005 });
  t.match(roundTrip(tree, acs.setParameterAttributes('1-2', 's4', [{ name: `${DI}SoftwareVersion`, notification: 4 }])).body, { kind: 'Fault', code: 9003 });
  t.equal(tree.getAttributes([`${DI}SoftwareVersion`])[0]?.notification, 2, 'a refused request changes nothing');
  const access = cpe.parse(acsRpc('1-0', 'a', `<c:SetParameterAttributes><ParameterList><SetParameterAttributesStruct><Name>${DI}ProvisioningCode</Name><NotificationChange>false</NotificationChange><Notification>2</Notification><AccessListChange>true</AccessListChange><AccessList><string>Subscriber</string></AccessList></SetParameterAttributesStruct></ParameterList></c:SetParameterAttributes>`));
  handleRpc(tree, access);
  t.same(tree.getAttributes([`${DI}ProvisioningCode`]), [{ name: `${DI}ProvisioningCode`, notification: 0, accessList: ['Subscriber'] }], 'NotificationChange false leaves the notification; the access list changes');

  const scheduled = cpe.parse(acs.scheduleInform('1-2', 'si', 90, 'stbd-5'));
  t.same(handleRpc(tree, scheduled), { method: 'ScheduleInformResponse', content: {}, after: { kind: 'schedule-inform', commandKey: 'stbd-5', delaySeconds: 90 } });
  t.match(roundTrip(tree, acs.scheduleInform('1-2', 'si', 0, 'k')).body, { kind: 'Fault', code: 9003 }, 'DelaySeconds 0 is refused');

  const upload = cpe.parse(acs.upload('1-2', 'up', '2 Vendor Log File', 'http://acs:7547/stbd-upload/5/tok', 'stbd-5'));
  t.match(handleRpc(tree, upload), { method: 'UploadResponse', content: { Status: 1 }, after: { kind: 'upload', commandKey: 'stbd-5', url: 'http://acs:7547/stbd-upload/5/tok', what: 'log', username: '', password: '', delaySeconds: 0 } });
  const answered = roundTrip(tree, acs.upload('1-2', 'up', '1 Vendor Configuration File', 'http://acs/u', 'k'));
  t.match(answered.body, { kind: 'Response', method: 'UploadResponse', body: { Status: '1', StartTime: '0001-01-01T00:00:00Z' } });
  t.match(roundTrip(tree, acs.upload('1-2', 'up', '1 Vendor Configuration File', 'ftp://acs/u', 'k')).body, { kind: 'Fault', code: 9013 });
  t.match(roundTrip(tree, acs.upload('1-2', 'up', 'X 00D09E Dump', 'http://acs/u', 'k')).body, { kind: 'Fault', code: 9003 });
});

t.test('what the simulator cannot read is an AcsMessageError', async (t) => {
  for (const xml of ['', '<a><b></a>', '<x/>', '<s:Envelope xmlns:s="x"/>', '<s:Envelope xmlns:s="x"><s:Body/></s:Envelope>']) {
    t.throws(() => cpe.parse(xml), AcsMessageError, JSON.stringify(xml));
  }
  const noNs = cpe.parse('<Envelope><Body><InformResponse><MaxEnvelopes>1</MaxEnvelopes></InformResponse></Body></Envelope>');
  t.same(noNs, { version: '1-0', id: undefined, method: 'InformResponse', args: { MaxEnvelopes: '1' } });
  t.equal(cpe.parse(acs.informResponse('1-4', 'i')).version, '1-4');
});
