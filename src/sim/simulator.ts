import { EventEmitter } from 'node:events';
import { charsetOf } from './body-charset.js';
import type { CertFetchResult } from './cert-client.js';
import { CpeSoap } from './cpe-soap.js';
import { deviceIdOf, simDeviceCsv } from './credentials.js';
import type { DataModel } from './data-model.js';
import { type ResolvedOptions, resolveOptions, type SimulatorOptions } from './options.js';
import { SimDevice } from './sim-device.js';
import { newStats, type SimEventMap, type SimStats } from './sim-events.js';
import { waitFor } from './wait-for.js';

/**
 * N simulated STBs in one process: each keeps STUN keepalives going, takes UDP (and optionally HTTP)
 * Connection Requests and runs CWMP sessions against the ACS. Events (SimEventMap) and `stats` report
 * what happens; `device(id)` shows one device's tree and state.
 */
export class Simulator extends EventEmitter<SimEventMap> {
  readonly options: ResolvedOptions;
  readonly stats: SimStats = newStats();
  readonly #devices = new Map<string, SimDevice>();
  #started = false;

  /** @throws SimOptionError on a bad option value. */
  constructor(options: SimulatorOptions = {}) {
    super();
    this.options = resolveOptions(options);
    const o = this.options;
    const soap = new CpeSoap(charsetOf(o.contentType));
    for (let i = 0; i < o.count; i++) {
      const id = deviceIdOf(o.prefix, o.start + i);
      const model: DataModel = o.dataModel === 'mixed' ? (i % 2 === 0 ? 'tr098' : 'tr181') : o.dataModel;
      this.#devices.set(id, new SimDevice({ id, model, options: o, stats: this.stats, soap, emit: (event, ...args) => this.emit(event, ...(args as never)) }));
    }
  }

  get devices(): readonly SimDevice[] {
    return [...this.#devices.values()];
  }

  device(id: string): SimDevice | undefined {
    return this.#devices.get(id);
  }

  /** Binds every device's sockets, then boots them (Inform "0 BOOTSTRAP"/"1 BOOT" unless bootInform is false). */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    try {
      await Promise.all(this.devices.map((d) => d.start()));
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** Stops every timer, aborts sessions in flight and closes every socket. */
  async stop(): Promise<void> {
    this.#started = false;
    await Promise.all(this.devices.map((d) => d.stop()));
  }

  /** Resolves when no device has a session running. */
  async idle(): Promise<void> {
    await Promise.all(this.devices.map((d) => d.idle()));
  }

  /**
   * Every device fetches its certificate (see SimDevice.fetchCertificate), `concurrency` at a time;
   * the results in device order.
   */
  async fetchCertificates(concurrency = 16): Promise<CertFetchResult[]> {
    const devices = this.devices;
    const results: CertFetchResult[] = new Array(devices.length);
    let next = 0;
    const worker = async () => {
      while (next < devices.length) {
        const i = next++;
        results[i] = await (devices[i] as SimDevice).fetchCertificate();
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, devices.length)) }, worker));
    return results;
  }

  /** The CSV to register these devices with the daemon (`stbctl devices import`). */
  csv(): string {
    return simDeviceCsv(this.options);
  }

  /** The first `event` satisfying `predicate` (see waitFor). */
  waitFor<K extends keyof SimEventMap>(event: K, predicate?: (payload: SimEventMap[K][0]) => boolean, timeoutMs?: number): Promise<SimEventMap[K][0]> {
    return waitFor(this, event, predicate, timeoutMs);
  }
}
