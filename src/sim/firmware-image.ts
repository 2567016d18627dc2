/**
 * A simulator firmware image: a first line `STBSIM-FIRMWARE version=V`, then padding to the size asked
 * for (benches want megabytes). A simulated STB that downloads one as its firmware reboots into V. Pure.
 */
const HEADER = 'STBSIM-FIRMWARE version=';
const LINE = /^STBSIM-FIRMWARE version=([\x21-\x7e]{1,64})\r?\n/;

/** The longest header: what a download keeps of a file to read it. */
export const FIRMWARE_HEADER_BYTES = HEADER.length + 64 + 2;

/** @throws RangeError for a version that cannot be in the header, or a size smaller than it */
export function firmwareImage(version: string, size?: number): Buffer {
  if (!/^[\x21-\x7e]{1,64}$/.test(version)) throw new RangeError(`a firmware version is 1 to 64 printable ASCII characters without spaces, got ${JSON.stringify(version)}`);
  const header = Buffer.from(`${HEADER}${version}\n`, 'ascii');
  if (size === undefined) return header;
  if (!Number.isSafeInteger(size) || size < header.length) throw new RangeError(`the image needs at least ${header.length} bytes for its header, got ${size}`);
  const image = Buffer.alloc(size, 0x2e);
  header.copy(image);
  if (size > header.length) image[size - 1] = 0x0a;
  return image;
}

/** The version a file's first bytes name when it is a simulator firmware image, else undefined. */
export function firmwareVersionOf(head: Buffer): string | undefined {
  return LINE.exec(head.subarray(0, FIRMWARE_HEADER_BYTES).toString('latin1'))?.[1];
}
