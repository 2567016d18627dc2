import { SaxesParser, type SaxesTagPlain } from 'saxes';

/**
 * An element as CwmpSoap reads it: its text when it has neither attributes nor child elements (`''` when
 * empty); otherwise an object of its child elements by name (an array when repeated, or when the name is a
 * list element), `'#text'` for any text among them and `'@name'` for each attribute.
 */
export type XmlValue = string | XmlElement | XmlValue[];
export interface XmlElement {
  [name: string]: XmlValue;
}

export class XmlError extends Error {
  override name = 'XmlError';
}

/** CWMP nests six or seven elements deep; a stranger's body may not nest without end. */
export const MAX_DEPTH = 32;

interface Open {
  readonly name: string;
  /** Its attributes as names and values in turn, named as they go into the tree; undefined: none (most elements). */
  readonly attributes: string[] | undefined;
  /** Its local name is one of the list elements. */
  readonly listed: boolean;
  children: XmlElement | undefined;
  text: string;
}

const element = (): XmlElement => ({});
/** A qualified name without its prefix. */
export const localName = (name: string): string => name.slice(name.indexOf(':') + 1);

/** `node[key] = value`, the key `__proto__` included (an element may have that name; assigned, it would set the prototype). */
function setOwn(node: XmlElement, key: string, value: XmlValue): void {
  if (key === '__proto__') Object.defineProperty(node, key, { value, enumerable: true, writable: true, configurable: true });
  else node[key] = value;
}

/**
 * What CPE agents write that XML forbids, kept as written: control characters in values (an SSID, a
 * serial number), references to them (`&#2;`), entities XML does not define (`&nbsp;`), `]]>` in text. A
 * value is what the CPE sent; refusing the body would end every session of that box. The one exception
 * is NUL, which no store holds in text (PostgreSQL refuses it): it is read as U+FFFD.
 */
const TOLERATED = /: (?:disallowed character|undefined entity|malformed character entity|the string "\]\]>" is disallowed in char data)\.$/;

/**
 * An `&` that begins no reference (`AT&T`, a URL's query string): agents that write their XML with printf
 * leave it bare. It can only mean itself, so it is read as `&amp;`; a parser would otherwise take the rest
 * of the body for an entity's name. CDATA sections are passed over, their `&` being literal already.
 */
