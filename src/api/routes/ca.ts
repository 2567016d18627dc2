import type { FastifyInstance } from 'fastify';
import { caCertificateView } from '../../ca/ca-certificate.js';
import { ApiError } from '../errors.js';
import type { ApiDeps } from '../server.js';

/** GET /v1/ca: the builtin CA's certificate (PEM included, to install in STB trust stores). */
export function caRoutes(app: FastifyInstance, { builtinCaPem }: ApiDeps): void {
  app.get('/v1/ca', async () => {
    const pem = await builtinCaPem();
    if (pem === undefined) throw new ApiError(404, 'not-found', "the builtin CA does not exist yet: it is created on first use, or by 'stbd ca init'");
    return caCertificateView(pem);
  });
}
