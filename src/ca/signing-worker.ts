/**
 * The signing pool's worker thread (see signing-pool.ts): makes key pairs and signs certificates, one job
 * at a time, below the event loop's CPU priority.
 */
import { spawnSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { runSigningJob, type SigningJob } from './signing-job.js';
import type { ParsedIssuer } from './x509.js';

/**
 * Linux only (elsewhere the calls below would change the whole process): nice 19 for this thread alone (the
 * nice value is per thread), then the SCHED_IDLE policy through util-linux's chrt (Node has no
 * sched_setscheduler), which the kernel preempts at once for any normal thread that wakes up: the event
 * loop then waits for no slice of ours. Either may be refused (a seccomp filter, no chrt): what was set stays.
 */
function background(): void {
  if (process.platform !== 'linux') return;
  try {
    setPriority(0, 19);
  } catch {
    // not permitted: the default priority
  }
  try {
    const tid = readlinkSync('/proc/thread-self').split('/').at(-1)!;
    spawnSync('chrt', ['--idle', '--pid', '0', tid], { stdio: 'ignore', timeout: 5_000 });
  } catch {
    // no /proc/thread-self or no chrt: nice 19 it is
  }
}

if ((workerData as { background: boolean }).background) background();

const cache: { issuer?: ParsedIssuer } = {};
parentPort!.on('message', (job: SigningJob) => {
  parentPort!.postMessage({ id: job.id, ...runSigningJob(job, cache) });
});
