import t from 'tap';
import { DeviceTable } from '../src/keepalive/device-table.js';

t.test('lookups by username (string or datagram bytes) and by id', async (t) => {
  const table = new DeviceTable();
  const a = table.add({ id: 'OUI-Class-1', stunUsername: 'OUI-Class-1', stunPassword: 'pa' });
  const b = table.add({ id: 'OUI-Class-2', stunUsername: 'stun-2', stunPassword: 'pb' });
  const c = table.add({ id: 'ünï', stunUsername: 'ünï', stunPassword: 'pässwörd' });
  t.equal(table.slotOfUsername('OUI-Class-1'), a);
  t.equal(table.slotOfUsername('stun-2'), b);
  t.equal(table.slotOfUsername('OUI-Class-2'), undefined, 'an id is not a username');
  t.equal(table.slotOfId('OUI-Class-2'), b);
  t.equal(table.slotOfId('stun-2'), undefined, 'a username is not an id');
  t.equal(table.slotOfId('ünï'), c);
  const datagram = Buffer.from('xxxxstun-2yyyy');
  t.equal(table.slotOfUsernameBytes(datagram, 4, 10), b);
  t.equal(table.slotOfUsernameBytes(datagram, 4, 9), undefined);
  t.equal(table.idOf(b), 'OUI-Class-2');
  t.equal(table.idOf(c), 'ünï');
  t.equal(table.passwordOf(c).toString(), 'pässwörd');
  t.equal(table.passwordOf(a).toString(), 'pa');
});

t.test('removal, then the same username again, gets a new slot', async (t) => {
  const table = new DeviceTable();
  const first = table.add({ id: 'd1', stunUsername: 'd1', stunPassword: 'old' });
  t.equal(table.remove('d1'), first);
  t.equal(table.slotOfUsername('d1'), undefined);
  t.equal(table.idOf(first), null, 'a removed slot has no id');
  t.equal(table.remove('d1'), undefined);
  const second = table.add({ id: 'd1', stunUsername: 'd1', stunPassword: 'new' });
  t.not(second, first, 'slots are never reused');
  t.equal(table.slotOfUsername('d1'), second);
  t.equal(table.passwordOf(second).toString(), 'new');
  const other = table.add({ id: 'x', stunUsername: 'ux', stunPassword: 'p' });
  t.equal(table.remove('x'), other);
  t.equal(table.slotOfUsername('ux'), undefined);
  t.equal(table.slotOfId('x'), undefined);
});

t.test('grows past its initial size and keeps every device findable', async (t) => {
  const table = new DeviceTable(10);
  const n = 50_000;
  for (let i = 0; i < n; i++) table.add({ id: `dev-${i}`, stunUsername: `dev-${i}`, stunPassword: `pw-${i}`.repeat(3) });
  for (let i = 0; i < n; i += 2) table.remove(`dev-${i}`);
  let found = 0;
  let gone = 0;
  for (let i = 0; i < n; i++) {
    const slot = table.slotOfUsername(`dev-${i}`);
    if (i % 2 === 0) gone += slot === undefined ? 1 : 0;
    else if (slot === i && table.passwordOf(slot).toString() === `pw-${i}`.repeat(3)) found++;
  }
  t.equal(found, n / 2, 'every remaining device, with its password');
  t.equal(gone, n / 2, 'no removed one');
  t.equal(table.slotCount, n);
});

