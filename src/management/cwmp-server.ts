import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from '../log/logger.js';
import type { CpeReply, CpeRequest, CwmpSessions } from './cwmp-sessions.js';

export const SESSION_COOKIE = 'stbd_session';

const cookieOf = (header: string | undefined): string | undefined => {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) return part.slice(eq + 1).trim();
  }
  return undefined;
};

/** The host name (without port) the CPE put in its Host header. */
const hostOf = (header: string | undefined): string => {
  const h = header ?? '';
  return h.startsWith('[') ? h.slice(1, h.indexOf(']')) : h.replace(/:\d+$/, '');
};

/**
 * The CWMP endpoint (HTTP on `[cwmp] listen`): a thin transport over CwmpSessions. Any path is accepted,
 * as CPEs are configured with whatever ACS URL the operator typed.
 */
export function buildCwmpServer(sessions: CwmpSessions, log: Logger, bodyLimit: number): FastifyInstance {
  const app = Fastify({
    // No fastify logger: it would make a child logger per request, a measurable share of a session's cost.
    // The handlers log through `log` themselves.
    logger: false,
    bodyLimit,
    return503OnClosing: true,
    forceCloseConnections: true,
  });
  app.removeAllContentTypeParsers();
  // CPEs send text/xml, application/xml, or nothing at all on the empty POST: the body is read as text.
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
  const toRequest = (req: FastifyRequest): CpeRequest => ({
    cookie: cookieOf(req.headers.cookie),
    connection: req.raw.socket,
    authorization: req.headers.authorization,
    method: req.method,
    uri: req.raw.url ?? '/',
    body: typeof req.body === 'string' ? req.body : '',
    sourceAddress: req.raw.socket.remoteAddress ?? '',
    host: hostOf(req.headers.host),
  });
  const send = (reply: FastifyReply, r: CpeReply) => {
    switch (r.status) {
      case 200:
        if (r.cookie !== undefined) reply.header('set-cookie', `${SESSION_COOKIE}=${r.cookie}; Path=/; HttpOnly`);
        return reply.code(200).type('text/xml; charset="utf-8"').send(r.body);
      case 204:
        return reply.code(204).send();
      case 401:
        return reply.code(401).header('www-authenticate', r.challenge).type('text/plain').send('authentication required\n');
      case 400:
        return reply.code(400).type('text/plain').send(`${r.message}\n`);
    }
  };
  app.post('/*', async (req, reply) => send(reply, sessions.handle(toRequest(req))));
  app.setErrorHandler((err: { statusCode?: number; code?: string; message: string }, req, reply) => {
    const status = err.statusCode ?? 500;
    if (status === 413) {
      log.warn({ source: req.raw.socket.remoteAddress, limit: bodyLimit }, 'CWMP body over the limit; session ended');
      sessions.abandon(cookieOf(req.headers.cookie), req.raw.socket);
    } else if (status >= 500) {
      log.error({ err }, 'CWMP request failed');
    }
    return reply.code(status).type('text/plain').send(`${status >= 500 ? 'internal error' : err.message}\n`);
  });
  app.setNotFoundHandler((_req, reply) => reply.code(405).header('allow', 'POST').type('text/plain').send('CWMP sessions are HTTP POSTs\n'));
  return app;
}
