/** A failure stbctl reports as one line (or `{"error", "message"}` with --json) and a non-zero exit. */
export class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}
