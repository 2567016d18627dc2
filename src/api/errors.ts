import type { FastifyError, FastifyInstance } from 'fastify';
import type { ErrorObject } from 'ajv';
import { isStoreUnavailable } from '../store/store-unavailable.js';
import { describeSchemaError } from '../validate.js';

/** An answer other than success, with a stable machine code and a one-line message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

const CODE_OF_STATUS: Record<number, string> = {
  400: 'bad-request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not-found',
  405: 'method-not-allowed',
  409: 'conflict',
  413: 'too-large',
  415: 'unsupported-media-type',
};

/**
 * Every error leaves as `{error: CODE, message}`. Client mistakes are 4xx with what to fix;
 * anything unexpected is logged and answered 500 without internals.
 */
export function installErrorHandling(app: FastifyInstance): void {
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ error: 'not-found', message: `no route ${req.method} ${req.url.split('?')[0]}` });
  });
  app.setErrorHandler((err: FastifyError | ApiError, req, reply) => {
    if (err instanceof ApiError) {
      return reply.code(err.status).send({ error: err.code, message: err.message, ...err.extra });
    }
    if (err.validation?.[0]) {
      return reply.code(400).send({ error: 'bad-request', message: describeSchemaError(err.validation[0] as ErrorObject) });
    }
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      req.log.info({ err: err.message, code: err.code }, 'request refused');
      return reply.code(status).send({ error: CODE_OF_STATUS[status] ?? 'bad-request', message: err.message });
    }
    if (isStoreUnavailable(err)) {
      // Not acknowledged: the client tries again once the store is back (a connection lost during COMMIT leaves the
      // outcome unknown, which is what idempotency keys are for).
      req.log.warn({ err: (err as Error).message }, 'request refused: the store is unavailable');
      return reply.code(503).header('retry-after', '5').send({ error: 'store-unavailable', message: 'the store cannot be reached just now; try again' });
    }
    req.log.error({ err }, 'request failed');
    return reply.code(500).send({ error: 'internal', message: 'internal error (logged by stbd)' });
  });
}
