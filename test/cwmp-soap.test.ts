import t from 'tap';
import { CwmpSoap, notificationName, SoapError } from '../src/management/cwmp-soap.js';

const soap = new CwmpSoap();

const inform = (envPrefix: string, version: string) => `<?xml version="1.0" encoding="UTF-8"?>
<${envPrefix}:Envelope xmlns:${envPrefix}="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-${version}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <${envPrefix}:Header><cwmp:ID ${envPrefix}:mustUnderstand="1">abc-42</cwmp:ID></${envPrefix}:Header>
  <${envPrefix}:Body>
    <cwmp:Inform>
      <DeviceId><Manufacturer>ACME &amp; Co</Manufacturer><OUI>00259E</OUI><ProductClass>STB</ProductClass><SerialNumber>0001</SerialNumber></DeviceId>
      <Event><EventStruct><EventCode>1 BOOT</EventCode><CommandKey/></EventStruct><EventStruct><EventCode>M Reboot</EventCode><CommandKey>k1</CommandKey></EventStruct></Event>
      <MaxEnvelopes>1</MaxEnvelopes><CurrentTime>2026-01-01T00:00:00Z</CurrentTime><RetryCount>2</RetryCount>
      <ParameterList>
        <ParameterValueStruct><Name>Device.ManagementServer.ConnectionRequestURL</Name><Value xsi:type="xsd:string">http://10.0.0.2:7547/cr</Value></ParameterValueStruct>
        <ParameterValueStruct><Name>Device.ManagementServer.NATDetected</Name><Value xsi:type="xsd:boolean">true</Value></ParameterValueStruct>
      </ParameterList>
    </cwmp:Inform>
  </${envPrefix}:Body>
</${envPrefix}:Envelope>`;

t.test('an Inform, whatever the prefixes and CWMP version', async (t) => {
  for (const [prefix, version] of [['soap', '1-0'], ['SOAP-ENV', '1-2'], ['soapenv', '1-4']] as const) {
    const m = soap.parse(inform(prefix, version));
    t.equal(m.version, version);
    t.equal(m.id, 'abc-42');
    t.same(m.body, {
      kind: 'Inform',
      deviceId: { manufacturer: 'ACME & Co', oui: '00259E', productClass: 'STB', serialNumber: '0001' },
      events: [
        { code: '1 BOOT', commandKey: '' },
        { code: 'M Reboot', commandKey: 'k1' },
      ],
      parameters: [
        { name: 'Device.ManagementServer.ConnectionRequestURL', value: 'http://10.0.0.2:7547/cr', type: 'xsd:string' },
        { name: 'Device.ManagementServer.NATDetected', value: 'true', type: 'xsd:boolean' },
      ],
      retryCount: 2,
    });
  }
});

t.test('CPE requests, responses and faults', async (t) => {
  const wrap = (body: string) => `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-1"><s:Body>${body}</s:Body></s:Envelope>`;
  t.same(soap.parse(wrap('<cwmp:GetRPCMethods/>')).body, { kind: 'GetRPCMethods' });
  t.same(soap.parse(wrap('<cwmp:TransferComplete><CommandKey>dl-1</CommandKey><FaultStruct><FaultCode>9010</FaultCode><FaultString>Download failed</FaultString></FaultStruct></cwmp:TransferComplete>')).body, {
    kind: 'TransferComplete',
    commandKey: 'dl-1',
    faultCode: 9010,
    faultString: 'Download failed',
  });
  const fault = soap.parse(wrap('<s:Fault><faultcode>Client</faultcode><faultstring>CWMP fault</faultstring><detail><cwmp:Fault><FaultCode>9005</FaultCode><FaultString>Invalid parameter name</FaultString></cwmp:Fault></detail></s:Fault>'));
  t.same(fault.body, { kind: 'Fault', code: 9005, message: 'Invalid parameter name', details: [] });
  const gpv = soap.parse(wrap('<cwmp:GetParameterValuesResponse><ParameterList><ParameterValueStruct><Name>Device.DeviceInfo.SoftwareVersion</Name><Value xsi:type="xsd:string">2.1</Value></ParameterValueStruct></ParameterList></cwmp:GetParameterValuesResponse>'));
  t.equal(gpv.body.kind, 'Response');
  if (gpv.body.kind !== 'Response') return;
  t.equal(gpv.body.method, 'GetParameterValuesResponse');
  t.same(soap.parameterValues(gpv.body.body), [{ name: 'Device.DeviceInfo.SoftwareVersion', value: '2.1', type: 'xsd:string' }]);
  t.equal(soap.parse(wrap('<cwmp:GetRPCMethods/>')).version, '1-1');
});

