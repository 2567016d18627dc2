import { tagProblem } from '../tag-rules.js';
import type { CompareOp, Condition, FlagName, Literal, TextFieldName, TimeFieldName, ValueField, VersionFieldName } from './ast.js';
import { columnOf, shown, type Token, tokenize } from './lexer.js';
import { SelectorError } from './selector-error.js';

/** Bounds on what one selector may ask of the store (each value is a bound parameter; each level a nesting). */
export const MAX_SELECTOR_LENGTH = 4096;
export const MAX_SELECTOR_VALUES = 1000;
export const MAX_SELECTOR_DEPTH = 32;
/** TR-069 parameter names are at most 256 characters. */
export const MAX_PARAMETER_NAME = 256;

type FieldKind = 'text' | 'version' | 'time' | 'flag' | 'tag';

/** The fields of the language and what each holds; `param('Name')` besides. */
export const FIELDS: Readonly<Record<string, FieldKind>> = {
  id: 'text',
  tag: 'tag',
  online: 'flag',
  behindNat: 'flag',
  natId: 'text',
  oui: 'text',
  productClass: 'text',
  serialNumber: 'text',
  softwareVersion: 'version',
  hardwareVersion: 'version',
  lastInform: 'time',
  lastSeen: 'time',
};

const FIELD_LIST = `${Object.keys(FIELDS).join(', ')}, param('Parameter.Name')`;
const COMPARE: Readonly<Record<string, { op: CompareOp; negated: boolean }>> = {
  '=': { op: '=', negated: false },
  '!=': { op: '=', negated: true },
  '<>': { op: '=', negated: true },
  '<': { op: '<', negated: false },
  '<=': { op: '<=', negated: false },
  '>': { op: '>', negated: false },
  '>=': { op: '>=', negated: false },
};
const KEYWORDS = new Set(['and', 'or', 'not', 'in', 'like', 'true', 'false']);
/** A number as a number (param('X') > 10); versions are written like 3.10.2 and stay text. */
const PLAIN_NUMBER = /^[0-9]{1,30}(\.[0-9]{1,30})?$/;
/** Dates and times, ISO 8601; without a zone they are UTC. */
const DATE = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?)(Z|[+-]\d{2}:?\d{2})?)?$/;

type Field = { readonly kind: 'flag'; readonly name: FlagName } | ValueField;

/**
 * Parses a selector such as `productClass = 'STB-4K' AND softwareVersion < '3.2' AND tag = 'pilot'` into a
 * checked condition: every field known, every operator one its field takes, every value of the field's kind.
 * Pure: times relative to now stay relative until compiled.
 * @throws SelectorError naming the column of the first mistake
 */
export function parseSelector(text: string): Condition {
  if (text.length > MAX_SELECTOR_LENGTH) throw new SelectorError(MAX_SELECTOR_LENGTH + 1, `the expression is longer than ${MAX_SELECTOR_LENGTH} characters`);
  return new Parser(text).parse();
}

class Parser {
  readonly #tokens: Token[];
  #at = 0;
  #depth = 0;
  #values = 0;

  constructor(readonly text: string) {
    this.#tokens = tokenize(text);
  }

  parse(): Condition {
    if (this.#peek().kind === 'end') this.#fail(this.#peek(), "empty expression: give a condition such as online, tag = 'pilot' or softwareVersion < '3.2'");
    const c = this.#or();
    const rest = this.#peek();
    if (rest.kind !== 'end') {
      this.#fail(rest, rest.kind === 'symbol' && rest.text === ')' ? "unexpected ')': no '(' is open" : `expected AND, OR or the end of the expression, got ${shown(rest)}`);
    }
    return c;
  }

  /** The next token; a mistake of the lexer's is reported when the parser reaches it. */
  #peek(): Token {
    const t = this.#tokens[this.#at] as Token;
    if (t.kind === 'bad') this.#fail(t, t.reason);
    return t;
  }

