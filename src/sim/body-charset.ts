/** How the STB encodes its CWMP bodies: what the XML declaration says and which bytes go out. */
export interface BodyCharset {
  readonly xmlName: 'UTF-8' | 'ISO-8859-1';
  encode(text: string): Buffer;
}

export const UTF8: BodyCharset = { xmlName: 'UTF-8', encode: (text) => Buffer.from(text, 'utf8') };

export const LATIN1: BodyCharset = {
  xmlName: 'ISO-8859-1',
  // Buffer's latin1 keeps the low byte of wider characters (€ → ¬); a latin1-only firmware writes '?' instead.
  encode: (text) => Buffer.from(text.replace(/[^\u0000-\u00ff]/gu, '?'), 'latin1'),
};

/** The charset a Content-Type names (--content-type): ISO-8859-1 when it says so anywhere (not -15), else UTF-8. */
export function charsetOf(contentType: string): BodyCharset {
  return /iso-?8859-1(?!\d)|latin-?1(?!\d)/i.test(contentType) ? LATIN1 : UTF8;
}