t.test('malformed input is a SoapError, never a crash', async (t) => {
  for (const xml of ['', 'not xml', '<a><b></a>', '<Envelope/>', '<s:Envelope xmlns:s="x"><s:Body/></s:Envelope>']) {
    t.throws(() => soap.parse(xml), SoapError, JSON.stringify(xml));
  }
  // A document type declaration (SOAP forbids them) is refused, and with it any entity expansion ("billion laughs").
  const lol2 = Array(10).fill('&lol;').join('');
  const bomb = `<?xml version="1.0"?><!DOCTYPE e [<!ENTITY lol "lol"><!ENTITY lol2 "${lol2}"><!ENTITY lol3 "${Array(10).fill('&lol2;').join('')}"><!ENTITY lol4 "${Array(10).fill('&lol3;').join('')}"><!ENTITY lol5 "${Array(10).fill('&lol4;').join('')}">]><s:Envelope xmlns:s="x" xmlns:cwmp="urn:dslforum-org:cwmp-1-0"><s:Body><cwmp:GetRPCMethodsResponse><x>&lol5;</x></cwmp:GetRPCMethodsResponse></s:Body></s:Envelope>`;
  t.throws(() => soap.parse(bomb), { name: 'SoapError', message: /document type declaration/ });
  // A second root, an unclosed element, nesting without end: refused with where reading stopped.
  const wrap = (body: string) => `<s:Envelope xmlns:s="x" xmlns:cwmp="urn:dslforum-org:cwmp-1-0"><s:Body>${body}</s:Body></s:Envelope>`;
  t.throws(() => soap.parse(wrap('<cwmp:GetRPCMethodsResponse><x>AT&T</cwmp:GetRPCMethodsResponse>')), { name: 'SoapError', message: /^malformed XML: 1:135: unexpected close tag/ });
  t.throws(() => soap.parse(`${wrap('<cwmp:GetRPCMethods/>')}<s:Envelope/>`), { name: 'SoapError', message: /only one root/ });
  const deep = wrap(`<cwmp:GetParameterValuesResponse>${'<x>'.repeat(100_000)}${'</x>'.repeat(100_000)}</cwmp:GetParameterValuesResponse>`);
  t.throws(() => soap.parse(deep), { name: 'SoapError', message: /nested deeper than 32/ });
});

t.test('what CPEs write around the elements: CDATA, comments, character references, odd names', async (t) => {
  const wrap = (body: string) => `<?xml version="1.0" encoding="UTF-8"?>\n<!-- agent 2.1 -->\n<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-0"><s:Body>\n${body}\n</s:Body></s:Envelope>\n`;
  const m = soap.parse(
    wrap(
      '<cwmp:GetParameterValuesResponse><ParameterList><ParameterValueStruct><Name>A.B</Name><Value xsi:type="xsd:string"><![CDATA[<x>&]]> &#233;&#x26;</Value></ParameterValueStruct>' +
        '<ParameterValueStruct><!-- note --><Name>A.C</Name><Value>1</Value><__proto__><x>y</x></__proto__><constructor>z</constructor></ParameterValueStruct></ParameterList></cwmp:GetParameterValuesResponse>',
    ),
  );
  t.equal(m.body.kind, 'Response');
  if (m.body.kind !== 'Response') return;
  t.same(soap.parameterValues(m.body.body), [
    { name: 'A.B', value: '<x>& é&', type: 'xsd:string' },
    { name: 'A.C', value: '1', type: 'xsd:string' },
  ]);
  const second = (m.body.body['ParameterList'] as { ParameterValueStruct: Record<string, unknown>[] }).ParameterValueStruct[1]!;
  t.equal(Object.getPrototypeOf(second), Object.prototype, 'an element named __proto__ sets no prototype');
  t.same(second['__proto__'], { x: 'y' }, 'it is a child like any other');
  t.equal(second['constructor'], 'z', 'so is one named like a member of every object');
});

