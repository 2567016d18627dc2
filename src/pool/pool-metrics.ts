import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface PoolMetrics {
  readonly binds: Counter<'result'>;
  readonly unbinds: Counter<'result'>;
  readonly recycled: Counter;
  readonly casDuration: Histogram<'op'>;
  readonly casErrors: Counter<'op'>;
}

/** The pool's metrics; the two gauges read the store when Prometheus scrapes. */
export function registerPoolMetrics(registry: Registry, counts: { entries(): Promise<number>; deregistering(): Promise<number> }): PoolMetrics {
  new Gauge({ name: 'stbd_pool_entries', help: 'devices in the recycling pool', registers: [registry], async collect() { this.set(await counts.entries()); } });
  new Gauge({ name: 'stbd_pool_recycle_backlog', help: 'pool entries waiting for the CAS to confirm deregistration', registers: [registry], async collect() { this.set(await counts.deregistering()); } });
  return {
    binds: new Counter({ name: 'stbd_pool_binds_total', help: 'bind requests, by result (confirmed, registered, or the refusal code)', labelNames: ['result'], registers: [registry] }),
    unbinds: new Counter({ name: 'stbd_pool_unbinds_total', help: 'unbind requests, by result', labelNames: ['result'], registers: [registry] }),
    recycled: new Counter({ name: 'stbd_pool_recycled_total', help: 'pool entries deregistered by the CAS and removed', registers: [registry] }),
    casDuration: new Histogram({ name: 'stbd_cas_request_duration_seconds', help: 'CAS call latency, by operation', labelNames: ['op'], registers: [registry], buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] }),
    casErrors: new Counter({ name: 'stbd_cas_errors_total', help: 'failed CAS calls, by operation', labelNames: ['op'], registers: [registry] }),
  };
}
