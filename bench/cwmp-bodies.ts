/**
 * What bench:management's CPE clients send, written out by hand as deployed TR-098 agents write them
 * (SOAP-ENV/cwmp prefixes, cwmp-1-0, typed values, line breaks): a periodic Inform ("2 PERIODIC") with
 * the eight parameters a TR-098 STB puts in every Inform, and the InformResponse the baseline answers.
 * Shared by the load generator (bench/cwmp-load.ts) and the minimal server (bench/minimal-cwmp.ts).
 */

export interface InformDevice {
  readonly serial: string;
  /** The port of its ConnectionRequestURL (host 127.0.0.1: the address its sessions come from, so no NAT). */
  readonly crPort: number;
}

const param = (name: string, type: string, value: string) =>
  `    <ParameterValueStruct>\n      <Name>${name}</Name>\n      <Value xsi:type="${type}">${value}</Value>\n    </ParameterValueStruct>\n`;

/** A periodic Inform of a TR-098 STB; `id` is the cwmp:ID, `time` its CurrentTime. */
export function periodicInform(d: InformDevice, id: number, time: string): string {
  const igd = 'InternetGatewayDevice.';
  const params =
    param(`${igd}DeviceSummary`, 'xsd:string', 'InternetGatewayDevice:1.4[](Baseline:2, EthernetLAN:1, Time:2), STBService:1.0[1](Baseline:1)') +
    param(`${igd}DeviceInfo.SpecVersion`, 'xsd:string', '1.0') +
    param(`${igd}DeviceInfo.HardwareVersion`, 'xsd:string', 'HW-7230-B2') +
    param(`${igd}DeviceInfo.SoftwareVersion`, 'xsd:string', '4.12.7-r3') +
    param(`${igd}DeviceInfo.ProvisioningCode`, 'xsd:string', 'IPTV.EU') +
    param(`${igd}ManagementServer.ConnectionRequestURL`, 'xsd:string', `http://127.0.0.1:${d.crPort}/cr`) +
    param(`${igd}ManagementServer.ParameterKey`, 'xsd:string', '') +
    param(`${igd}WANDevice.1.WANConnectionDevice.1.WANIPConnection.1.ExternalIPAddress`, 'xsd:string', '127.0.0.1');
  return `<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:SOAP-ENC="http://schemas.xmlsoap.org/soap/encoding/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:cwmp="urn:dslforum-org:cwmp-1-0">
<SOAP-ENV:Header>
  <cwmp:ID SOAP-ENV:mustUnderstand="1">${id}</cwmp:ID>
</SOAP-ENV:Header>
<SOAP-ENV:Body SOAP-ENV:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">
<cwmp:Inform>
  <DeviceId>
    <Manufacturer>Acme Devices</Manufacturer>
    <OUI>00D09E</OUI>
    <ProductClass>STB</ProductClass>
    <SerialNumber>${d.serial}</SerialNumber>
  </DeviceId>
  <Event SOAP-ENC:arrayType="cwmp:EventStruct[1]">
    <EventStruct>
      <EventCode>2 PERIODIC</EventCode>
      <CommandKey></CommandKey>
    </EventStruct>
  </Event>
  <MaxEnvelopes>1</MaxEnvelopes>
  <CurrentTime>${time}</CurrentTime>
  <RetryCount>0</RetryCount>
  <ParameterList SOAP-ENC:arrayType="cwmp:ParameterValueStruct[8]">
${params}  </ParameterList>
</cwmp:Inform>
</SOAP-ENV:Body>
</SOAP-ENV:Envelope>
`;
}

/** The InformResponse the baseline answers (the shape stbd answers with). */
export const INFORM_RESPONSE =
  '<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:cwmp="urn:dslforum-org:cwmp-1-0"><soap:Header><cwmp:ID soap:mustUnderstand="1">1</cwmp:ID></soap:Header><soap:Body><cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse></soap:Body></soap:Envelope>';
