import { createReadStream } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../errors.js';
import type { ApiDeps } from '../server.js';

/**
 * GET /v1/backup: a consistent copy of the database, made while stbd runs, as the response body. The master
 * key is not in it (it seals the private keys and device secrets the copy holds): back it up apart.
 */
export function backupRoutes(app: FastifyInstance, { backup, log }: ApiDeps): void {
  app.get('/v1/backup', async (_req, reply) => {
    if (!backup) throw new ApiError(409, 'not-sqlite', 'the store is PostgreSQL: back it up with pg_dump or continuous archiving (pgBackRest, Barman), not stbctl backup');
    const copy = await backup.snapshot();
    log.info({ bytes: copy.bytes }, 'database backup taken');
    const stream = createReadStream(copy.path);
    stream.on('close', () => copy.discard());
    return reply
      .header('content-type', 'application/vnd.sqlite3')
      .header('content-disposition', 'attachment; filename="stbd-backup.db"')
      .send(stream);
  });
}
