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

  /**
   * `sessionTags`: a username `NAME-session-TAG` also authenticates as NAME, and TAG is handed on
   * (sticky provider selection). The full name is tried first, so a configured user whose name
   * contains `-session-` still logs in as itself.
   */
  constructor(
    credentials: Socks5Credentials,
    private readonly sessionTags = false,
  ) {
    this.username = digest(Buffer.from(credentials.username, 'utf8'));
    this.password = digest(Buffer.from(credentials.password, 'utf8'));
  }

  matches(username: Uint8Array, password: Uint8Array): boolean {
    return this.identify(username, password) !== null;
  }

  /** Who logged in (and with which session tag), or null for wrong credentials. */
  identify(username: Uint8Array, password: Uint8Array): Identity | null {
    const passOk = timingSafeEqual(digest(password), this.password);
    const userOk = timingSafeEqual(digest(username), this.username);
    const name = Buffer.from(username).toString('utf8');
    if (userOk) return passOk ? { user: name } : null;
    if (!this.sessionTags) return null;
    const at = name.indexOf(SESSION_MARK);
    if (at < 0) return null;
    const baseOk = timingSafeEqual(digest(Buffer.from(name.slice(0, at), 'utf8')), this.username);
    return baseOk && passOk ? { user: name.slice(0, at), session: name.slice(at + SESSION_MARK.length) } : null;
  }
}

/** Separates the user name from the session tag in `NAME-session-TAG`. */
export const SESSION_MARK = '-session-';

export interface Identity {
  user: string;
  session?: string;
}

function digest(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}

/** Authentication is required only when both a username and a password are set (MODES.md §7.2). */
export function credentialsRequired(credentials: Socks5Credentials | undefined): credentials is Socks5Credentials {
  return credentials !== undefined && credentials.username !== '' && credentials.password !== '';
}
