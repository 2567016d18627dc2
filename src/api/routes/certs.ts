import type { FastifyInstance } from 'fastify';
import type { CertificateRecord } from '../../certs/certificate.js';
import { CertError } from '../../certs/cert-service.js';
import { MAX_ID_LENGTH, PRINTABLE_PATTERN } from '../../devices/device-input.js';
import { ApiError } from '../errors.js';
import type { ApiDeps } from '../server.js';
import { certificateView } from '../views.js';

const STATUS: Record<CertError['code'], number> = {
  'not-found': 404,
  conflict: 409,
  'limit-reached': 409,
  revoked: 409,
  'unknown-device': 400,
  'ca-unavailable': 503,
  'ca-refused': 502,
};

function refused(err: unknown): never {
  if (err instanceof CertError) throw new ApiError(STATUS[err.code], err.code, err.message);
  throw err;
}

const id = { type: 'string', minLength: 1, maxLength: MAX_ID_LENGTH, pattern: PRINTABLE_PATTERN } as const;
const certParams = { type: 'object', required: ['id'], properties: { id } } as const;
/** A PEM certificate chain is a few KiB; a challenge is the media system's nonce; an RSA-4096 signature is 684 base64 characters. */
const verifyBody = {
  type: 'object',
  additionalProperties: false,
  required: ['certificatePem', 'challenge', 'signature'],
  properties: {
    certificatePem: { type: 'string', minLength: 1, maxLength: 65_536 },
    challenge: { type: 'string', minLength: 1, maxLength: 4096 },
    signature: { type: 'string', minLength: 1, maxLength: 4096, pattern: '^[A-Za-z0-9+/]+={0,2}$' },
  },
} as const;

/**
 * The certificate proxy for the operator (stbctl certs …): list, show with its versions, issue, renew,
 * revoke; and for the media system (its own token) creating certificates and verifying what an STB
 * presented (seed 002 step 5). STBs never create certificate ids here.
 */
export function certRoutes(app: FastifyInstance, { certs }: ApiDeps): void {
  app.get<{ Querystring: { after: string; limit: number; device?: string } }>(
    '/v1/certificates',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { after: { type: 'string', maxLength: MAX_ID_LENGTH, default: '' }, limit: { type: 'integer', minimum: 1, maximum: 10_000, default: 1000 }, device: id },
        },
      },
    },
    async (req) => {
      const { after, limit, device } = req.query;
      const page: CertificateRecord[] = device === undefined ? await certs.page(after, limit) : (await certs.ofDevice(device)).filter((c) => c.id > after).slice(0, limit);
      return { certificates: page.map(certificateView), next: page.length === limit ? (page.at(-1)?.id ?? null) : null };
    },
  );

  app.get<{ Params: { id: string } }>('/v1/certificates/:id', { schema: { params: certParams } }, async (req) => {
    const c = await certs.get(req.params.id);
    if (!c) throw new ApiError(404, 'not-found', `no certificate ${JSON.stringify(req.params.id)}`);
    return {
      ...certificateView(c),
      versions: (await certs.versions(c.id)).map((v) => ({
        version: v.version,
        serial: v.serial,
        notBefore: new Date(v.notBefore).toISOString(),
        notAfter: new Date(v.notAfter).toISOString(),
        issuedAt: new Date(v.issuedAt).toISOString(),
        reason: v.reason,
      })),
    };
  });

  app.post<{ Body: { device: string; id?: string } }>(
    '/v1/certificates',
    // The media system names the certificate each STB presents (seed 002 step 1), so it may create them too.
    { config: { access: 'media' }, schema: { body: { type: 'object', additionalProperties: false, required: ['device'], properties: { device: id, id } } } },
    async (req, reply) => {
      const c = await certs.issue(req.body.device, req.body.id).catch(refused);
      return reply.code(201).send(certificateView(c));
    },
  );

  app.post<{ Params: { id: string } }>('/v1/certificates/:id/renew', { schema: { params: certParams } }, async (req) => certificateView(await certs.renew(req.params.id).catch(refused)));

  app.post<{ Params: { id: string } }>('/v1/certificates/:id/revoke', { schema: { params: certParams } }, async (req) => {
    return certificateView(await certs.revoke(req.params.id).catch(refused));
  });

  app.post<{ Params: { id: string }; Body: { certificatePem: string; challenge: string; signature: string } }>(
    '/v1/certificates/:id/verify',
    { config: { access: 'media' }, schema: { params: certParams, body: verifyBody } },
    async (req) => {
      const v = await certs.verify(req.params.id, req.body);
      req.log.info({ cert: req.params.id, valid: v.valid, ...(v.valid ? {} : { reason: v.reason }) }, 'media system verification');
      return v.valid ? { valid: true, notAfter: new Date(v.notAfter).toISOString() } : { valid: false, reason: v.reason };
    },
  );
}
