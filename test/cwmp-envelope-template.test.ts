import t from 'tap';
import { CwmpSoap, type CwmpVersion, RECORDED_CPE_METHODS } from '../src/management/cwmp-soap.js';

// The InformResponse and the empty acknowledgements come from string templates on the hot path; a CPE must
// get the same bytes the generic XML builder writes, for every version and any cwmp:ID a CPE may send.
const soap = new CwmpSoap();
const VERSIONS: readonly CwmpVersion[] = ['1-0', '1-1', '1-2', '1-3', '1-4'];

/** A deterministic generator (xorshift32): the same ids every run. */
const ids = (count: number): string[] => {
  const alphabet = ['a', 'Z', '0', '-', ' ', '&', '<', '>', '"', "'", ';', '#', 'é', '€', '\t', '&amp;'];
  let x = 0x9e3779b9;
  const next = () => ((x ^= x << 13), (x ^= x >>> 17), (x ^= x << 5), (x >>> 0));
  return Array.from({ length: count }, () => Array.from({ length: next() % 24 }, () => alphabet[next() % alphabet.length]).join(''));
};

const CASES: readonly (string | undefined)[] = [undefined, '', '1', 'abc-42', 'a&b<c>"d\'e', ...ids(2000)];

t.test('the InformResponse is byte for byte what the XML builder writes', async (t) => {
  let differing = 0;
  for (const version of VERSIONS) {
    for (const id of CASES) {
      if (soap.informResponse(version, id) !== soap.built(version, id, { 'cwmp:InformResponse': { MaxEnvelopes: 1 } })) differing++;
    }
  }
  t.equal(differing, 0, `${VERSIONS.length * CASES.length} envelopes compared`);
  t.equal(soap.parse(soap.informResponse('1-2', 'x&y')).id, 'x&y', 'the escaped cwmp:ID reads back');
});

t.test('TransferCompleteResponse and the recorded-request acknowledgements equal the builder too', async (t) => {
  let differing = 0;
  for (const version of VERSIONS) {
    for (const id of CASES.slice(0, 200)) {
      if (soap.transferCompleteResponse(version, id) !== soap.built(version, id, { 'cwmp:TransferCompleteResponse': '' })) differing++;
      for (const method of RECORDED_CPE_METHODS) {
        if (soap.acknowledge(version, id, method) !== soap.built(version, id, { [`cwmp:${method}Response`]: '' })) differing++;
      }
    }
  }
  t.equal(differing, 0);
});

t.test('GetParameterValues and GetParameterAttributes equal the builder, any names and count', async (t) => {
  const names = ids(400);
  const lists: readonly (readonly string[])[] = [[], [''], ['InternetGatewayDevice.DeviceInfo.SoftwareVersion'], ['Device.', 'a&b<c>'], ...names.map((n, i) => names.slice(i, i + (i % 5)).concat(n))];
  let differing = 0;
  for (const version of VERSIONS) {
    for (const [i, list] of lists.entries()) {
      const id = CASES[i % CASES.length] ?? '1';
      const array = { '@soapenc:arrayType': `xsd:string[${list.length}]`, string: [...list] };
      if (soap.getParameterValues(version, id, list) !== soap.built(version, id, { 'cwmp:GetParameterValues': { ParameterNames: array } })) differing++;
      if (soap.getParameterAttributes(version, id, list) !== soap.built(version, id, { 'cwmp:GetParameterAttributes': { ParameterNames: array } })) differing++;
    }
  }
  t.equal(differing, 0, `${VERSIONS.length * lists.length * 2} envelopes compared`);
});
