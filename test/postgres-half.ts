/**
 * The second half of `npm test`: the daemon-level suites again, with every daemon they start on a PostgreSQL
 * database of its own (STBD_TEST_STORE=postgres; test/helpers/postgres.ts starts one throwaway server per
 * test process). Where no PostgreSQL is installed it says so and passes: CI installs it, so CI always runs it.
 * Suites that read the SQLite file itself (backups, file modes, sealing) are SQLite-only by nature.
 */
import { spawnSync } from 'node:child_process';
import { findPostgresBin } from './helpers/postgres.js';

const SUITES = [
  'api', 'certs-ca', 'certs-limits', 'certs-loop', 'certs-restart', 'connection-request',
  'cwmp-digest-replay', 'cwmp-interop', 'cwmp-interop-rpcs', 'cwmp-interop-login', 'cwmp-interop-tasks', 'cwmp-login-throttle',
  'keepalive', 'keepalive-hostile', 'lifecycle', 'management', 'management-loop', 'management-restart',
  'files', 'parameter-cap', 'pool', 'pool-restart', 'profiles-loop', 'sim-firmware', 'stbctl', 'stbctl-selectors', 'stbctl-tasks',
  'campaign-loop', 'campaign-firmware', 'stbctl-campaigns',
].map((name) => `test/${name}.test.ts`);

if (process.env['STBD_TEST_POSTGRES'] === 'off') {
  console.log('# PostgreSQL half skipped: STBD_TEST_POSTGRES=off');
} else if (!findPostgresBin()) {
  console.log('# PostgreSQL half skipped: no PostgreSQL server installed here (Debian: apt-get install postgresql); the suites above ran on SQLite only');
} else {
  console.log(`# PostgreSQL half: ${SUITES.length} daemon suites with the store on PostgreSQL`);
  const run = spawnSync('npx', ['tap', '--disable-coverage', ...SUITES], { stdio: 'inherit', env: { ...process.env, STBD_TEST_STORE: 'postgres' } });
  process.exitCode = run.status ?? 1;
}
