/** A token and where it starts and ends (string indexes; `SelectorError` columns are derived from them). */
export type Token =
  | { readonly kind: 'word'; readonly text: string; readonly start: number; readonly end: number }
  | { readonly kind: 'string'; readonly value: string; readonly start: number; readonly end: number }
  | { readonly kind: 'number'; readonly text: string; readonly start: number; readonly end: number }
  | { readonly kind: 'duration'; readonly ms: number; readonly text: string; readonly start: number; readonly end: number }
  | { readonly kind: 'symbol'; readonly text: SymbolText; readonly start: number; readonly end: number }
  | { readonly kind: 'end'; readonly start: number; readonly end: number }
  /** Where the text stops making tokens, and why: the parser reports it when it gets there (earlier mistakes first). */
  | { readonly kind: 'bad'; readonly reason: string; readonly start: number; readonly end: number };

export type SymbolText = '=' | '!=' | '<>' | '<' | '<=' | '>' | '>=' | '(' | ')' | ',' | '+' | '-';

/** Duration units: `7d`, `12h`, `30m`, `90s`, `500ms`, `2w`. */
export const DURATION_UNITS_MS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

const SYMBOLS: readonly SymbolText[] = ['!=', '<>', '<=', '>=', '=', '<', '>', '(', ')', ',', '+', '-'];

/** The column (from 1, in characters, not UTF-16 units) of string index `index`. */
export const columnOf = (text: string, index: number): number => [...text.slice(0, index)].length + 1;

/** What a token looks like in an error message. */
export function shown(t: Token): string {
  switch (t.kind) {
    case 'end':
    case 'bad':
      return 'the end';
    case 'string':
      return `'${t.value.replaceAll("'", "''")}'`;
    case 'word':
    case 'number':
    case 'duration':
    case 'symbol':
      return `'${t.text}'`;
  }
}

/**
 * Splits a selector into tokens. Strings are quoted with ' or " (the quote doubled inside: 'it''s');
 * words are field names and keywords; a number followed by a unit is a duration. The first character that
 * starts no token ends the list with a `bad` token.
 */
export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  try {
    lex(text, tokens);
  } catch (err) {
    if (!(err instanceof Bad)) throw err;
    tokens.push({ kind: 'bad', reason: err.reason, start: err.index, end: err.index });
  }
  return tokens;
}

class Bad {
  constructor(
    readonly index: number,
    readonly reason: string,
  ) {}
}

function lex(text: string, tokens: Token[]): void {
  const fail = (index: number, reason: string): never => {
    throw new Bad(index, reason);
  };
  let i = 0;
  while (i < text.length) {
    const ch = text[i] as string;
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    const start = i;
    if (ch === "'" || ch === '"') {
      let value = '';
      for (i++; ; i++) {
        if (i >= text.length) fail(start, `unterminated string: no closing ${ch}`);
        if (text[i] === ch) {
          if (text[i + 1] === ch) {
            value += ch;
            i++;
            continue;
          }
          break;
        }
        value += text[i];
      }
      tokens.push({ kind: 'string', value, start, end: ++i });
      continue;
    }
    const number = /^[0-9]+(?:\.[0-9]+)*[A-Za-z_]*/.exec(text.slice(i));
    if (number) {
      const word = number[0];
      i += word.length;
      const [, digits = '', unit = ''] = /^([0-9.]+)(.*)$/.exec(word) ?? [];
      if (unit === '') {
        tokens.push({ kind: 'number', text: word, start, end: i });
        continue;
      }
      const per = DURATION_UNITS_MS[unit];
      const ms = Number(digits) * (per ?? NaN);
      if (per === undefined || !/^[0-9]+$/.test(digits) || !Number.isSafeInteger(ms)) {
        fail(start, `'${word}' is neither a number nor a duration (a whole number and a unit: ms, s, m, h, d, w; quote text: '${word}')`);
      }
      tokens.push({ kind: 'duration', ms, text: word, start, end: i });
      continue;
    }
    const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i));
    if (word) {
      i += word[0].length;
      tokens.push({ kind: 'word', text: word[0], start, end: i });
      continue;
    }
    const symbol = SYMBOLS.find((s) => text.startsWith(s, i));
    if (symbol) {
      i += symbol.length;
      tokens.push({ kind: 'symbol', text: symbol, start, end: i });
      continue;
    }
    fail(start, ch === '!' ? "unexpected '!' (not equal is !=; negation is NOT)" : `unexpected character '${ch}'`);
  }
  tokens.push({ kind: 'end', start: text.length, end: text.length });
}
