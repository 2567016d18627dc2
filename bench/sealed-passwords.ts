import { dirname, join } from 'node:path';
import { loadMasterKey } from '../src/ca/master-key.js';
import { SealedBox } from '../src/ca/sealed-box.js';
import { columnContext, sealText } from '../src/sealed-text.js';

/**
 * Device passwords as a raw `devices` row holds them: sealed under the master key of the daemon that will
 * open the database (the test config's, beside it), as stbd itself stores them.
 */
export function devicePasswordSealer(dbPath: string): (id: string, stun: string, cr: string, cwmp: string) => [string, string, string] {
  const box = new SealedBox(loadMasterKey(join(dirname(dbPath), 'master.key'), true));
  const seal = (column: string, id: string, password: string) => sealText(box, password, columnContext('devices', column, id));
  return (id, stun, cr, cwmp) => [seal('stun_password', id, stun), seal('cr_password', id, cr), seal('cwmp_password', id, cwmp)];
}
