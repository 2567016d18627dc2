import { Counter, type Registry } from 'prom-client';

const NAME = 'stbd_auth_throttled_total';

/**
 * `stbd_auth_throttled_total{listener}`: requests refused because their source was over a limit on
 * challenges or failed logins. Every listener counts in this one metric: the first to ask registers it,
 * the others get the same counter (prom-client refuses a name registered twice).
 */
export function authThrottledCounter(registry: Registry): Counter<'listener'> {
  const existing = registry.getSingleMetric(NAME);
  if (existing) return existing as Counter<'listener'>;
  return new Counter({ name: NAME, help: 'requests refused because their source address was over its limit of authentication challenges or failed logins, by listener (cwmp, stun)', labelNames: ['listener'] as const, registers: [registry] });
}
