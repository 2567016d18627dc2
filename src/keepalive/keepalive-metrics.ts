import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Plain counters bumped on the hot path; Prometheus reads them at scrape time. */
export interface KeepaliveStats {
  received: number;
  answered: number;
  anonymous: number;
  challenged: number;
  rejected: number;
  malformed: number;
  retransmitted: number;
  replayed: number;
  throttled: number;
  /** Keepalives from devices not held in memory (a cluster node): they waited for a store lookup, or were dropped. */
  deferred: number;
  wentOnline: number;
  wentOffline: number;
  bindingChanges: number;
  /** Bindings a fenced presence write found held by another node of the cluster. */
  bindingsLost: number;
}

export const newStats = (): KeepaliveStats => ({ received: 0, answered: 0, anonymous: 0, challenged: 0, rejected: 0, malformed: 0, retransmitted: 0, replayed: 0, throttled: 0, deferred: 0, wentOnline: 0, wentOffline: 0, bindingChanges: 0, bindingsLost: 0 });

/** Registers the keepalive metrics; returns the flush-duration histogram to observe. */
export function registerKeepaliveMetrics(registry: Registry, stats: KeepaliveStats, online: () => number, inMemory: () => number): Histogram {
  const counter = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  counter('stbd_cluster_bindings_lost_total', 'bindings this node stopped holding because another node of the cluster accepted their keepalives since', () => stats.bindingsLost);
  counter('stbd_keepalive_received_total', 'STUN datagrams received on the keepalive listener', () => stats.received);
  counter('stbd_keepalive_answered_total', 'keepalives accepted and answered with a Binding Success', () => stats.answered);
  counter('stbd_keepalive_anonymous_total', 'Binding Requests without USERNAME answered with the mapped address only ([stun] answer_anonymous)', () => stats.anonymous);
  counter('stbd_keepalive_challenged_total', 'keepalives answered 401 because MESSAGE-INTEGRITY was required', () => stats.challenged);
  counter('stbd_keepalive_deferred_total', 'keepalives from devices this cluster node did not hold in memory: held while the store was asked (or dropped, too many waiting)', () => stats.deferred);
  counter('stbd_keepalive_rejected_total', 'keepalives refused: unknown user, wrong MESSAGE-INTEGRITY, unknown attributes', () => stats.rejected);
  counter('stbd_keepalive_malformed_total', 'datagrams dropped because they are not a well-formed STUN Binding Request', () => stats.malformed);
  counter('stbd_keepalive_retransmitted_total', 'signed keepalives seen before, from the same source (a lost answer), answered again without counting as presence', () => stats.retransmitted);
  counter('stbd_keepalive_replayed_total', 'signed keepalives seen before, from another source (captured and replayed), refused with 401', () => stats.replayed);
  counter('stbd_presence_online_transitions_total', 'devices that came online', () => stats.wentOnline);
  counter('stbd_presence_offline_transitions_total', 'devices that went offline (no keepalive for [stun] offline_after)', () => stats.wentOffline);
  counter('stbd_presence_binding_changes_total', 'connection-request binding changes (BINDING-CHANGE, or a new address)', () => stats.bindingChanges);
  new Gauge({
    name: 'stbd_devices_online',
    help: 'devices currently online',
    registers: [registry],
    collect() {
      this.set(online());
    },
  });
  new Gauge({
    name: 'stbd_keepalive_devices_in_memory',
    help: 'devices the keepalive path holds in memory: every registered one; on a cluster node, those whose bindings it holds or that sent it a keepalive',
    registers: [registry],
    collect() {
      this.set(inMemory());
    },
  });
  return new Histogram({
    name: 'stbd_presence_flush_duration_seconds',
    help: 'time to write one batch of presence changes to SQLite',
    registers: [registry],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
  });
}
