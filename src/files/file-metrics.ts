import { Counter, type Registry } from 'prom-client';

/** How a request to the file server ended (the `result` label). */
export const FETCH_RESULTS = ['ok', 'partial', 'not-modified', 'head', 'forbidden', 'expired', 'not-found', 'unsatisfiable', 'bad-method', 'aborted', 'unavailable', 'error'] as const;
export type FetchResult = (typeof FETCH_RESULTS)[number];

export interface FileMetrics {
  readonly bytes: Counter;
  readonly fetches: Counter<'result'>;
}

export function registerFileMetrics(registry: Registry): FileMetrics {
  const fetches = new Counter({
    name: 'stbd_file_fetches_total',
    help: `requests to the file server ([files] listen), by result: ${FETCH_RESULTS.join(', ')}`,
    labelNames: ['result'] as const,
    registers: [registry],
  });
  // Every result shows from the start (0), so a rate over it needs no series to appear first.
  for (const result of FETCH_RESULTS) fetches.inc({ result }, 0);
  return {
    bytes: new Counter({ name: 'stbd_file_bytes_total', help: 'bytes of files sent to devices by the file server (bodies only)', registers: [registry] }),
    fetches,
  };
}
