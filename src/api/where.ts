import { both, type Condition, ONLINE } from '../devices/selector/ast.js';
import { MAX_SELECTOR_LENGTH, parseSelector } from '../devices/selector/parser.js';
import { SelectorError } from '../devices/selector/selector-error.js';
import { ApiError } from './errors.js';

/** JSON schema of a `where` selector (query string or body); the parser checks the rest. */
export const whereSchema = { type: 'string', minLength: 1, maxLength: MAX_SELECTOR_LENGTH } as const;

/**
 * The condition of `?where=` (and `?online=true`, which is `online AND (where)`); undefined when neither
 * is given: every device.
 * @throws ApiError 400 `{error: 'bad-selector', message: 'where: column N: …', column}`
 */
export function conditionOf(where: string | undefined, online = false): Condition | undefined {
  let c: Condition | undefined;
  if (where !== undefined) {
    try {
      c = parseSelector(where);
    } catch (err) {
      if (err instanceof SelectorError) throw new ApiError(400, 'bad-selector', `where: ${err.message}`, { column: err.column });
      throw err;
    }
  }
  if (!online) return c;
  return c ? both(ONLINE, c) : ONLINE;
}