  #next(): Token {
    const t = this.#peek();
    if (t.kind !== 'end') this.#at++;
    return t;
  }

  #fail(at: Token | number, reason: string): never {
    throw new SelectorError(columnOf(this.text, typeof at === 'number' ? at : at.start), reason);
  }

  #isWord(t: Token, word: string): boolean {
    return t.kind === 'word' && t.text.toLowerCase() === word;
  }

  #isSymbol(t: Token, symbol: string): boolean {
    return t.kind === 'symbol' && t.text === symbol;
  }

  #expectSymbol(symbol: string, why: string): Token {
    const t = this.#peek();
    if (!this.#isSymbol(t, symbol)) this.#fail(t, `${why}, got ${shown(t)}`);
    return this.#next();
  }

  #nested<T>(at: Token, fn: () => T): T {
    if (++this.#depth > MAX_SELECTOR_DEPTH) this.#fail(at, `nested too deeply (more than ${MAX_SELECTOR_DEPTH} levels of parentheses and NOT)`);
    const result = fn();
    this.#depth--;
    return result;
  }

  #or(): Condition {
    const items = [this.#and()];
    while (this.#isWord(this.#peek(), 'or')) {
      this.#next();
      items.push(this.#and());
    }
    return items.length === 1 ? (items[0] as Condition) : { kind: 'or', items };
  }

  #and(): Condition {
    const items = [this.#not()];
    while (this.#isWord(this.#peek(), 'and')) {
      this.#next();
      items.push(this.#not());
    }
    return items.length === 1 ? (items[0] as Condition) : { kind: 'and', items };
  }

  #not(): Condition {
    const t = this.#peek();
    if (!this.#isWord(t, 'not')) return this.#primary();
    this.#next();
    return this.#nested(t, () => ({ kind: 'not', item: this.#not() }));
  }

  #primary(): Condition {
    const t = this.#peek();
    if (this.#isSymbol(t, '(')) {
      this.#next();
      return this.#nested(t, () => {
        const c = this.#or();
        this.#expectSymbol(')', `expected ')' to close the '(' at column ${columnOf(this.text, t.start)}`);
        return c;
      });
    }
    if (t.kind === 'end') this.#fail(t, `expected a condition after ${shown(this.#tokens[this.#at - 1] as Token)}`);
    if (t.kind !== 'word' || KEYWORDS.has(t.text.toLowerCase())) {
      this.#fail(t, `expected a condition (a field such as productClass, tag, online or param('Device.X')), got ${shown(t)}`);
    }
    return this.#condition(this.#field());
  }

  #field(): Field {
    const t = this.#next() as Extract<Token, { kind: 'word' }>;
    if (t.text.toLowerCase() === 'param') {
      this.#expectSymbol('(', "expected '(' after param, as in param('Device.DeviceInfo.ModelName')");
      const name = this.#peek();
      if (name.kind !== 'string') this.#fail(name, `param() takes a quoted parameter name, as in param('Device.DeviceInfo.ModelName'), got ${shown(name)}`);
      this.#next();
      if (name.value === '' || /\s/.test(name.value)) this.#fail(name, `${shown(name)} is not a parameter name`);
      if (name.value.length > MAX_PARAMETER_NAME) this.#fail(name, `a parameter name is at most ${MAX_PARAMETER_NAME} characters`);
      if (name.value.endsWith('.')) this.#fail(name, `param() takes a full parameter name, not an object path ending in '.'`);
      this.#expectSymbol(')', "expected ')' after the parameter name");
      return { kind: 'param', path: name.value };
    }
    const kind = FIELDS[t.text];
    if (kind === undefined) {
      const near = Object.keys(FIELDS).find((f) => f.toLowerCase() === t.text.toLowerCase());
      this.#fail(t, near ? `unknown field '${t.text}'; did you mean '${near}'?` : `unknown field '${t.text}' (fields: ${FIELD_LIST})`);
    }
    switch (kind) {
      case 'flag':
        return { kind: 'flag', name: t.text as FlagName };
      case 'tag':
        return { kind: 'tag' };
      case 'text':
        return { kind: 'text', name: t.text as TextFieldName };
      case 'version':
        return { kind: 'version', name: t.text as VersionFieldName };
      case 'time':
        return { kind: 'time', name: t.text as TimeFieldName };
    }
  }

  #condition(field: Field): Condition {
    const name = fieldName(field);
    const t = this.#peek();
    if (field.kind === 'flag') return this.#flag(field.name, name);
    if (t.kind === 'symbol' && COMPARE[t.text]) {
      this.#next();
      const { op, negated } = COMPARE[t.text] as { op: CompareOp; negated: boolean };
      if (field.kind === 'tag' && op !== '=') this.#fail(t, `tag takes =, !=, IN and LIKE (a device has a tag or not), not '${t.text}'`);
      const c: Condition = { kind: 'compare', field, op, value: this.#value(field, t) };
      return negated ? { kind: 'not', item: c } : c;
    }
    let negated = false;
    if (this.#isWord(t, 'not')) {
      const after = this.#tokens[this.#at + 1] as Token;
      if (after.kind === 'bad') this.#fail(after, after.reason);
      if (!this.#isWord(after, 'in') && !this.#isWord(after, 'like')) this.#fail(after, `expected IN or LIKE after ${name} NOT, got ${shown(after)}`);
      this.#next();
      negated = true;
    }
    const op = this.#peek();
    let c: Condition;
    if (this.#isWord(op, 'in')) {
      this.#next();
      if (field.kind === 'time') this.#fail(op, `${name} takes =, !=, <, <=, > and >=, not IN`);
      c = { kind: 'in', field, values: this.#list(field) };
    } else if (this.#isWord(op, 'like')) {
      this.#next();
      if (field.kind === 'time') this.#fail(op, `${name} takes =, !=, <, <=, > and >=, not LIKE`);
      const pattern = this.#peek();
      if (pattern.kind !== 'string') this.#fail(pattern, `expected a quoted pattern after LIKE, such as 'STB-*' (* any characters, ? one), got ${shown(pattern)}`);
      this.#next();
      this.#count(pattern);
      c = { kind: 'like', field, pattern: pattern.value };
    } else {
      this.#fail(op, `expected an operator (=, !=, <, <=, >, >=, IN, LIKE) after ${name}, got ${shown(op)}`);
    }
    return negated ? { kind: 'not', item: c } : c;
  }

  /** `online`, `NOT online`, `online = false`, `behindNat != true`. */
  #flag(flag: FlagName, name: string): Condition {
    const t = this.#peek();
    if (this.#isSymbol(t, '=') || this.#isSymbol(t, '!=') || this.#isSymbol(t, '<>')) {
      this.#next();
      const v = this.#peek();
      if (!this.#isWord(v, 'true') && !this.#isWord(v, 'false')) this.#fail(v, v.kind === 'end' ? `expected true or false after ${shown(t)}` : `${name} is true or false, got ${shown(v)}`);
      this.#next();
      const value = (v as Extract<Token, { kind: 'word' }>).text.toLowerCase() === 'true';
      return (t as Extract<Token, { kind: 'symbol' }>).text === '=' ? { kind: 'flag', name: flag, value } : { kind: 'not', item: { kind: 'flag', name: flag, value } };
    }
    if (t.kind === 'symbol' && COMPARE[t.text]) this.#fail(t, `${name} is true or false: write ${name}, NOT ${name} or ${name} = false`);
    if (this.#isWord(t, 'in') || this.#isWord(t, 'like')) this.#fail(t, `${name} is true or false: write ${name}, NOT ${name} or ${name} = false`);
    return { kind: 'flag', name: flag, value: true };
  }

  #count(at: Token): void {
    if (++this.#values > MAX_SELECTOR_VALUES) this.#fail(at, `more than ${MAX_SELECTOR_VALUES} values in one expression`);
  }

  #list(field: ValueField): Literal[] {
    this.#expectSymbol('(', `expected '(' after IN, as in IN ('a', 'b')`);
    const values: Literal[] = [];
    let first: Literal | undefined;
    for (;;) {
      const at = this.#peek();
      if (this.#isSymbol(at, ')') && values.length === 0) this.#fail(at, 'IN needs at least one value');
      const v = this.#value(field, this.#tokens[this.#at - 1] as Token);
      if (first && first.type !== v.type) this.#fail(at, `the values of one IN list are all numbers or all text`);
      first ??= v;
      values.push(v);
      const sep = this.#next();
      if (this.#isSymbol(sep, ')')) return values;
      if (!this.#isSymbol(sep, ',')) this.#fail(sep, `expected ',' or ')' in the IN list, got ${shown(sep)}`);
    }
  }

  /** A value of the field's kind, after `after` (the operator, for the message when it is missing). */
  #value(field: ValueField, after: Token): Literal {
    const name = fieldName(field);
    const t = this.#peek();
    const missing = t.kind === 'end' || (t.kind === 'symbol' && t.text !== '-') || (t.kind === 'word' && KEYWORDS.has(t.text.toLowerCase()) && !['true', 'false'].includes(t.text.toLowerCase()));
    if (missing) this.#fail(t, `expected a value after ${shown(after)}`);
    this.#count(t);
    if (field.kind === 'time') return this.#time(name);
    if (t.kind === 'string') {
      this.#next();
      if (field.kind === 'tag') {
        const problem = tagProblem(t.value);
        if (problem) this.#fail(t, problem);
      }
      return { type: 'text', value: t.value };
    }
    if (field.kind === 'version' && t.kind === 'number') {
      this.#next();
      return { type: 'text', value: t.text };
    }
    if (field.kind === 'param' && (t.kind === 'number' || this.#isSymbol(t, '-'))) {
      this.#next();
      const digits = t.kind === 'number' ? t : this.#next();
      if (digits.kind !== 'number' || (t.kind === 'symbol' && digits.start !== t.end)) this.#fail(digits, `expected a number after '-'`);
      if (!PLAIN_NUMBER.test(digits.text)) this.#fail(digits, `'${digits.text}' is not a number; quote text and versions: '${digits.text}'`);
      return { type: 'number', value: Number(t.kind === 'symbol' ? `-${digits.text}` : digits.text) };
    }
    if (t.kind === 'word' && t.text.toLowerCase() === 'now') this.#fail(t, `${name} is not a time; now() compares with lastInform and lastSeen`);
    const raw = t.kind === 'symbol' ? t.text : (t as { text: string }).text;
    this.#fail(t, `${name} compares with text: quote the value, as in '${raw}'`);
  }

  /** `now()`, `now() - 7d`, `now() + 1h`, or a date: '2026-01-01', '2026-01-01T12:00:00Z'. */
  #time(name: string): Literal {
    const t = this.#next();
    if (t.kind === 'string') {
      const m = DATE.exec(t.value.trim());
      const at = m ? Date.parse(`${m[1]}T${m[2] ?? '00:00'}${m[3] ?? 'Z'}`) : NaN;
      if (!Number.isFinite(at)) this.#fail(t, `${shown(t)} is not a date: write '2026-01-31' or '2026-01-31T12:00:00Z' (UTC unless a zone is given)`);
      return { type: 'time', at };
    }
    if (!this.#isWord(t, 'now')) this.#fail(t, `${name} compares with a time: now(), now() - 7d, or a date such as '2026-01-31'`);
    this.#expectSymbol('(', "expected '(' after now");
    this.#expectSymbol(')', "expected ')' after now(");
    const sign = this.#peek();
    if (!this.#isSymbol(sign, '-') && !this.#isSymbol(sign, '+')) return { type: 'time', fromNow: 0 };
    this.#next();
    const d = this.#next();
    if (d.kind !== 'duration') this.#fail(d, `expected a duration such as 7d, 12h, 30m, 90s after ${shown(sign)}, got ${shown(d)}`);
    return { type: 'time', fromNow: this.#isSymbol(sign, '-') ? -d.ms : d.ms };
  }
}

/** How the language writes a field (in messages). */
export function fieldName(f: Field): string {
  switch (f.kind) {
    case 'param':
      return `param('${f.path.replaceAll("'", "''")}')`;
    case 'tag':
      return 'tag';
    default:
      return f.name;
  }
}
