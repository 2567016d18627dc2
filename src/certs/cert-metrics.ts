import { Counter, Gauge, type Registry } from 'prom-client';
import type { CertStatus } from './certificate.js';

export interface CertMetrics {
  /** STB endpoint answers, by status (valid, not-found, expired, revoked, auth-failed, rate-limited, issued, bad-request…). */
  readonly requests: Counter<'status'>;
  readonly expiredUnacknowledged: Counter;
  readonly noncesEvicted: Counter;
}

const STATUSES: readonly CertStatus[] = ['valid', 'update-pending', 'expired', 'revoked'];

/** The certificate proxy's metrics; the gauge reads the store when Prometheus scrapes. */
export function registerCertMetrics(registry: Registry, counts: () => Promise<Record<string, number>>): CertMetrics {
  new Gauge({
    name: 'stbd_certificates',
    help: 'certificates the proxy stores, by status',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      const n = await counts();
      for (const s of STATUSES) this.set({ status: s }, n[s] ?? 0);
    },
  });
  return {
    requests: new Counter({ name: 'stbd_certificate_requests_total', help: 'answers of the STB certificate endpoint, by status', labelNames: ['status'], registers: [registry] }),
    expiredUnacknowledged: new Counter({
      name: 'stbd_certificates_expired_unacknowledged_total',
      help: 'certificates that expired while their STB had not acknowledged the update notice',
      registers: [registry],
    }),
    noncesEvicted: new Counter({
      name: 'stbd_certificate_nonces_evicted_total',
      help: 'STB request nonces forgotten early because the nonce memory was full (the accepted time window shrank)',
      registers: [registry],
    }),
  };
}
