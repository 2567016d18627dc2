import t from 'tap';
import { shapeName } from '../src/store/postgres/pg-transaction.js';

t.test('statements put together from parts get names PostgreSQL keeps whole, one per shape', async (t) => {
  const long = ['pool_activate_binding', 'pool_delete_outbox_by_key', 'pool_audit', 'pool_insert_entry'];
  const a = shapeName('pool_writes', long);
  const b = shapeName('pool_writes', [...long.slice(0, 3), 'pool_insert_outbox']);
  t.ok(a.length <= 63 && b.length <= 63, 'within the 63 bytes PostgreSQL keeps of a name');
  t.not(a, b, 'shapes alike in their first 63 characters still get names of their own');
  t.equal(shapeName('pool_writes', long), a, 'the same shape, the same name: prepared once per connection');
  t.match(a, /^pool_writes_[0-9a-f]{24}$/);
});
