import { availableParallelism } from 'node:os';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { KeyedCertificate, NewCertificate, SigningJob, SigningResult } from './signing-job.js';
import { buildCertificate, type Issuer, newKeyPair } from './x509.js';

export type { KeyedCertificate, NewCertificate };

/** Makes certificates with fresh RSA-2048 keys. */
export interface CertificateSigner {
  /** A new key pair and a certificate for it, signed by `issuer` (self-signed without one). */
  issue(req: NewCertificate, issuer?: Issuer): Promise<KeyedCertificate>;
}

/**
 * Signs on the calling thread (the key pair comes from libuv's thread pool): about 30 ms of event loop per
 * certificate. For one-off work outside the daemon (`stbd ca init`) and tests; the daemon uses a SigningPool.
 */
export const inlineSigner: CertificateSigner = {
  async issue(req, issuer) {
    const keys = await newKeyPair();
    return { certPem: buildCertificate({ ...req, publicKeyPem: keys.publicKeyPem }, issuer ?? { privateKeyPem: keys.privateKeyPem }), privateKeyPem: keys.privateKeyPem };
  },
};

/** The pool could not sign: it was closed, or its worker failed. */
export class SigningError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SigningError';
  }
}

export interface SigningPoolOptions {
  /** Worker threads; default max(1, available cores - 1), at most 4 (leaving a core to the event loop). */
  readonly size?: number;
  /**
   * Run the workers at the lowest CPU priority (Linux: SCHED_IDLE, or nice 19 where that cannot be set), so
   * that on a shared core the event loop always runs first; default true.
   */
  readonly background?: boolean;
}

/** Default size: what the process may run on (its CPU affinity), minus the event loop's core. */
export const defaultPoolSize = (): number => Math.min(4, Math.max(1, availableParallelism() - 1));

/**
 * The worker's script. Built, it is the sibling `signing-worker.js`. Running from the TypeScript sources
 * (tap, tsx), it is the compiled one in dist/ (`npm test` and the benchmarks build first): Node 20 does not
 * apply a TypeScript loader's hooks in worker threads, so a worker cannot load `.ts` itself.
 */
const WORKER_URL = new URL(extname(fileURLToPath(import.meta.url)) === '.ts' ? '../../dist/ca/signing-worker.js' : './signing-worker.js', import.meta.url);

interface Pending {
  readonly job: SigningJob;
  readonly resolve: (c: KeyedCertificate) => void;
  readonly reject: (e: Error) => void;
}

interface Slot {
  readonly worker: Worker;
  /** The job it runs now. */
  current: Pending | undefined;
}

/**
 * Key generation and X.509 signing (node-forge, pure JavaScript: about 30 ms of CPU a certificate, plus
 * 50–600 ms for the RSA key pair) on worker threads, so that issuing thousands of certificates never
 * stalls the event loop (STUN keepalives, HTTP). Workers start on the first job and run one job at a time
 * at the lowest CPU priority (`background`); jobs wait in a FIFO queue. A worker that dies fails its job
 * (SigningError) and is replaced on the next one. Idle workers do not keep the process alive; `close()`
 * terminates them and fails whatever is still queued.
 */
export class SigningPool implements CertificateSigner {
  readonly size: number;
  readonly #background: boolean;
  readonly #slots: Slot[] = [];
  readonly #queue: Pending[] = [];
  #nextId = 1;
  #closed = false;

  constructor(opts: SigningPoolOptions = {}) {
    this.size = opts.size ?? defaultPoolSize();
    this.#background = opts.background ?? true;
    if (!Number.isInteger(this.size) || this.size < 1) throw new RangeError(`signing pool size must be a positive integer, got ${this.size}`);
  }

  /** Worker threads running now. */
  get workers(): number {
    return this.#slots.length;
  }

  /** Jobs waiting for a worker. */
  get queued(): number {
    return this.#queue.length;
  }

  issue(request: NewCertificate, issuer?: Issuer): Promise<KeyedCertificate> {
    if (this.#closed) return Promise.reject(new SigningError('the signing pool is closed'));
    return new Promise<KeyedCertificate>((resolve, reject) => {
      const job: SigningJob = issuer ? { id: this.#nextId++, request, issuer } : { id: this.#nextId++, request };
      this.#queue.push({ job, resolve, reject });
      this.#dispatch();
    });
  }

  /** Terminates the workers; queued and running jobs fail with SigningError. */
  async close(): Promise<void> {
    this.#closed = true;
    const failure = new SigningError('the signing pool is closed');
    for (const p of this.#queue.splice(0)) p.reject(failure);
    const slots = this.#slots.splice(0);
    for (const s of slots) {
      s.current?.reject(failure);
      s.current = undefined;
    }
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  #dispatch(): void {
    while (this.#queue.length > 0) {
      const slot = this.#slots.find((s) => s.current === undefined) ?? (this.#slots.length < this.size ? this.#spawn() : undefined);
      if (!slot) return;
      const p = this.#queue.shift()!;
      try {
        slot.worker.postMessage(p.job);
      } catch (err) {
        p.reject(err as Error); // a request that cannot be cloned: the worker never saw it
        continue;
      }
      slot.current = p;
      slot.worker.ref();
    }
  }

  #spawn(): Slot {
    const worker = new Worker(WORKER_URL, { workerData: { background: this.#background } });
    worker.unref(); // ref'd only while it runs a job
    const slot: Slot = { worker, current: undefined };
    this.#slots.push(slot);
    worker.on('message', (m: SigningResult & { id: number }) => {
      const p = slot.current;
      if (!p || p.job.id !== m.id) return;
      slot.current = undefined;
      worker.unref();
      if (m.ok) p.resolve({ certPem: m.certPem, privateKeyPem: m.privateKeyPem });
      else p.reject(new Error(m.message));
      this.#dispatch();
    });
    const lost = (why: string) => {
      const at = this.#slots.indexOf(slot);
      if (at < 0) return; // closed, or already handled
      this.#slots.splice(at, 1);
      slot.current?.reject(new SigningError(`signing worker ${why}`));
      slot.current = undefined;
      this.#dispatch();
    };
    worker.on('error', (err) => lost(`failed: ${err.message}`));
    worker.on('exit', (code) => lost(`exited with code ${code}`));
    return slot;
  }
}

