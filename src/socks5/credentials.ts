import { createHash, timingSafeEqual } from 'node:crypto';
import type { Socks5Credentials } from './types.js';

/**
 * Checks offered credentials against the configured ones without leaking, through timing, how
 * much of either matched: both sides are hashed to equal-length digests before a constant-time
 * compare, and both fields are always compared (no short circuit).
 */
export class CredentialChecker {
  private readonly username: Buffer;
  private readonly password: Buffer;

  constructor(credentials: Socks5Credentials) {
    this.username = digest(Buffer.from(credentials.username, 'utf8'));
    this.password = digest(Buffer.from(credentials.password, 'utf8'));
  }

  matches(username: Uint8Array, password: Uint8Array): boolean {
    const userOk = timingSafeEqual(digest(username), this.username);
    const passOk = timingSafeEqual(digest(password), this.password);
    return userOk && passOk;
  }
}

function digest(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}

/** Authentication is required only when both a username and a password are set (MODES.md §7.2). */
export function credentialsRequired(credentials: Socks5Credentials | undefined): credentials is Socks5Credentials {
  return credentials !== undefined && credentials.username !== '' && credentials.password !== '';
}
