import { type AcsMessage, AcsMessageError, type CpeSoap } from './cpe-soap.js';
import { SessionError, type SessionHttp, type SessionReply } from './session-http.js';

/** What the CPE has to say in one session. */
export interface SessionScript {
  readonly inform: string;
  /** A TransferComplete to send after the InformResponse. */
  readonly transferComplete?: string;
  /** Answers one ACS RPC with its response or a fault, as XML. */
  answer(message: AcsMessage): Promise<string>;
}

export interface SessionResult {
  /** The RPCs the ACS sent, in order. */
  readonly rpcs: readonly string[];
  readonly transferCompleteDelivered: boolean;
}

const MAX_RPCS = 10_000;

function expectOk(reply: SessionReply, what: string): void {
  if (reply.status !== 200) throw new SessionError(`${what}: HTTP ${reply.status}`, reply.retryAfterMs);
}

function parse(soap: CpeSoap, text: string, what: string): AcsMessage {
  try {
    return soap.parse(text);
  } catch (err) {
    throw new SessionError(`${what}: ${err instanceof AcsMessageError ? err.message : String(err)}`);
  }
}

/**
 * One CWMP session as TR-069 §3.7 has it: Inform → InformResponse; the CPE's own requests; an empty POST;
 * then each 200 carries one RPC to answer, until the ACS answers 204 (or 200 with no body).
 * @throws SessionError when the ACS fails, refuses or answers something unusable.
 */
export async function runSession(http: SessionHttp, soap: CpeSoap, script: SessionScript): Promise<SessionResult> {
  const informed = await http.post(script.inform);
  expectOk(informed, 'Inform');
  const ir = parse(soap, informed.text, 'InformResponse');
  if (ir.method !== 'InformResponse') throw new SessionError(`expected InformResponse, got ${ir.method}`);

  let transferCompleteDelivered = false;
  let reply = informed;
  if (script.transferComplete !== undefined) {
    reply = await http.post(script.transferComplete);
    if (reply.status === 200 && reply.text.trim() !== '') {
      const m = parse(soap, reply.text, 'TransferCompleteResponse');
      if (m.method !== 'TransferCompleteResponse') throw new SessionError(`expected TransferCompleteResponse, got ${m.method}`);
    } else if (reply.status === 204) {
      return { rpcs: [], transferCompleteDelivered: true };
    } else {
      expectOk(reply, 'TransferComplete');
    }
    transferCompleteDelivered = true;
  }

  const rpcs: string[] = [];
  reply = await http.post('');
  while (reply.status === 200 && reply.text.trim() !== '') {
    if (rpcs.length >= MAX_RPCS) throw new SessionError(`more than ${MAX_RPCS} RPCs in one session`);
    const rpc = parse(soap, reply.text, 'RPC');
    rpcs.push(rpc.method);
    reply = await http.post(await script.answer(rpc));
  }
  if (reply.status !== 204 && reply.status !== 200) throw new SessionError(`HTTP ${reply.status}`, reply.retryAfterMs);
  return { rpcs, transferCompleteDelivered };
}
