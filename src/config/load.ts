import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseToml, TomlError } from 'smol-toml';
import { type Field, Problem } from './fields.js';
import { OperatorError } from '../errors.js';
import { parsePostgresUrl } from '../postgres-url.js';
import { nodeIdOf } from '../cluster/node-id.js';
import { parseStunAddress } from '../cluster/stun-address.js';
import { type Config, configSchema } from './schema.js';

/** The embedded default configuration shipped with the package (runs on a laptop, data under ./var/). */
export const DEFAULT_CONFIG_FILE = fileURLToPath(new URL('../../config/stbd.toml', import.meta.url));

/** A configuration that cannot be used; the message names the file, the key and what is wrong. */
export class ConfigError extends OperatorError {
  constructor(
    readonly file: string,
    readonly key: string | undefined,
    readonly problem: string,
  ) {
    super(`${file}: ${key === undefined ? '' : `${key}: `}${problem}`);
    this.name = 'ConfigError';
  }
}

export function loadConfig(file: string, cwd: string = process.cwd()): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, undefined, `cannot read the file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  return parseConfig(text, file, cwd);
}

const isTable = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

/** Validates TOML text against configSchema. Unknown sections and keys are errors: a typo must not pass silently. */
export function parseConfig(text: string, file: string, cwd: string): Config {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof TomlError) {
      throw new ConfigError(file, undefined, `TOML syntax error at line ${err.line}, column ${err.column}: ${err.message.split('\n')[0]}`);
    }
    throw err;
  }
  const sections = configSchema as Record<string, Record<string, Field<unknown>>>;
  for (const [name, value] of Object.entries(doc)) {
    if (!(name in sections)) {
      throw new ConfigError(file, isTable(value) ? `[${name}]` : name, `unknown ${isTable(value) ? 'section' : 'key'} (known sections: ${Object.keys(sections).join(', ')})`);
    }
    if (!isTable(value)) throw new ConfigError(file, name, `must be a [${name}] section, not a value`);
  }
  const out: Record<string, unknown> = { file };
  for (const [name, fields] of Object.entries(sections)) {
    const given = (doc[name] ?? {}) as Record<string, unknown>;
    for (const key of Object.keys(given)) {
      if (!(key in fields)) {
        throw new ConfigError(file, `[${name}] ${key}`, `unknown key (known keys in [${name}]: ${Object.keys(fields).join(', ')})`);
      }
    }
    const section: Record<string, unknown> = {};
    for (const [key, field] of Object.entries(fields)) {
      const parsed = field.parse(key in given ? given[key] : field.default, { cwd });
      if (parsed instanceof Problem) throw new ConfigError(file, `[${name}] ${key}`, parsed.message);
      section[key] = parsed;
    }
    out[name] = section;
  }
  const config = out as Config;
  crossCheck(config);
  return config;
}

/** [store]: a PostgreSQL store needs its URL, and the URL must not hold the password (configs get shared and logged). */
function checkStore(c: Config): void {
  const s = c.store;
  if (s.kind === 'sqlite') {
    // Set for PostgreSQL but kind forgotten: stbd would quietly go on with the SQLite file.
    const stray = s.url !== '' ? 'url' : s.password_file !== undefined ? 'password_file' : undefined;
    if (stray) throw new ConfigError(c.file, `[store] ${stray}`, 'is for PostgreSQL: set [store] kind = "postgres" too, or remove it');
    return;
  }
  const example = '"postgres://stbd@db.example.net:5432/stbd"';
  if (s.url === '') throw new ConfigError(c.file, '[store] url', `required when [store] kind = "postgres" (e.g. ${example})`);
  const u = parsePostgresUrl(s.url);
  if (!u) throw new ConfigError(c.file, '[store] url', `expected a URL such as ${example}, got ${JSON.stringify(s.url)}`);
  if (u.password !== '' || u.searchParams.has('password')) {
    throw new ConfigError(c.file, '[store] url', 'holds a password: remove it from the URL and put it in a file named by [store] password_file (mode 0600)');
  }
  if (u.pathname.length <= 1) throw new ConfigError(c.file, '[store] url', `names no database (e.g. ${example})`);
}

/** [cluster]: a node id that can name its notification channel, a STUN address STBs can be given. */
function checkCluster(c: Config): void {
  if (c.cluster.node_id !== '') {
    try {
      nodeIdOf(c.cluster.node_id, '');
    } catch {
      throw new ConfigError(c.file, '[cluster] node_id', `expected letters, digits, '.', '_' and '-' (at most 48, starting with a letter or digit), or "" for the host name, got ${JSON.stringify(c.cluster.node_id)}`);
    }
  }
  if (c.cluster.stun_address !== '' && !parseStunAddress(c.cluster.stun_address)) {
    throw new ConfigError(c.file, '[cluster] stun_address', `expected the public host:port STBs reach this node's STUN listener at (e.g. "stun-a.example.net:3478"), or "", got ${JSON.stringify(c.cluster.stun_address)}`);
  }
}

