import { parse } from 'csv-parse/sync';
import type { DeviceCredentials, DeviceInput } from './device.js';
import type { DeviceInputValidator } from './device-input.js';

/** CSV column → DeviceInput field. The header names these columns; `id` is required, the rest optional. */
export const CSV_COLUMNS = {
  id: 'id',
  stun_username: 'stunUsername',
  stun_password: 'stunPassword',
  cr_username: 'crUsername',
  cr_password: 'crPassword',
  cwmp_username: 'cwmpUsername',
  cwmp_password: 'cwmpPassword',
} as const satisfies Record<string, keyof DeviceInput>;

type Column = keyof typeof CSV_COLUMNS;
const COLUMN_OF = Object.fromEntries(Object.entries(CSV_COLUMNS).map(([c, f]) => [f, c])) as Record<string, Column>;

/** An import refused as a whole. `row` counts data rows from 1; `line` is the file line (the header is line 1). */
export class ImportError extends Error {
  constructor(
    readonly row: number | undefined,
    readonly line: number | undefined,
    problem: string,
  ) {
    super(row === undefined ? problem : `row ${row} (line ${line}): ${problem}`);
    this.name = 'ImportError';
  }
}

export interface CsvDevice {
  readonly row: number;
  readonly line: number;
  readonly input: DeviceInput;
}

/** Parses and validates a device CSV. Empty cells are left out (the registry generates them). */
export function parseDeviceCsv(text: string, validator: DeviceInputValidator): CsvDevice[] {
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, { bom: true, info: true, skip_empty_lines: true, relax_column_count: false }) as unknown as typeof records;
  } catch (err) {
    throw new ImportError(undefined, undefined, `not valid CSV: ${(err as Error).message}`);
  }
  const head = records.shift();
  if (!head) throw new ImportError(undefined, undefined, 'the file is empty (expected a header line starting with "id")');
  const header = head.record.map((h) => h.trim());
  for (const name of header) {
    if (!(name in CSV_COLUMNS)) {
      throw new ImportError(undefined, 1, `unknown column "${name}" in the header (known: ${Object.keys(CSV_COLUMNS).join(',')})`);
    }
  }
  if (new Set(header).size !== header.length) throw new ImportError(undefined, 1, 'a column appears twice in the header');
  if (!header.includes('id')) throw new ImportError(undefined, 1, 'the header has no "id" column');

  return records.map(({ record, info }, i) => {
    const input: Record<string, string> = {};
    header.forEach((column, c) => {
      const cell = record[c] ?? '';
      if (cell !== '') input[CSV_COLUMNS[column as Column]] = cell;
    });
    const problem = validator.problem(input, (prop) => COLUMN_OF[prop] ?? prop);
    if (problem) throw new ImportError(i + 1, info.lines, problem);
    return { row: i + 1, line: info.lines, input: input as DeviceInput };
  });
}

/** Writes complete credentials back as CSV with the import header (for `--credentials-out`). */
export function credentialsCsv(devices: readonly ({ id: string } & DeviceCredentials)[]): string {
  const quote = (s: string) => (/[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);
  const lines = [Object.keys(CSV_COLUMNS).join(',')];
  for (const d of devices) lines.push(Object.values(CSV_COLUMNS).map((f) => quote(d[f])).join(','));
  return `${lines.join('\n')}\n`;
}
