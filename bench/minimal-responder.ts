/**
 * The Node ceiling for the keepalive job: a minimal hand-written dgram STUN responder, no stbd code.
 * Answers every datagram that looks like a STUN Binding Request with a 32-byte RFC 5389 Binding Success
 * holding only XOR-MAPPED-ADDRESS: no USERNAME lookup, no MESSAGE-INTEGRITY, no FINGERPRINT, no state.
 * Mode `echo` sends every datagram back unchanged (the trivial echo that measures the load generator).
 *
 *   node --import tsx bench/minimal-responder.ts [stun|echo]
 *
 * Prints {"port": N} on stdout once bound to 127.0.0.1 on an ephemeral port; runs until killed.
 */
import { createSocket } from 'node:dgram';

const mode = process.argv[2] ?? 'stun';
if (mode !== 'stun' && mode !== 'echo') throw new Error(`unknown mode ${mode}`);

const MAGIC_COOKIE = 0x2112a442;

/** Dotted quad to uint32 without allocating (127.0.0.1 is all this ever sees). */
function ipv4(address: string): number {
  let value = 0;
  let part = 0;
  for (let i = 0; i < address.length; i++) {
    const c = address.charCodeAt(i);
    if (c === 46) {
      value = value * 256 + part;
      part = 0;
    } else {
      part = part * 10 + (c - 48);
    }
  }
  return (value * 256 + part) >>> 0;
}

const socket = createSocket('udp4');

socket.on('message', (msg, rinfo) => {
  if (mode === 'echo') {
    socket.send(msg, rinfo.port, rinfo.address);
    return;
  }
  // A Binding Request: at least a header, top two bits clear, type 0x0001.
  if (msg.length < 20 || msg[0] !== 0 || msg[1] !== 1) return;
  const out = Buffer.allocUnsafe(32);
  out.writeUInt16BE(0x0101, 0); // Binding Success
  out.writeUInt16BE(12, 2); // attribute bytes
  msg.copy(out, 4, 4, 20); // magic cookie and transaction id, as sent (RFC 3489 agents included)
  out.writeUInt16BE(0x0020, 20); // XOR-MAPPED-ADDRESS
  out.writeUInt16BE(8, 22);
  out.writeUInt16BE(0x0001, 24); // IPv4
  out.writeUInt16BE(rinfo.port ^ (MAGIC_COOKIE >>> 16), 26);
  out.writeUInt32BE((ipv4(rinfo.address) ^ MAGIC_COOKIE) >>> 0, 28);
  socket.send(out, rinfo.port, rinfo.address);
});

socket.bind(0, '127.0.0.1', () => {
  try {
    socket.setRecvBufferSize(4 * 1024 * 1024); // as stbd does
  } catch {
    // capped by net.core.rmem_max; the default still works
  }
  process.stdout.write(`${JSON.stringify({ port: socket.address().port })}\n`);
});

// The orchestrator kills us; also stop if it went away without doing so.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
