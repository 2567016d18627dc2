import { Ajv, type ErrorObject } from 'ajv';
import { describeSchemaError } from '../validate.js';
import type { DeviceInput } from './device.js';

/** No control or unassigned characters; no white space at either end (it would be lost in CSV and STUN). */
export const PRINTABLE_PATTERN = '^[^\\p{C}\\s](?:[^\\p{C}]*[^\\p{C}\\s])?$';
const text = (maxLength: number) => ({ type: 'string', minLength: 1, maxLength, pattern: PRINTABLE_PATTERN }) as const;

export const MAX_ID_LENGTH = 256;
export const MAX_CREDENTIAL_LENGTH = 128;

/** JSON schema of a device registration, shared by the API route and the CSV import. */
export const deviceInputSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: {
    id: text(MAX_ID_LENGTH),
    stunUsername: text(MAX_CREDENTIAL_LENGTH),
    stunPassword: text(MAX_CREDENTIAL_LENGTH),
    crUsername: text(MAX_CREDENTIAL_LENGTH),
    crPassword: text(MAX_CREDENTIAL_LENGTH),
    cwmpUsername: text(MAX_CREDENTIAL_LENGTH),
    cwmpPassword: text(MAX_CREDENTIAL_LENGTH),
  },
} as const;

const PASSWORDS = ['stunPassword', 'crPassword', 'cwmpPassword'] as const;

/**
 * A compiled validator for DeviceInput; construct once and reuse. Passwords an operator gives must be at
 * least `minPasswordLength` long (generated ones always are).
 */
export class DeviceInputValidator {
  readonly #check;

  constructor(private readonly minPasswordLength = 1) {
    this.#check = new Ajv({ allErrors: false, strict: true }).compile<DeviceInput>(deviceInputSchema);
  }

  /** Returns undefined when valid, else "field: problem" with fields named by `nameOf`. */
  problem(input: unknown, nameOf: (prop: string) => string = (p) => p): string | undefined {
    if (!this.#check(input)) return describeSchemaError(this.#check.errors?.[0] as ErrorObject, nameOf);
    const short = PASSWORDS.find((k) => input[k] !== undefined && [...input[k]!].length < this.minPasswordLength);
    return short && `${nameOf(short)}: shorter than ${this.minPasswordLength} characters ([devices] min_password_length)`;
  }
}
