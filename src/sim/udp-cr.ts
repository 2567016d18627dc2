import { parseConnectionRequest, verifySignature } from '../management/udp-connection-request.js';

export type CrRejectReason = 'bad-format' | 'bad-username' | 'bad-signature' | 'stale-ts' | 'repeated-id';

export const CR_REJECT_REASONS: readonly CrRejectReason[] = ['bad-format', 'bad-username', 'bad-signature', 'stale-ts', 'repeated-id'];

export type CrVerdict = { readonly ok: true; readonly ts: number; readonly id: number } | { readonly ok: false; readonly reason: CrRejectReason };

/**
 * Decides whether a UDP Connection Request datagram is genuine and fresh, as deployed agents do
 * (tr111.md §2): well-formed, our username, a valid signature, an id other than the last accepted and
 * a ts strictly greater than it. Only an accepted request moves the (ts, id) memory.
 */
export class UdpCrValidator {
  #lastTs = -1;
  #lastId: number | undefined;

  check(datagram: Buffer, credentials: { readonly username: string; readonly password: string }): CrVerdict {
    const req = parseConnectionRequest(datagram);
    if ('error' in req) return { ok: false, reason: 'bad-format' };
    if (req.un !== credentials.username) return { ok: false, reason: 'bad-username' };
    if (!verifySignature(req, credentials.password)) return { ok: false, reason: 'bad-signature' };
    if (req.id === this.#lastId) return { ok: false, reason: 'repeated-id' };
    if (req.ts <= this.#lastTs) return { ok: false, reason: 'stale-ts' };
    this.#lastTs = req.ts;
    this.#lastId = req.id;
    return { ok: true, ts: req.ts, id: req.id };
  }
}