/** Rules that involve more than one key. */
function crossCheck(c: Config): void {
  checkStore(c);
  checkCluster(c);
  if (c.cas.kind === 'http') {
    if (!/^https?:\/\/[^/\s]+/.test(c.cas.url)) throw new ConfigError(c.file, '[cas] url', `expected the CAS's http(s) URL when [cas] kind = "http", got ${JSON.stringify(c.cas.url)}`);
    if (!c.cas.token_file) throw new ConfigError(c.file, '[cas] token_file', 'required when [cas] kind = "http" (the file holding its bearer token)');
  }
  if (c.ca.kind === 'http') {
    if (!/^https?:\/\/[^/\s]+/.test(c.ca.url)) throw new ConfigError(c.file, '[ca] url', `expected the CA's http(s) URL when [ca] kind = "http", got ${JSON.stringify(c.ca.url)}`);
    if (!c.ca.token_file) throw new ConfigError(c.file, '[ca] token_file', 'required when [ca] kind = "http" (the file holding its bearer token)');
  }
  if (!/^[\x21-\x7e]{0,64}$/.test(c.certs.derived_id_prefix)) {
    throw new ConfigError(c.file, '[certs] derived_id_prefix', `expected up to 64 visible ASCII characters (no spaces), or "" for none, got ${JSON.stringify(c.certs.derived_id_prefix)}`);
  }
  for (const [section, tls] of [['certs', c.certs], ['cwmp', c.cwmp], ['files', c.files]] as const) {
    if ((tls.tls_cert_file === undefined) !== (tls.tls_key_file === undefined)) {
      throw new ConfigError(c.file, `[${section}] ${tls.tls_cert_file === undefined ? 'tls_cert_file' : 'tls_key_file'}`, 'give both tls_cert_file and tls_key_file, or neither (the builtin CA then issues the server certificate)');
    }
  }
  if (c.uploads.url !== '' && !/^https?:\/\/[^/\s?#@]+\/?$/.test(c.uploads.url)) {
    throw new ConfigError(c.file, '[uploads] url', `expected "" or a scheme, host and port a CPE reaches a CWMP listener at, such as "https://acs.example.net:7548" (no path), got ${JSON.stringify(c.uploads.url)}`);
  }
  if (c.files.url !== '' && !/^https?:\/\/[^/\s?#@]+(?:\/[^\s?#]*)?$/.test(c.files.url)) {
    throw new ConfigError(c.file, '[files] url', `expected "" or the scheme, host and port devices reach the file server at, such as "https://files.example.net:7551", got ${JSON.stringify(c.files.url)}`);
  }
  if (!c.files.tls_listen && (c.files.tls_cert_file !== undefined || c.files.tls_key_file !== undefined)) {
    throw new ConfigError(c.file, `[files] ${c.files.tls_cert_file !== undefined ? 'tls_cert_file' : 'tls_key_file'}`, 'is for the HTTPS file server: set [files] tls_listen too');
  }
  if (!c.cwmp.listen && !c.cwmp.tls_listen) throw new ConfigError(c.file, '[cwmp] listen', 'CPEs need a way in: give [cwmp] listen (HTTP), [cwmp] tls_listen (HTTPS), or both');
  if (!c.cwmp.tls_listen) {
    const only = (['tls_cert_file', 'tls_key_file', 'client_ca_file'] as const).find((k) => c.cwmp[k] !== undefined);
    if (only) throw new ConfigError(c.file, `[cwmp] ${only}`, 'is for the HTTPS endpoint: set [cwmp] tls_listen too');
  }
}
