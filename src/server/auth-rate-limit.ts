/**
 * Per-address limit on failed WebSocket authentications: a token bucket per remote address.
 *
 * Each failure takes one token; the bucket refills at `refillPerSecond` up to `burst`. An address
 * whose bucket is empty is *limited*: the server answers its next upgrades with HTTP 429 before
 * any WebSocket exists (cheaper than an upgrade, and a Go client treats a failed handshake as a
 * retriable connection error, whereas an AuthResponse failure would make it give up for good —
 * which would punish legitimate clients sharing a NAT address with a guesser). While limited,
 * every upgrade is refused, right tokens included: otherwise guessing would continue with feedback.
 *
 * Memory is bounded: at most `maxAddresses` buckets are kept; the least recently touched is
 * evicted first (a Map iterates in insertion order, and a touched bucket is re-inserted). Full
 * buckets are dropped as soon as they are seen, so idle addresses cost nothing.
 */

export interface AuthRateLimitOptions {
  /** Failures allowed in a row before limiting; default 20. */
  burst?: number;
  /** Failures forgiven per second; default 1. */
  refillPerSecond?: number;
  /** Addresses tracked at most; default 10,000. */
  maxAddresses?: number;
  /** Clock in ms (tests inject one); default Date.now. */
  now?: () => number;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/** Defaults of AuthRateLimitOptions (also LinkSocksServer's `authRateLimit` defaults). */
export const DEFAULT_AUTH_RATE_LIMIT = Object.freeze({ burst: 20, refillPerSecond: 1, maxAddresses: 10_000 });

export const RATE_LIMITED_ERROR = 'too many authentication failures';

export class AuthRateLimiter {
  private readonly burst: number;
  private readonly refillPerMs: number;
  private readonly maxAddresses: number;
  private readonly now: () => number;
  private readonly buckets = new Map<string, Bucket>();

  constructor(options: AuthRateLimitOptions = {}) {
    this.burst = options.burst ?? DEFAULT_AUTH_RATE_LIMIT.burst;
    this.refillPerMs = (options.refillPerSecond ?? DEFAULT_AUTH_RATE_LIMIT.refillPerSecond) / 1000;
    this.maxAddresses = options.maxAddresses ?? DEFAULT_AUTH_RATE_LIMIT.maxAddresses;
    this.now = options.now ?? Date.now;
    if (!(this.burst >= 1) || !(this.refillPerMs > 0) || !(this.maxAddresses >= 1)) {
      throw new RangeError('auth rate limit: burst >= 1, refillPerSecond > 0 and maxAddresses >= 1 are required');
    }
  }

  /** Addresses currently tracked (for tests and metrics). */
  get size(): number {
    return this.buckets.size;
  }

  /** True when `address` has no failure left: refuse the upgrade. */
  isLimited(address: string | undefined): boolean {
    const bucket = this.refresh(keyOf(address));
    return bucket !== undefined && bucket.tokens < 1;
  }

  /** Seconds until `address` may try again (for a Retry-After header); 0 when not limited. */
  retryAfterSeconds(address: string | undefined): number {
    const bucket = this.refresh(keyOf(address));
    if (!bucket || bucket.tokens >= 1) return 0;
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.refillPerMs / 1000));
  }

  /** Counts one failed authentication from `address`. */
  recordFailure(address: string | undefined): void {
    const key = keyOf(address);
    const bucket = this.refresh(key) ?? { tokens: this.burst, updatedAt: this.now() };
    bucket.tokens = Math.max(0, bucket.tokens - 1);
    this.buckets.delete(key);
    this.buckets.set(key, bucket);
    while (this.buckets.size > this.maxAddresses) {
      const oldest = this.buckets.keys().next().value as string;
      this.buckets.delete(oldest);
    }
  }

  /** Brings a bucket up to date; drops it once it is full again. */
  private refresh(key: string): Bucket | undefined {
    const bucket = this.buckets.get(key);
    if (!bucket) return undefined;
    const now = this.now();
    bucket.tokens = Math.min(this.burst, bucket.tokens + (now - bucket.updatedAt) * this.refillPerMs);
    bucket.updatedAt = now;
    if (bucket.tokens >= this.burst) {
      this.buckets.delete(key);
      return undefined;
    }
    return bucket;
  }
}

/** IPv4-mapped IPv6 addresses count as their IPv4 address, so one host has one bucket. */
function keyOf(address: string | undefined): string {
  if (!address) return '';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/** The HTTP answer to a limited upgrade; the connection is closed after it. */
export function tooManyRequestsResponse(retryAfterSeconds: number): string {
  const body = `${RATE_LIMITED_ERROR}\n`;
  return (
    'HTTP/1.1 429 Too Many Requests\r\n' +
    'Content-Type: text/plain; charset=utf-8\r\n' +
    `Retry-After: ${Math.max(1, retryAfterSeconds)}\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    'Connection: close\r\n\r\n' +
    body
  );
}
