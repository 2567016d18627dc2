import t from 'tap';
import { ProvisioningFingerprints, unkeyed } from '../src/management/provisioning-fingerprints.js';

const values = [
  { name: 'Device.ManagementServer.STUNPassword', type: 'xsd:string', value: 'secret' },
  { name: 'Device.ManagementServer.STUNServerPort', type: 'xsd:unsignedInt', value: '3478' },
];

t.test('a fingerprint is keyed: another master key, or no key, gives another one; the xsi:type does not count', async (t) => {
  const a = new ProvisioningFingerprints(Buffer.alloc(32, 1));
  const b = new ProvisioningFingerprints(Buffer.alloc(32, 2));
  t.equal(a.of(values), a.of(values.map((v) => ({ ...v, type: 'xsd:anything' }))));
  t.not(a.of(values), b.of(values));
  t.not(a.of(values), unkeyed(values));
  t.match(a.of(values), /^[A-Za-z0-9_-]{22}$/, 'the width the store has always held');
});

t.test('compare: same, changed, and the unkeyed fingerprint of an older stbd', async (t) => {
  const f = new ProvisioningFingerprints(Buffer.alloc(32, 1));
  const other = [{ ...values[0]!, value: 'other' }, values[1]!];
  t.equal(f.compare(values, f.of(values)), 'same');
  t.equal(f.compare(values, f.of(other)), 'changed');
  t.equal(f.compare(values, null), 'changed', 'never provisioned');
  t.equal(f.compare(values, unkeyed(values)), 'unkeyed');
  t.equal(f.compare(values, unkeyed(other)), 'changed');
});
