import { randomBytes } from 'node:crypto';

/** A generated password: 144 random bits as 24 URL-safe characters (no padding, no quoting issues in CSV). */
export function generateSecret(): string {
  return randomBytes(18).toString('base64url');
}
