import { type SimStats, totalRejected } from './sim-events.js';

/** One line for a human watching a run: sessions, connection requests, STUN. */
export function statusLine(devices: number, s: SimStats): string {
  const rejected = Object.entries(s.crRejected)
    .filter(([, n]) => n > 0)
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');
  return [
    `${devices} device${devices === 1 ? '' : 's'}`,
    `sessions ${s.sessionsOk} ok, ${s.sessionsFailed} failed`,
    `RPCs ${Object.values(s.rpcs).reduce((a, b) => a + b, 0)} (${s.faultsSent} faults)`,
    `CRs ${s.crAccepted} accepted, ${totalRejected(s)} rejected${rejected ? ` (${rejected})` : ''}, ${s.crDropped} dropped`,
    `STUN ${s.stunSent} sent, ${s.stunResponses} answered, ${s.stun401} 401, ${s.stunTimeouts} timed out`,
    ...(s.certRequests > 0 || s.certNotices > 0 ? [`certs ${s.certsValid} fetched, ${s.certsFailed} failed, ${s.certNotices} update notices`] : []),
    ...(s.valueChanges > 0 ? [`${s.valueChanges} value changes reported`] : []),
    ...(s.uploads > 0 || s.uploadsFailed > 0 ? [`uploads ${s.uploads} taken, ${s.uploadsFailed} failed`] : []),
    ...(s.downloads > 0 || s.downloadsFailed > 0 ? [`downloads ${s.downloads} ok, ${s.downloadsFailed} failed, ${s.firmwareInstalled} firmware installed, ${s.bricked} bricked`] : []),
  ].join(' · ');
}
