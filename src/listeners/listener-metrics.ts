import { Counter, Gauge, type Registry } from 'prom-client';

/** The metrics every guarded listener shares (registered once per registry). */
export interface ListenerMetrics {
  readonly refused: Counter<'listener' | 'reason'>;
  readonly open: Gauge<'listener'>;
}

export function registerListenerMetrics(registry: Registry): ListenerMetrics {
  return {
    refused: new Counter({
      name: 'stbd_connections_refused_total',
      help: 'connections a listener refused or closed at a limit, by listener (cwmp, certs, api, files) and reason (max_connections, max_connections_per_source, header_timeout, body_timeout, malformed_http: a request that is not valid HTTP, on cwmp and files)',
      labelNames: ['listener', 'reason'] as const,
      registers: [registry],
    }),
    open: new Gauge({ name: 'stbd_connections_open', help: 'connections a listener serves now (those answered 503 not included), by listener', labelNames: ['listener'] as const, registers: [registry] }),
  };
}
