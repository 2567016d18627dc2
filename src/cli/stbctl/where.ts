import { InvalidArgumentError } from 'commander';
import { parseSelector } from '../../devices/selector/parser.js';
import { SelectorError } from '../../devices/selector/selector-error.js';

/**
 * --where EXPR, checked here with the daemon's own parser: a mistake is a usage error naming its column
 * before anything is asked of the daemon. The daemon parses it again (and resolves now()).
 */
export function whereOption(expr: string): string {
  try {
    parseSelector(expr);
  } catch (err) {
    if (err instanceof SelectorError) throw new InvalidArgumentError(`where: ${err.message}`);
    throw err;
  }
  return expr;
}

export const WHERE_HELP = `the devices the selector matches, e.g. "tag = 'pilot' AND softwareVersion < '3.2'" (see docs/selectors.md)`;
