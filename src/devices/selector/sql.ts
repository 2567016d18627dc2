/**
 * SQL built from pieces: text written by stbd's code, and values that are only ever bound as parameters.
 * `sql\`… ${x} …\`` inlines `x` when it is itself Sql and binds it as a parameter otherwise, so a value an
 * operator typed can never become SQL text. Rendered at the end for one engine: `?` for SQLite, `$n` for
 * PostgreSQL, the values in the order their placeholders appear.
 */
export class Sql {
  /** `parts.length === values.length + 1`: text, value, text, … */
  constructor(
    readonly parts: readonly string[],
    readonly values: readonly unknown[],
  ) {}
}

export type Engine = 'sqlite' | 'postgres';

export function sql(strings: TemplateStringsArray, ...args: readonly unknown[]): Sql {
  const parts: string[] = [strings[0] as string];
  const values: unknown[] = [];
  args.forEach((arg, i) => {
    const after = strings[i + 1] as string;
    if (arg instanceof Sql) {
      parts[parts.length - 1] += arg.parts[0] as string;
      for (let k = 0; k < arg.values.length; k++) {
        values.push(arg.values[k]);
        parts.push(arg.parts[k + 1] as string);
      }
      parts[parts.length - 1] += after;
    } else {
      values.push(arg);
      parts.push(after);
    }
  });
  return new Sql(parts, values);
}

/** Text written by stbd's code (column names, keywords); never a value from outside. */
export const raw = (text: string): Sql => new Sql([text], []);

export const EMPTY = raw('');

/** `items` joined by `separator` (code-written, e.g. ' AND '). */
export function join(items: readonly Sql[], separator: string): Sql {
  return items.reduce((acc, item, i) => (i === 0 ? item : sql`${acc}${raw(separator)}${item}`), EMPTY);
}

/** The statement text and its parameters for one engine. */
export function render(s: Sql, engine: Engine): { text: string; values: unknown[] } {
  let text = s.parts[0] as string;
  for (let i = 0; i < s.values.length; i++) text += `${engine === 'sqlite' ? '?' : `$${i + 1}`}${s.parts[i + 1] as string}`;
  return { text, values: [...s.values] };
}
