import { spawnSync } from 'node:child_process';
import t from 'tap';
import { spawnDaemon, writeTestConfig } from './helpers/daemon.js';

// STUN clients stbd did not write, from Debian (.ci/run installs them).
const has = (cmd: string, args: string[]) => spawnSync(cmd, args).error === undefined;
const turnutils = has('turnutils_stunclient', []) ? false : 'turnutils_stunclient is not installed (apt-get install coturn)';
const stunClient = has('stun', []) ? false : 'stun is not installed (apt-get install stun-client)';

t.test('third-party STUN clients get correct answers', { skip: turnutils && stunClient ? 'neither coturn nor stun-client is installed' : false }, async (t) => {
  const daemon = await spawnDaemon(writeTestConfig(t.testdir()));
  t.teardown(() => daemon.stop());

  t.test('turnutils_stunclient (coturn, RFC 5389): its reflexive address is its own', { skip: turnutils }, async (t) => {
    const r = spawnSync('turnutils_stunclient', ['-p', String(daemon.stunPort), '-L', '127.0.0.1', '127.0.0.1'], { encoding: 'utf8', timeout: 10_000 });
    t.equal(r.status, 0, r.stderr);
    t.match(r.stdout, /UDP reflexive addr: 127\.0\.0\.1:\d+/);
  });

  t.test('stun (stun-client, RFC 3489): MAPPED-ADDRESS is its own source port', { skip: stunClient }, async (t) => {
    const srcPort = 40_000 + (process.pid % 10_000);
    const r = spawnSync('stun', [`127.0.0.1:${daemon.stunPort}`, '-v', '-p', String(srcPort)], { encoding: 'utf8', timeout: 30_000 });
    const out = `${r.stdout}${r.stderr}`;
    t.match(out, new RegExp(`MappedAddress = 127\\.0\\.0\\.1:${srcPort}\\b`), 'test I answered with the sender address');
    t.match(out, /Received message of type 257/, 'Binding Success responses');
    t.notMatch(out, /Received message of type 273/, 'no error responses');
  });
});
