/**
 * A statement written once in PostgreSQL's `$1, $2, …` form, for SQLite's `?` parameters. Only for
 * statements that use each parameter once, in order (checked: anything else is a programming error).
 */
export function forSqlite(sql: string): string {
  let n = 0;
  return sql.replace(/\$(\d+)/g, (_, d: string) => {
    if (Number(d) !== ++n) throw new Error(`forSqlite: parameters must be $1, $2, … in order, each once: ${sql}`);
    return '?';
  });
}
