import { createHash } from 'node:crypto';
import { parse as parseToml, TomlError } from 'smol-toml';
import { parseSelector } from '../devices/selector/parser.js';
import { SelectorError } from '../devices/selector/selector-error.js';
import { NOTIFICATIONS, type Notification } from '../management/task.js';
import { PERIODIC_INFORM_PROFILE, type DesiredNotification, type DesiredValue, type Profile } from './profile.js';
import { templateProblem } from './templates.js';

/** A profile file stbd cannot use: the message says where and why; nothing is changed. */
export class ProfileFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProfileFileError';
  }
}

export const MAX_PROFILE_BYTES = 256 * 1024;
export const MAX_PROFILE_VALUES = 1000;
const NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const PATH = /^(InternetGatewayDevice|Device)\.([A-Za-z0-9_-]+\.)*[A-Za-z0-9_-]+$/;
const KEYS = new Set(['name', 'selector', 'priority', 'events', 'values', 'types', 'notifications']);
const TYPES = new Set(['string', 'boolean', 'int', 'unsignedInt', 'long', 'unsignedLong', 'dateTime', 'base64', 'hexBinary']);

const fail = (what: string): never => {
  throw new ProfileFileError(what);
};

/** The xsi:type a TOML value is sent with, unless `[types]` says otherwise. */
function typeOf(v: unknown): string {
  if (typeof v === 'boolean') return 'xsd:boolean';
  if (typeof v === 'number' || typeof v === 'bigint') return Number(v) < 0 ? 'xsd:int' : 'xsd:unsignedInt';
  return 'xsd:string';
}

/**
 * Parses and checks a profile file (TOML): name, selector, priority, events, `[values]`, optional `[types]`
 * (a value's xsi:type: "unsignedInt", "boolean", …) and `[notifications]` ("active" | "passive" | "off").
 * @throws ProfileFileError naming the key (or the line and column for TOML syntax) of the first mistake
 */
export function parseProfile(text: string): Profile {
  if (Buffer.byteLength(text, 'utf8') > MAX_PROFILE_BYTES) fail(`the profile file is larger than ${MAX_PROFILE_BYTES} bytes`);
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof TomlError) fail(`not valid TOML: line ${err.line}, column ${err.column}: ${err.message.split('\n')[0]}`);
    throw err;
  }
  for (const k of Object.keys(doc)) if (!KEYS.has(k)) fail(`unknown key ${JSON.stringify(k)} (expected ${[...KEYS].join(', ')})`);
  const name = doc['name'];
  if (typeof name !== 'string' || !NAME.test(name)) fail('name: expected 1 to 63 characters of a-z, 0-9, ".", "_", "-", starting with a letter or digit');
  if (name === PERIODIC_INFORM_PROFILE) fail(`name: ${JSON.stringify(PERIODIC_INFORM_PROFILE)} is the built-in periodic Inform profile's`);
  const selector = doc['selector'] ?? '';
  if (typeof selector !== 'string') fail('selector: expected a string (a selector, see docs/selectors.md; "" for every device)');
  let condition;
  try {
    condition = (selector as string).trim() === '' ? undefined : parseSelector(selector as string);
  } catch (err) {
    if (err instanceof SelectorError) fail(`selector: ${err.message}`);
    throw err;
  }
  const priority = doc['priority'] ?? 0;
  if (typeof priority !== 'number' || !Number.isInteger(priority) || Math.abs(priority) > 1_000_000) fail('priority: expected a whole number from -1000000 to 1000000 (higher wins)');
  const events = doc['events'];
  if (events !== undefined && (!Array.isArray(events) || events.length === 0 || events.some((e) => typeof e !== 'string' || !/^([0-9]+ [A-Z ]+|M [A-Za-z]+|X [A-Z0-9]+ .+)$/.test(e)))) {
    fail('events: expected a non-empty list of Inform event codes such as "0 BOOTSTRAP", "1 BOOT", "2 PERIODIC", "4 VALUE CHANGE" (leave it out for every Inform)');
  }
  const table = (key: string): Record<string, unknown> => {
    const t = doc[key] ?? {};
    if (typeof t !== 'object' || Array.isArray(t) || t instanceof Date) fail(`[${key}]: expected a table of "Full.Parameter.Path" = value`);
    return t as Record<string, unknown>;
  };
  const rawValues = table('values');
  const types = table('types');
  const rawNotifications = table('notifications');
  const path = (section: string, p: string) => {
    if (!PATH.test(p)) fail(`[${section}] ${JSON.stringify(p)}: expected a full parameter path under Device. or InternetGatewayDevice. (not a partial path)`);
  };
  const values: DesiredValue[] = [];
  for (const [p, v] of Object.entries(rawValues)) {
    path('values', p);
    if (typeof v !== 'string' && typeof v !== 'boolean' && typeof v !== 'number' && typeof v !== 'bigint') fail(`[values] ${JSON.stringify(p)}: expected a string, a number or true/false`);
    if (typeof v === 'number' && !Number.isInteger(v)) fail(`[values] ${JSON.stringify(p)}: a number must be whole (write decimals as a string)`);
    const template = String(v);
    const problem = templateProblem(template);
    if (problem) fail(`[values] ${JSON.stringify(p)}: ${problem}`);
    const t = types[p];
    if (t !== undefined && (typeof t !== 'string' || !TYPES.has(t))) fail(`[types] ${JSON.stringify(p)}: expected one of ${[...TYPES].join(', ')}`);
    values.push({ name: p, template, type: t === undefined ? typeOf(v) : `xsd:${t as string}` });
  }
  for (const p of Object.keys(types)) if (!(p in rawValues)) fail(`[types] ${JSON.stringify(p)}: no such parameter in [values]`);
  if (values.length > MAX_PROFILE_VALUES) fail(`[values]: more than ${MAX_PROFILE_VALUES} parameters`);
  const notifications: DesiredNotification[] = [];
  for (const [p, v] of Object.entries(rawNotifications)) {
    path('notifications', p);
    if (typeof v !== 'string' || !(NOTIFICATIONS as readonly string[]).includes(v)) fail(`[notifications] ${JSON.stringify(p)}: expected "active", "passive" or "off"`);
    notifications.push({ name: p, notification: v as Notification });
  }
  if (values.length === 0 && notifications.length === 0) fail('the profile sets nothing: expected [values] or [notifications]');
  const revision = createHash('sha256').update(JSON.stringify([name, selector, priority, events ?? null, values, notifications])).digest('hex').slice(0, 32);
  return { name: name as string, selector: selector as string, condition, priority: priority as number, events: events as string[] | undefined, values, notifications, revision, builtin: false };
}
