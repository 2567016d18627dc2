/**
 * Profile value templates: `{id}`, `{serialNumber}`, `{secret}` (a generated per-device secret, stored
 * sealed) and `{param:Full.Parameter.Path}` (the device's last known value). `{{` and `}}` are literal
 * braces. Pure.
 */
export interface TemplateFacts {
  readonly id: string;
  readonly serialNumber: string;
  /** undefined: not known yet (fetched first). */
  param(path: string): string | undefined;
  /** Only asked for when the template uses {secret}. */
  readonly secret: string | undefined;
}

type Piece = { readonly kind: 'text'; readonly text: string } | { readonly kind: 'id' | 'serialNumber' | 'secret' } | { readonly kind: 'param'; readonly path: string };

const PLACEHOLDER = /\{\{|\}\}|\{([^{}]*)\}|[{}]/g;
const PARAM_PATH = /^(InternetGatewayDevice|Device)\.([A-Za-z0-9_-]+\.)*[A-Za-z0-9_-]+$/;

function pieces(template: string): Piece[] | string {
  // Most values are plain text: no parse.
  if (!template.includes('{') && !template.includes('}')) return [{ kind: 'text', text: template }];
  const out: Piece[] = [];
  let last = 0;
  for (const m of template.matchAll(PLACEHOLDER)) {
    if (m.index > last) out.push({ kind: 'text', text: template.slice(last, m.index) });
    last = m.index + m[0].length;
    if (m[0] === '{{' || m[0] === '}}') {
      out.push({ kind: 'text', text: m[0][0] as string });
      continue;
    }
    const inner = m[1];
    if (inner === undefined) return `unmatched ${JSON.stringify(m[0])} at character ${m.index + 1} (write {{ or }} for a brace)`;
    if (inner === 'id' || inner === 'serialNumber' || inner === 'secret') out.push({ kind: inner });
    else if (inner.startsWith('param:') && PARAM_PATH.test(inner.slice(6))) out.push({ kind: 'param', path: inner.slice(6) });
    else return `unknown placeholder {${inner}} at character ${m.index + 1} (expected {id}, {serialNumber}, {secret} or {param:Full.Parameter.Path})`;
  }
  if (last < template.length) out.push({ kind: 'text', text: template.slice(last) });
  return out;
}

/** What is wrong with a template, or undefined. */
export function templateProblem(template: string): string | undefined {
  const p = pieces(template);
  return typeof p === 'string' ? p : undefined;
}

/** What a template needs besides the device's id and serial number. */
export function templateNeeds(template: string): { readonly params: readonly string[]; readonly secret: boolean } {
  const p = pieces(template);
  if (typeof p === 'string') return { params: [], secret: false };
  return { params: p.flatMap((x) => (x.kind === 'param' ? [x.path] : [])), secret: p.some((x) => x.kind === 'secret') };
}

/** The value a template stands for on one device; undefined while a {param:…} it uses is not known. */
export function renderTemplate(template: string, facts: TemplateFacts): string | undefined {
  if (!template.includes('{') && !template.includes('}')) return template;
  const p = pieces(template);
  if (typeof p === 'string') return undefined;
  let out = '';
  for (const x of p) {
    if (x.kind === 'text') out += x.text;
    else if (x.kind === 'id') out += facts.id;
    else if (x.kind === 'serialNumber') out += facts.serialNumber;
    else if (x.kind === 'secret') {
      if (facts.secret === undefined) return undefined;
      out += facts.secret;
    } else if (x.kind === 'param') {
      const v = facts.param(x.path);
      if (v === undefined) return undefined;
      out += v;
    }
  }
  return out;
}