const REFERENCE = /(?:[A-Za-z_:][\w.:-]*|#[0-9]+|#x[0-9A-Fa-f]+);/y;
const CDATA_OPEN = '<![CDATA[';

/**
 * The text with each bare `&` escaped, and where they were (offsets in `text`). One pass, each character
 * looked at once or twice: a body can hold any number of unclosed sections.
 */
function escapeBare(text: string): { readonly text: string; readonly bare: readonly number[] } {
  const bare: number[] = [];
  let out = '';
  let copied = 0;
  let cdata = text.indexOf(CDATA_OPEN);
  for (let at = text.indexOf('&'); at >= 0; ) {
    if (cdata >= 0 && cdata < at) {
      const close = text.indexOf(']]>', cdata + CDATA_OPEN.length);
      // Unclosed: the parser refuses the body; nothing after it is read as text.
      if (close < 0) break;
      cdata = text.indexOf(CDATA_OPEN, close + 3);
      if (at < close) at = text.indexOf('&', close + 3);
      continue;
    }
    REFERENCE.lastIndex = at + 1;
    if (!REFERENCE.test(text)) {
      out += `${text.slice(copied, at)}&amp;`;
      copied = at + 1;
      bare.push(at);
    }
    at = text.indexOf('&', at + 1);
  }
  return bare.length === 0 ? { text, bare } : { text: out + text.slice(copied), bare };
}

/** An error's `line:column` in the text the CPE sent: each `&` escaped before it on its line added four columns. */
function sentPosition(message: string, sent: string, bare: readonly number[]): string {
  const at = /^(\d+):(\d+): /.exec(message);
  if (at === null || bare.length === 0) return message;
  const line = Number(at[1]);
  const column = Number(at[2]);
  let lineStart = 0;
  for (let l = 1; l < line && lineStart >= 0; l++) lineStart = sent.indexOf('\n', lineStart) + 1;
  let added = 0;
  for (const b of bare) {
    if (b < lineStart) continue;
    if (b - lineStart + added >= column) break;
    added += 4;
  }
  return `${line}:${column - added}: ${message.slice(at[0].length)}`;
}

/**
 * The XML declaration, whatever its spelling (no version, `standalone="true"`, `<?XML`): the body is
 * text by now, decoded in the charset it names, so it says nothing more. Blanked, not cut, so that
 * error positions stay right.
 */
const DECLARATION = /^\s*<\?xml(?=[\s?])[^]*?\?>/i;
const blank = (text: string): string => text.replace(/[^\n]/g, ' ');

/**
 * Reads a whole XML document into XmlValues with saxes, a strict (non-validating) XML 1.0 parser: any
 * well-formedness error but those TOLERATED, a document type declaration (SOAP forbids them, and with
 * them go entity expansions) or nesting past MAX_DEPTH is an XmlError naming the line and column.
 * Comments and processing instructions are skipped; CDATA is text. One reader serves one document at a
 * time.
 */
export class XmlTreeReader {
  #parser!: SaxesParser;
  #stack: Open[] = [];
  #root: XmlElement = element();

  /**
   * `lists`: local names (prefix dropped) that are always arrays, however many there are. Elements deeper
   * than `qualifiedDepth` (the root is 1) are named without their prefix, and so are their attributes but
   * namespace declarations: a CPE chooses its prefixes, and below the envelope's frame they mean nothing.
   */
  constructor(
    private readonly lists: ReadonlySet<string>,
    private readonly qualifiedDepth = Infinity,
  ) {
    this.#reset();
  }

  /** @throws XmlError */
  read(xml: string): XmlElement {
    const root = element();
    this.#root = root;
    this.#stack = [];
    let sent = xml;
    let bare: readonly number[] = [];
    try {
      if (xml.includes('\0')) xml = sent = xml.replaceAll('\0', '\uFFFD');
      if (xml.includes('&')) ({ text: xml, bare } = escapeBare(xml));
      const declaration = DECLARATION.exec(xml)?.[0];
      if (declaration === undefined) this.#parser.write(xml);
      else this.#parser.write(blank(declaration)).write(xml.slice(declaration.length));
      this.#parser.close();
      return root;
    } catch (err) {
      // A parser that threw mid-document is in no state to read the next one.
      this.#reset();
      throw new XmlError(sentPosition((err as Error).message, sent, bare));
    }
  }

  #reset(): void {
    const p = new SaxesParser({ xmlns: false });
    p.on('opentag', (tag) => this.#open(tag as SaxesTagPlain));
    p.on('text', (text) => this.#text(text));
    p.on('cdata', (text) => this.#text(text));
    p.on('closetag', () => this.#close());
    p.on('error', (err) => {
      if (!TOLERATED.test(err.message)) throw new XmlError(err.message);
    });
    p.on('doctype', () => {
      throw new XmlError(`${p.line}:${p.column}: a document type declaration is not allowed in a SOAP message`);
    });
    this.#parser = p;
  }

  #open(tag: SaxesTagPlain): void {
    const depth = this.#stack.length;
    if (depth >= MAX_DEPTH) throw new XmlError(`${this.#parser.line}:${this.#parser.column}: elements nested deeper than ${MAX_DEPTH}`);
    const local = depth >= this.qualifiedDepth;
    const name = local ? localName(tag.name) : tag.name;
    // Names and values in one flat array, built once: the tree gets them at the close, and most elements have none.
    let attributes: string[] | undefined;
    const given = tag.attributes;
    for (const a of Object.keys(given)) (attributes ??= []).push(local && !a.startsWith('xmlns:') ? localName(a) : a, given[a]!);
    this.#stack.push({ name, attributes, listed: this.lists.has(localName(name)), children: undefined, text: '' });
  }

  #text(text: string): void {
    const top = this.#stack[this.#stack.length - 1];
    if (top) top.text += text;
  }

  #close(): void {
    const open = this.#stack.pop()!;
    let value: XmlValue;
    const attributes = open.attributes;
    if (open.children === undefined && attributes === undefined) {
      value = open.text;
    } else {
      const node = open.children ?? element();
      if (open.text !== '') node['#text'] = open.text;
      if (attributes !== undefined) for (let i = 0; i < attributes.length; i += 2) node[`@${attributes[i]!}`] = attributes[i + 1]!;
      value = node;
    }
    const parent = this.#stack[this.#stack.length - 1];
    const siblings = parent ? (parent.children ??= element()) : this.#root;
    // Own only: an element named like a member of Object.prototype (constructor, toString) is no repeat.
    const existing = Object.hasOwn(siblings, open.name) ? siblings[open.name] : undefined;
    if (open.listed) {
      if (Array.isArray(existing)) existing.push(value);
      else setOwn(siblings, open.name, [value]);
    } else if (existing === undefined) {
      setOwn(siblings, open.name, value);
    } else if (Array.isArray(existing)) {
      existing.push(value);
    } else {
      setOwn(siblings, open.name, [existing, value]);
    }
  }
}