t.test('passwords loaded sealed are opened on first use or in the background, once; one that does not open gives a key nobody has', async (t) => {
  const opened: string[] = [];
  const unusable: string[] = [];
  // A stand-in seal: 29 bytes of header, then the password itself.
  const sealedOf = (pw: string) => Buffer.concat([Buffer.alloc(29, 7), Buffer.from(pw)]);
  const opener = {
    overhead: 29,
    open(id: string, sealed: Buffer) {
      opened.push(id);
      if (id === 'bad' || sealed.subarray(0, 29).some((b) => b !== 7)) throw new Error('wrong key');
      return Buffer.from(sealed.subarray(29));
    },
  };
  const table = new DeviceTable(0, opener, (id) => unusable.push(id));
  const a = table.add({ id: 'a', stunUsername: 'a', sealedStunPassword: sealedOf('pw-a') });
  const bad = table.add({ id: 'bad', stunUsername: 'bad', sealedStunPassword: sealedOf('pw-bad') });
  const plain = table.add({ id: 'p', stunUsername: 'p', stunPassword: 'pw-p' });
  for (let i = 0; i < 2000; i++) table.add({ id: `d${i}`, stunUsername: `d${i}`, sealedStunPassword: sealedOf(`pw-${i}`) });
  t.same(opened, [], 'nothing opened at load');
  t.equal(table.passwordOf(a).toString(), 'pw-a');
  t.equal(table.passwordOf(a).toString(), 'pw-a');
  t.equal(table.passwordOf(plain).toString(), 'pw-p');
  t.same(opened, ['a'], 'opened once, when first needed');
  const key = table.passwordOf(bad);
  t.equal(key.length, 32);
  t.not(key.toString(), 'pw-bad');
  t.equal(table.passwordOf(bad), key);
  t.same(unusable, ['bad'], 'told once');
  table.remove('d5');
  let turns = 0;
  while (table.openSealed(500)) turns++;
  t.equal(turns, 3, 'the rest in the background, 500 a turn');
  t.equal(opened.length, 2 + 1999, 'each once; not the removed one');
  t.equal(table.passwordOf(table.slotOfUsername('d1999')!).toString(), 'pw-1999');
  t.equal(opened.length, 2001);
  t.throws(() => new DeviceTable().add({ id: 'x', stunUsername: 'x', sealedStunPassword: sealedOf('pw') }), TypeError);
});

t.test('a device read from the store at its keepalive is added opened (added sealed one at a time, each add allocated a side buffer for every slot)', async (t) => {
  let opened = 0;
  const opener = {
    overhead: 29,
    open(id: string, sealed: Buffer) {
      opened++;
      if (id === 'bad') throw new Error('wrong key');
      return Buffer.from(sealed.subarray(29));
    },
  };
  const unusable: string[] = [];
  const table = new DeviceTable(0, opener, (id) => unusable.push(id));
  const sealedOf = (pw: string) => Buffer.concat([Buffer.alloc(29, 7), Buffer.from(pw)]);
  for (let i = 0; i < 50_000; i++) table.addOpened({ id: `d${i}`, stunUsername: `d${i}`, sealedStunPassword: sealedOf(`pw-${i}`) });
  t.equal(opened, 50_000, 'each opened once, at its add');
  t.equal(table.passwordOf(table.slotOfUsername('d49999')!).toString(), 'pw-49999');
  t.equal(opened, 50_000, 'not opened again when used');
  const bad = table.addOpened({ id: 'bad', stunUsername: 'bad', sealedStunPassword: sealedOf('pw-bad') });
  t.equal(table.passwordOf(bad).length, 32, 'one that does not open: a key nobody has');
  t.same(unusable, ['bad']);
});

t.test('a table reserved for the devices it is about to load is their size, not the next doubling past it', async (t) => {
  const n = 100_000;
  const password = 'p'.repeat(24);
  const fill = (table: DeviceTable, id: (i: number) => string) => {
    for (let i = 0; i < n; i++) table.add({ id: id(i), stunUsername: id(i), stunPassword: password });
  };
  // What n devices need: their bytes in the arena, 10 bytes of slot arrays each, an index at most half full.
  const needed = (id: (i: number) => string) => n * (id(0).length + password.length + 10) + 4 * 262_144;
  const grownFromEmpty = new DeviceTable();
  const short = (i: number) => `stb-${String(i).padStart(7, '0')}`;
  fill(grownFromEmpty, short);
  const sizes: number[] = [];
  for (const id of [short, (i: number) => `00A0C6-STB4K-UHD-${String(i).padStart(12, '0')}`]) {
    const table = new DeviceTable();
    table.reserve(n);
    fill(table, id);
    t.ok(table.bytes <= needed(id) * 1.1, `${id(0).length}-byte ids: ${table.bytes} B for ${needed(id)} B needed`);
    for (const i of [0, n / 2, n - 1]) t.equal(table.passwordOf(table.slotOfUsername(id(i))!).toString(), password);
    sizes.push(table.bytes);
  }
  t.ok(sizes[0]! < grownFromEmpty.bytes * 0.9, `grown from empty instead: ${grownFromEmpty.bytes} B`);
});
