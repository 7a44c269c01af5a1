/**
 * [linksocks-ts] `expires_at` of token policies: one timer, set for the nearest expiry of all
 * tokens (not one per token), re-armed whenever tokens are added, changed or removed. When it
 * fires, every token whose time has come is removed as by DELETE (the caller's `expire`).
 */
import type { TokenRecord } from './tokens.js';

/** setTimeout's longest delay (about 24.8 days); a later expiry re-arms on the way. */
const MAX_DELAY_MS = 2 ** 31 - 1;
/** After a failed removal (state file not writable), try again this much later. */
const RETRY_MS = 1000;

export interface TokenExpiryOptions {
  /** Tokens to look at (the store's list). */
  list: () => Iterable<TokenRecord>;
  /** Removes one expired token; a throw is reported to `onError` and retried later. */
  expire: (record: TokenRecord) => void;
  onError?: (record: TokenRecord, err: unknown) => void;
  now?: () => number;
}

export class TokenExpiry {
  private timer: NodeJS.Timeout | undefined;
  private due: number | undefined;
  private stopped = false;
  private sweeping = false;
  /** After a failed removal: no new attempt before this time (no busy loop on a full disk). */
  private holdUntil = 0;

  constructor(private readonly options: TokenExpiryOptions) {}

  /** Epoch ms the timer is armed for, or undefined when no token expires. */
  get nextAt(): number | undefined {
    return this.due;
  }

  /** Removes what has expired already, then arms the timer for the nearest expiry. */
  sweep(): void {
    if (this.stopped || this.sweeping) return;
    this.sweeping = true;
    let failed = false;
    try {
      const now = this.now();
      for (const record of [...this.options.list()]) {
        const at = record.policy?.expiresAt;
        if (at === undefined || at > now) continue;
        try {
          this.options.expire(record);
        } catch (err) {
          failed = true;
          this.options.onError?.(record, err);
        }
      }
    } finally {
      this.sweeping = false;
    }
    this.holdUntil = failed ? this.now() + RETRY_MS : 0;
    this.arm();
  }

  /**
   * A token was added: the nearest expiry can only come earlier, so only a token that expires
   * before the armed time re-arms. Keeps a bulk load (a cluster loading 10,000 tokens) linear,
   * where a rescan per token would be quadratic.
   */
  added(record: TokenRecord): void {
    const expiresAt = record.policy?.expiresAt;
    if (expiresAt === undefined || this.sweeping || this.stopped) return;
    if (this.due !== undefined && this.due <= Math.max(expiresAt, this.holdUntil)) return;
    this.arm();
  }

  /** Re-arms for the nearest expiry (call after any token change). */
  reschedule(): void {
    if (!this.sweeping) this.arm();
  }

  stop(): void {
    this.stopped = true;
    this.clear();
  }

  private arm(): void {
    this.clear();
    if (this.stopped) return;
    let nearest: number | undefined;
    for (const record of this.options.list()) {
      const expiresAt = record.policy?.expiresAt;
      if (expiresAt === undefined) continue;
      const at = Math.max(expiresAt, this.holdUntil);
      if (nearest === undefined || at < nearest) nearest = at;
    }
    if (nearest === undefined) return;
    this.due = nearest;
    const delay = Math.min(Math.max(nearest - this.now(), 0), MAX_DELAY_MS);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.due = undefined;
      this.sweep();
    }, delay);
    // An expiry far ahead must not keep an otherwise idle process alive.
    this.timer.unref();
  }

  private clear(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.due = undefined;
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }
}
