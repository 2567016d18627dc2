import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type CasMode = 'ok' | 'fail' | 'hang' | 'refuse';

/**
 * A small real HTTP server playing an external CAS (the contract of src/cas/http-cas.ts). It honours
 * idempotency keys (a repeated key gets the first answer and changes nothing), and can be told to fail
 * (503), hang (never answer) or refuse (400). `effects` counts real state changes.
 */
export class FakeCas {
  mode: CasMode = 'ok';
  readonly registered = new Map<string, string>();
  readonly effects = { registrations: 0, deregistrations: 0 };
  readonly calls: { path: string; key: string | undefined; auth: string | undefined }[] = [];
  readonly #answers = new Map<string, { status: number; body: string }>();
  readonly #hanging: ServerResponse[] = [];
  private constructor(
    readonly server: Server,
    readonly token: string,
  ) {}

  static async start(token = 'cas-token'): Promise<FakeCas> {
    const server = createServer();
    const cas = new FakeCas(server, token);
    server.on('request', (req, res) => void cas.#handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return cas;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const res of this.#hanging.splice(0)) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const key = req.headers['idempotency-key'] as string | undefined;
    this.calls.push({ path: req.url ?? '', key, auth: req.headers.authorization });
    if (this.mode === 'hang') return void this.#hanging.push(res);
    if (this.mode === 'fail') return void res.writeHead(503).end('{"error":"maintenance"}');
    if (this.mode === 'refuse') return void res.writeHead(400).end('{"error":"no"}');
    if (req.headers.authorization !== `Bearer ${this.token}`) return void res.writeHead(401).end();
    const answer = key ? this.#answers.get(key) : undefined;
    if (answer) return void res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
    const body = JSON.parse(Buffer.concat(chunks).toString() || '{}') as { device?: string; certificateId?: string };
    let reply: { status: number; body: string };
    if (req.url === '/registrations' && body.device) {
      const certificateId = this.registered.get(body.device) ?? `cas-${randomUUID()}`;
      if (!this.registered.has(body.device)) this.effects.registrations++;
      this.registered.set(body.device, certificateId);
      reply = { status: 201, body: JSON.stringify({ certificateId }) };
    } else if (req.url === '/deregistrations' && body.device) {
      if (!this.registered.delete(body.device)) reply = { status: 404, body: '' };
      else {
        this.effects.deregistrations++;
        reply = { status: 204, body: '' };
      }
    } else {
      reply = { status: 400, body: '{"error":"bad request"}' };
    }
    if (key) this.#answers.set(key, reply);
    res.writeHead(reply.status, { 'content-type': 'application/json' }).end(reply.body);
  }
}
