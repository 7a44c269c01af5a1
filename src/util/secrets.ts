import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Lower-case hex SHA-256 of a token's UTF-8 bytes: what URL-query authentication sends and the
 * server's lookup key (SESSION.md §3.2).
 */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** Constant-time comparison of two secrets of any length (digests first, so lengths do not leak). */
export function keysEqual(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}
