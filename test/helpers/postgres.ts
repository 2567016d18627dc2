import type * as Tap from 'tap';
import { execFile, execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/**
 * A throwaway PostgreSQL server for the tests: its own data directory under the system temp dir, reached only
 * through a Unix socket in that directory (no TCP port to collide on, and the socket reaches every network
 * namespace). initdb refuses to run as root, so as root the server runs as the `postgres` user.
 */
export interface ThrowawayPostgres {
  /** The directory holding the socket (libpq's `host` for a Unix socket). */
  readonly socketDir: string;
  readonly port: number;
  readonly user: string;
  /** A connection URL for database `db`. */
  url(db: string): string;
  /** pg_ctl stop; `immediate` is a crash (no checkpoint), as `kill -9` of the postmaster would be. */
  stop(mode?: 'fast' | 'immediate'): void;
  start(): void;
  /**
   * pg_ctl restart, without blocking the test process (its simulated STBs and clients go on meanwhile); `immediate`
   * stops it as a crash would (no checkpoint: crash recovery at the start).
   */
  restart(mode?: 'fast' | 'immediate'): Promise<void>;
  /** Stops the server and deletes its directory. */
  destroy(): void;
  /** The server's processes now: the postmaster and its children (backends, WAL writer, …). */
  pids(): number[];
}

/** The bin directory of the newest PostgreSQL installed (Debian keeps them under /usr/lib/postgresql/N/bin). */
export function findPostgresBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) if (existsSync(join(root, v, 'bin', 'initdb'))) return join(root, v, 'bin');
  try {
    const dir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return existsSync(join(dir, 'initdb')) ? dir : undefined;
  } catch {
    return undefined;
  }
}

/** The uid and gid of the `postgres` user, if there is one. */
function postgresUser(): { uid: number; gid: number } | undefined {
  try {
    const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    return undefined;
  }
}

export interface ThrowawayOptions {
  /** Keep fsync and synchronous commits on (benchmarks: what an operator's server does); tests turn them off for speed. */
  readonly durable?: boolean;
  /** A command prefix for the server (e.g. taskset -c 0). */
  readonly wrap?: readonly string[];
}

export function startThrowawayPostgres(bin: string, port = 5432, o: ThrowawayOptions = {}): ThrowawayPostgres {
  const dir = mkdtempSync(join(tmpdir(), 'stbd-pg-'));
  const data = join(dir, 'data');
  const asRoot = userInfo().uid === 0;
  const owner = asRoot ? postgresUser() : undefined;
  if (asRoot && !owner) throw new Error('running as root, and there is no "postgres" user to run PostgreSQL as');
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const argvOf = (tool: string, args: string[]) => [...(o.wrap ?? []), ...(owner ? ['runuser', '-u', 'postgres', '--'] : []), join(bin, tool), ...args];
  const run = (tool: string, args: string[]) => {
    const argv = argvOf(tool, args);
    execFileSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  };
  const user = owner ? 'postgres' : userInfo().username;
  run('initdb', ['-D', data, '-A', 'trust', '-U', user, '-E', 'UTF8', '--no-sync']);
  const fast = o.durable ? '' : ' -c fsync=off -c synchronous_commit=off -c full_page_writes=off';
  const options = `-k ${dir} -p ${port} -c listen_addresses=''${fast} -c max_connections=300`;
  const start = () => run('pg_ctl', ['-w', '-D', data, '-l', join(dir, 'server.log'), '-o', options, 'start']);
  const stop = (mode: 'fast' | 'immediate' = 'fast') => run('pg_ctl', ['-w', '-D', data, '-m', mode, 'stop']);
  const restart = (mode: 'fast' | 'immediate' = 'fast') =>
    new Promise<void>((resolve, reject) => {
      const argv = argvOf('pg_ctl', ['-w', '-D', data, '-l', join(dir, 'server.log'), '-m', mode, '-o', options, 'restart']);
      execFile(argv[0]!, argv.slice(1), { cwd: dir }, (err, _out, stderr) => (err ? reject(new Error(`pg_ctl restart: ${stderr || err.message}`)) : resolve()));
    });
  start();
  return {
    socketDir: dir,
    port,
    user,
    url: (db) => `postgres://${user}@/${db}?host=${encodeURIComponent(dir)}&port=${port}`,
    stop,
    start,
    restart,
    pids() {
      const postmaster = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
      const children = readdirSync('/proc')
        .filter((e) => /^\d+$/.test(e))
        .filter((e) => {
          try {
            // The parent pid is the 2nd field after the command's closing parenthesis.
            const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
            return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === postmaster;
          } catch {
            return false;
          }
        })
        .map(Number);
      return [postmaster, ...children];
    },
    destroy() {
      try {
        stop('immediate');
      } catch {
        // already stopped
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A throwaway server for one test file, stopped at its end; or undefined after a skip that says why
 * (PostgreSQL not installed here; CI installs it). STBD_TEST_POSTGRES=off skips on purpose.
 */
export function postgresFor(t: Tap.Test): ThrowawayPostgres | undefined {
  if (process.env['STBD_TEST_POSTGRES'] === 'off') {
    skip(t, 'STBD_TEST_POSTGRES=off');
    return undefined;
  }
  const bin = findPostgresBin();
  if (!bin) {
    skip(t, 'no PostgreSQL server installed here (Debian: apt-get install postgresql)');
    return undefined;
  }
  const server = startThrowawayPostgres(bin);
  t.teardown(() => server.destroy());
  return server;
}

const skip = (t: Tap.Test, why: string) => void t.test('on PostgreSQL', { skip: `PostgreSQL half skipped: ${why}` }, () => undefined);

/** Creates a new empty database on `server` and returns its URL. */
export async function freshDatabase(server: ThrowawayPostgres): Promise<string> {
  const name = `db_${process.hrtime.bigint().toString(36)}`;
  const admin = new pg.Client({ connectionString: server.url('postgres') });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  return server.url(name);
}

/**
 * STBD_TEST_STORE=postgres runs the daemon suites on PostgreSQL: each daemon a test starts gets a new empty
 * database on one throwaway server of the test process, started on first use and removed at exit.
 */
export function daemonStoreUrl(): string | undefined {
  if (process.env['STBD_TEST_STORE'] !== 'postgres') return undefined;
  const server = processServer();
  const name = `stbd_${process.pid}_${(databases++).toString(36)}`;
  execFileSync(join(binOf(), 'createdb'), ['-h', server.socketDir, '-p', String(server.port), '-U', server.user, name], { stdio: ['ignore', 'pipe', 'pipe'] });
  return server.url(name);
}

let shared: ThrowawayPostgres | undefined;
let databases = 0;

function binOf(): string {
  const bin = findPostgresBin();
  if (!bin) throw new Error('STBD_TEST_STORE=postgres, but no PostgreSQL server is installed here (Debian: apt-get install postgresql)');
  return bin;
}

function processServer(): ThrowawayPostgres {
  if (shared) return shared;
  const server = startThrowawayPostgres(binOf());
  process.on('exit', () => server.destroy());
  shared = server;
  return server;
}
