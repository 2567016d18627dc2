import type { ErrorObject } from 'ajv';

/**
 * Turns the first JSON-schema error into "field: what is wrong", naming the field the way the
 * caller spelled it (`nameOf` maps schema property names to e.g. CSV column names).
 */
export function describeSchemaError(err: ErrorObject, nameOf: (prop: string) => string = (p) => p): string {
  const path = err.instancePath.split('/').filter(Boolean).map(nameOf).join('.');
  const at = (prop: string) => (path ? `${path}.${nameOf(prop)}` : nameOf(prop));
  switch (err.keyword) {
    case 'required':
      return `${at(String(err.params['missingProperty']))}: is required`;
    case 'additionalProperties':
      return `${at(String(err.params['additionalProperty']))}: is not a known field`;
    case 'pattern':
      return `${path}: contains characters that are not allowed (control characters, or white space at either end)`;
    default:
      return `${path || 'body'}: ${err.message ?? 'is invalid'}`;
  }
}
