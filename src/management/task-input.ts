import { Ajv, type ErrorObject } from 'ajv';
import { PRINTABLE_PATTERN } from '../devices/device-input.js';
import { describeSchemaError } from '../validate.js';
import { NOTIFICATIONS, type TaskRequest, UPLOAD_FILE_TYPES } from './task.js';

/** TR-069 caps parameter names at 256 characters; values at 64 KiB for the longest string type. */
const name = { type: 'string', minLength: 1, maxLength: 256, pattern: PRINTABLE_PATTERN } as const;
const path = { type: 'string', maxLength: 256 } as const;
/** The longest ScheduleInform delay accepted: 30 days. */
export const MAX_SCHEDULE_S = 30 * 86_400;
const kind = (k: string) => ({ const: k }) as const;
const common = { expiresIn: { type: 'integer', minimum: 1, maximum: 365 * 86_400 }, idempotencyKey: { type: 'string', minLength: 1, maxLength: 128, pattern: PRINTABLE_PATTERN } } as const;
const variant = (k: string, properties: Record<string, unknown> = {}, required: string[] = []) => ({
  type: 'object',
  additionalProperties: false,
  required: ['kind', ...required],
  properties: { kind: kind(k), ...properties, ...common },
});

/** JSON schema of SetParameterValues' values (the type defaults to xsd:string). */
export const parameterValuesSchema = {
  type: 'array',
  minItems: 1,
  maxItems: 1000,
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['name', 'value'],
    properties: { name, value: { type: 'string', maxLength: 65_536 }, type: { type: 'string', pattern: '^xsd:[A-Za-z]+$', maxLength: 32 } },
  },
} as const;

/** JSON schema of a task as the API takes it: the request, plus an optional expiry (seconds) and idempotency key. */
export const taskInputSchema = {
  type: 'object',
  required: ['kind'],
  properties: { kind: { type: 'string' } },
  discriminator: { propertyName: 'kind' },
  oneOf: [
    variant('getParameterValues', { names: { type: 'array', minItems: 1, maxItems: 1000, items: name } }, ['names']),
    variant(
      'setParameterValues',
      { values: parameterValuesSchema },
      ['values'],
    ),
    variant('getParameterNames', { path, nextLevel: { type: 'boolean' } }, ['path']),
    variant('addObject', { path: { ...name, pattern: '\\.$' } }, ['path']),
    variant('deleteObject', { path: { ...name, pattern: '\\.$' } }, ['path']),
    variant('reboot'),
    variant('factoryReset'),
    variant(
      'download',
      {
        url: { type: 'string', minLength: 1, maxLength: 1024, pattern: '^[a-zA-Z][a-zA-Z0-9+.-]*://\\S+$' },
        fileType: { type: 'string', minLength: 1, maxLength: 64 },
        username: { type: 'string', maxLength: 256 },
        password: { type: 'string', maxLength: 256 },
        fileSize: { type: 'integer', minimum: 0 },
        targetFileName: { type: 'string', maxLength: 256 },
      },
      ['url'],
    ),
    variant('refresh', { path: { ...name, pattern: '\\.$' } }),
    variant('getParameterAttributes', { names: { type: 'array', minItems: 1, maxItems: 1000, items: name } }, ['names']),
    variant(
      'setParameterAttributes',
      {
        attributes: {
          type: 'array',
          minItems: 1,
          maxItems: 1000,
          items: { type: 'object', additionalProperties: false, required: ['name', 'notification'], properties: { name, notification: { enum: [...NOTIFICATIONS] } } },
        },
      },
      ['attributes'],
    ),
    // TR-069 has DelaySeconds an unsignedInt above 0; a month is as far ahead as anyone plans a call.
    variant('scheduleInform', { delaySeconds: { type: 'integer', minimum: 1, maximum: MAX_SCHEDULE_S } }, ['delaySeconds']),
    variant('upload', { fileType: { type: 'string', minLength: 1, maxLength: 64, pattern: PRINTABLE_PATTERN } }),
  ],
} as const;

export interface TaskInput {
  readonly request: TaskRequest;
  readonly expiresInMs?: number;
  readonly idempotencyKey?: string;
}

type Raw = Record<string, unknown> & { kind: TaskRequest['kind']; expiresIn?: number; idempotencyKey?: string };

/** Validates API task bodies and fills defaults (value type xsd:string, Download file type firmware, Upload file type configuration, nextLevel false). */
export class TaskInputValidator {
  readonly #check;

  constructor() {
    this.#check = new Ajv({ allErrors: false, strict: true, discriminator: true }).compile(taskInputSchema);
  }

  /** @returns the input, or the problem as "field: what is wrong". */
  parse(body: unknown): TaskInput | string {
    if (!this.#check(body)) {
      const err = this.#check.errors?.[0] as ErrorObject;
      if (err.keyword === 'discriminator') return `kind: must be one of ${taskInputSchema.oneOf.map((v) => v.properties.kind.const).join(', ')}`;
      return describeSchemaError(err);
    }
    const { expiresIn, idempotencyKey, ...rest } = body as Raw;
    let request = rest as unknown as TaskRequest;
    if (request.kind === 'setParameterValues') request = { ...request, values: request.values.map((v) => ({ name: v.name, value: v.value, type: v.type ?? 'xsd:string' })) };
    if (request.kind === 'getParameterNames') request = { ...request, nextLevel: request.nextLevel ?? false };
    if (request.kind === 'download') request = { ...request, fileType: request.fileType ?? '1 Firmware Upgrade Image' };
    if (request.kind === 'upload') request = { ...request, fileType: request.fileType ?? UPLOAD_FILE_TYPES.config };
    if (request.kind === 'setParameterAttributes') {
      const seen = new Set<string>();
      for (const a of request.attributes) {
        if (seen.has(a.name)) return `attributes: ${a.name} is given twice`;
        seen.add(a.name);
      }
    }
    return { request, ...(expiresIn === undefined ? {} : { expiresInMs: expiresIn * 1000 }), ...(idempotencyKey === undefined ? {} : { idempotencyKey }) };
  }
}