t.test('what agents write that XML forbids is kept as written, and any XML declaration is accepted', async (t) => {
  const body = (declaration: string, value: string) =>
    `${declaration}<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-0"><SOAP-ENV:Body><cwmp:GetParameterValuesResponse><ParameterList><ParameterValueStruct><Name>Device.WiFi.SSID.1.SSID</Name><Value>${value}</Value></ParameterValueStruct></ParameterList></cwmp:GetParameterValuesResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>`;
  const valueOf = (xml: string) => {
    const m = soap.parse(xml);
    return m.body.kind === 'Response' ? soap.parameterValues(m.body.body)[0]?.value : m.body.kind;
  };
  const plain = '<?xml version="1.0" encoding="UTF-8"?>';
  t.equal(valueOf(body(plain, 'Caf\u0002 \u001f')), 'Caf\u0002 \u001f', 'control characters in a value');
  t.equal(valueOf(body(plain, 'a&#2;b')), 'a&#2;b', 'a reference to one');
  t.equal(valueOf(body(plain, 'a\u0000b')), 'a\uFFFDb', 'but NUL, which no store holds in text');
  t.equal(valueOf(body(plain, 'a&nbsp;b&copy;')), 'a&nbsp;b&copy;', 'entities XML does not define');
  t.equal(valueOf(body(plain, 'x]]>y')), 'x]]>y', ']]> in text');
  t.equal(valueOf(body(plain, 'AT&T & co')), 'AT&T & co', 'an & that begins no reference');
  t.equal(valueOf(body(plain, 'http://acs/x?a=1&b=2&amp;c=&#51;&')), 'http://acs/x?a=1&b=2&c=3&', 'beside references that are decoded');
  t.equal(valueOf(body(plain, '<![CDATA[a&amp;b]]>&<![CDATA[&]]>&lt;')), 'a&amp;b&&<', 'CDATA as written, the & between sections bare');
  for (const declaration of ['<?xml encoding="UTF-8"?>', '<?xml version="1.0" standalone="true"?>', '<?XML version="1.0"?>', "<?xml encoding='ISO-8859-1' version='1.0' ?>\r\n", '  <?xml version="1.1"?>', '']) {
    t.equal(valueOf(body(declaration, 'home')), 'home', JSON.stringify(declaration));
  }
  // Positions stay right with the declaration set aside.
  t.throws(() => soap.parse('<?xml encoding="UTF-8"?>\n<a><b></a>'), { message: /^malformed XML: 2:\d+: unexpected close tag/ });
});

t.test('what stbd sends parses back, values escaped, in the CPE version', async (t) => {
  const response = soap.parse(soap.informResponse('1-2', 'abc-42'));
  t.same([response.version, response.id, response.body.kind], ['1-2', 'abc-42', 'Response']);
  const spv = soap.setParameterValues('1-0', 'req-1', [{ name: 'Device.X.Y', value: 'a<b>&"c"', type: 'xsd:string' }], 'key-1');
  // Read our request back through the parser (renamed as a response, the kind of body it accepts).
  const back = soap.parse(spv.replaceAll('cwmp:SetParameterValues>', 'cwmp:SetParameterValuesResponse>'));
  t.equal(back.body.kind, 'Response');
  if (back.body.kind === 'Response') t.same(soap.parameterValues(back.body.body), [{ name: 'Device.X.Y', value: 'a<b>&"c"', type: 'xsd:string' }]);
  t.match(soap.getParameterValues('1-4', 'req-2', ['Device.', 'Device.DeviceInfo.']), /<ParameterNames soapenc:arrayType="xsd:string\[2\]"><string>Device\.<\/string><string>Device\.DeviceInfo\.<\/string><\/ParameterNames>/);
  t.match(soap.reboot('1-1', 'req-3', 'rb'), /xmlns:cwmp="urn:dslforum-org:cwmp-1-1".*<cwmp:Reboot><CommandKey>rb<\/CommandKey><\/cwmp:Reboot>/);
});

t.test('Notification values as agents write them', async (t) => {
  t.same(['0', ' 1 ', '2', '3', '4', '5', '6', '7', '', 'Active', 'PASSIVE', 'weird'].map(notificationName), [
    'off',
    'passive',
    'active',
    'passive-lightweight',
    'passive+passive-lightweight',
    'active-lightweight',
    'passive+active-lightweight',
    'code 7',
    'unknown',
    'active',
    'passive',
    'code weird',
  ]);
});
