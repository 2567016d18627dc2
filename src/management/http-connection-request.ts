import { answerChallenge } from '../http-digest.js';
import { httpRequestText } from '../http-request.js';

/**
 * A TR-069 HTTP Connection Request (for devices not behind NAT): a GET to the device's
 * ConnectionRequestURL, answering its Digest challenge with the connection-request credentials (Basic
 * only when `allowBasic`: it would send the password in clear). Resolves when the device accepted (2xx);
 * rejects with the reason otherwise.
 */
export async function httpConnectionRequest(url: string, user: { readonly username: string; readonly password: string }, timeoutMs: number, allowBasic = false): Promise<void> {
  const target = new URL(url);
  const uri = `${target.pathname}${target.search}`;
  let res = await httpRequestText({ method: 'GET', url, timeoutMs });
  if (res.status === 401) {
    const challenge = res.headers['www-authenticate'] ?? '';
    if (!allowBasic && /^\s*basic\b/i.test(challenge)) {
      throw new Error('the device asks for Basic authentication, which sends its connection-request password in clear; [cwmp] connection_request_allow_basic = true allows it');
    }
    const authorization = answerChallenge(challenge, user, 'GET', uri);
    if (!authorization) throw new Error('the device asked for an authentication scheme other than Digest or Basic');
    res = await httpRequestText({ method: 'GET', url, timeoutMs, headers: { authorization } });
  }
  if (res.status < 200 || res.status > 299) throw new Error(`the device answered HTTP ${res.status}`);
}
