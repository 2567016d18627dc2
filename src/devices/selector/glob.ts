/**
 * LIKE patterns are globs, the same on both engines: `*` any run of characters (none included), `?` exactly
 * one character, `\` makes the character after it literal; everything else matches itself, case-sensitively.
 * SQLite gets a GLOB pattern (case-sensitive, unlike its LIKE), PostgreSQL a LIKE pattern (case-sensitive).
 */
type Piece = { readonly kind: 'any' | 'one' } | { readonly kind: 'char'; readonly char: string };

function pieces(glob: string): Piece[] {
  const out: Piece[] = [];
  const chars = [...glob];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i] as string;
    if (c === '\\' && i + 1 < chars.length) out.push({ kind: 'char', char: chars[++i] as string });
    else if (c === '*') out.push({ kind: 'any' });
    else if (c === '?') out.push({ kind: 'one' });
    else out.push({ kind: 'char', char: c });
  }
  return out;
}

/** For SQLite's GLOB: the characters GLOB treats specially are written as one-character classes. */
export function sqliteGlob(glob: string): string {
  return pieces(glob)
    .map((p) => (p.kind === 'char' ? ('*?['.includes(p.char) ? `[${p.char}]` : p.char) : p.kind === 'any' ? '*' : '?'))
    .join('');
}

/** For PostgreSQL's LIKE … ESCAPE '\'. */
export function postgresLike(glob: string): string {
  return pieces(glob)
    .map((p) => (p.kind === 'char' ? ('%_\\'.includes(p.char) ? `\\${p.char}` : p.char) : p.kind === 'any' ? '%' : '_'))
    .join('');
}

/** For matching in memory (profiles on an Inform): the same glob as a whole-string RegExp. */
export function globRegExp(glob: string): RegExp {
  const body = pieces(glob)
    .map((p) => (p.kind === 'char' ? p.char.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') : p.kind === 'any' ? '[\\s\\S]*' : '[\\s\\S]'))
    .join('');
  return new RegExp(`^${body}$`, 'u');
}
