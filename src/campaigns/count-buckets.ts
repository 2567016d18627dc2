/**
 * A campaign's devices per state are kept counted by the store in buckets of 1,024 consecutive seqs
 * (campaign_counts, maintained by triggers on campaign_devices: `seq >> 10`), so counting a wave of a
 * million devices reads about a thousand count rows instead of a million index entries. A range [lo, hi)
 * is the buckets wholly inside it plus the devices of its two ragged ends, read one by one (fewer than
 * 1,024 each).
 */
export const BUCKET_BITS = 10;
const SIZE = 2 ** BUCKET_BITS;

export interface CountPlan {
  /** Buckets b with bucketLo ≤ b < bucketHi, summed from the counts. */
  readonly bucketLo: number;
  readonly bucketHi: number;
  /** Seq ranges [lo, hi) counted device by device. */
  readonly edges: readonly [readonly [number, number], readonly [number, number]];
}

export function countPlan(lo: number, hi: number): CountPlan {
  const bucketLo = Math.ceil(lo / SIZE);
  const bucketHi = Math.floor(hi / SIZE);
  if (bucketLo >= bucketHi) return { bucketLo: 0, bucketHi: 0, edges: [[lo, hi], [0, 0]] };
  return { bucketLo, bucketHi, edges: [[lo, bucketLo * SIZE], [bucketHi * SIZE, hi]] };
}
