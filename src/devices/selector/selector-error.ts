/**
 * A selector that cannot be used, and where: `column` counts characters from 1 (one past the end when the
 * expression stops too early). The message is what an operator reads: `column 23: expected a value after '<'`.
 */
export class SelectorError extends Error {
  constructor(
    readonly column: number,
    readonly reason: string,
  ) {
    super(`column ${column}: ${reason}`);
    this.name = 'SelectorError';
  }
}
