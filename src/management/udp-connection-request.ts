import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** The fields of a TR-111 UDP Connection Request (tr111.md §2). */
export interface ConnectionRequest {
  /** Unix time in seconds; strictly increasing per device. */
  readonly ts: number;
  /** Message id (unsigned); a CPE drops a repeat of the last one. */
  readonly id: number;
  /** The device's ConnectionRequestUsername. */
  readonly un: string;
  /** A random cnonce. */
  readonly cn: string;
}

/** sig = lowercase hex HMAC-SHA1(key = ConnectionRequestPassword, text = ts ‖ id ‖ un ‖ cn). */
export function signature(req: ConnectionRequest, password: string): string {
  return createHmac('sha1', password).update(`${req.ts}${req.id}${req.un}${req.cn}`).digest('hex');
}

/**
 * The datagram: an HTTP/1.1 GET with an absolute URI, empty path and the signed query, no body.
 * `host`/`port` are the device's binding as the daemon sees it.
 */
export function encodeConnectionRequest(req: ConnectionRequest, password: string, host: string, port: number): Buffer {
  const authority = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  const query = new URLSearchParams({ ts: String(req.ts), id: String(req.id), un: req.un, cn: req.cn, sig: signature(req, password) });
  return Buffer.from(`GET http://${authority}?${query} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`, 'latin1');
}

export type ParseFailure = { readonly error: string };

/** Reads a UDP Connection Request (the CPE side, and the simulator). Never throws. */
export function parseConnectionRequest(datagram: Buffer): (ConnectionRequest & { readonly sig: string }) | ParseFailure {
  const text = datagram.toString('latin1');
  const m = /^GET (\S+) HTTP\/1\.1\r\n/.exec(text);
  if (!m) return { error: 'not an HTTP/1.1 GET request line' };
  let url: URL;
  try {
    url = new URL(m[1] as string);
  } catch {
    return { error: 'the request target is not an absolute URI' };
  }
  const q = url.searchParams;
  const ts = Number(q.get('ts'));
  const id = Number(q.get('id'));
  const un = q.get('un');
  const cn = q.get('cn');
  const sig = q.get('sig');
  if (!Number.isSafeInteger(ts) || ts < 0 || !Number.isSafeInteger(id) || id < 0) return { error: 'ts and id must be unsigned integers' };
  if (un === null || cn === null || sig === null || !/^[0-9a-f]{40}$/.test(sig)) return { error: 'un, cn and a 40-hex-digit sig are required' };
  return { ts, id, un, cn, sig };
}

/** Does `sig` match? (Constant-time.) */
export function verifySignature(req: ConnectionRequest & { readonly sig: string }, password: string): boolean {
  return timingSafeEqual(Buffer.from(signature(req, password), 'hex'), Buffer.from(req.sig, 'hex'));
}

/**
 * Hands out (ts, id) pairs per device so that ts strictly increases even for two requests in one
 * second (ts is then bumped by one), and ids never repeat. In memory: after a restart, ts starts from
 * the clock again, which is later than any ts sent before unless requests outran the clock.
 */
export class ConnectionRequestSequencer {
  readonly #lastTs = new Map<string, number>();

  constructor(private readonly nowMs: () => number) {}

  next(deviceId: string, un: string): ConnectionRequest {
    const ts = Math.max(Math.floor(this.nowMs() / 1000), (this.#lastTs.get(deviceId) ?? 0) + 1);
    this.#lastTs.set(deviceId, ts);
    // One draw for both (each randomBytes call has a fixed cost well above its bytes').
    const random = randomBytes(12);
    return { ts, id: random.readUInt32BE(0), un, cn: random.toString('hex', 4, 12) };
  }
}
