/**
 * A token bucket shared by many streams (one per direction of whatever is limited): bytes per
 * second with a bounded burst. It never holds data itself: a stream asks for bytes (take), and when
 * none are left it waits in line (wait) with its source paused; the limiter grants bytes to the
 * waiting streams in turn, a bounded slice each, so one busy stream cannot starve the others.
 *
 * Rate 0 means unlimited: take() grants everything at once and no timer ever runs, so an unlimited
 * stream pays one method call per chunk.
 */

/** A stream waiting for bytes; called once per grant (it calls wait() again if it wants more). */
export interface RateWaiter {
  onRateGrant(bytes: number): void;
}

export interface RateLimiterOptions {
  /** Clock in ms (monotonic); default performance.now. */
  now?: () => number;
}

/** Shortest pause between grants: bounds the timer rate at high rates (grants then get larger). */
const MIN_TICK_MS = 10;
/** Bytes that may pile up while nobody sends: a burst of at most this many seconds at the full rate. */
const BURST_SECONDS = 0.1;
/** While streams wait, a late timer may owe them this many seconds' worth, no more. */
const CATCH_UP_SECONDS = 1;
const MIN_SLICE = 1024;
const MAX_SLICE = 64 * 1024;

export class RateLimiter {
  private rate = 0;
  private capacity = 0;
  /** Most bytes one waiter gets per turn. */
  private slice = MAX_SLICE;
  private tokens = 0;
  private last: number;
  /** In line for bytes, with how many each wants; Map order is the order of service. */
  private readonly waiters = new Map<RateWaiter, number>();
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(bytesPerSecond = 0, options: RateLimiterOptions = {}) {
    this.now = options.now ?? (() => performance.now());
    this.last = this.now();
    this.setRate(bytesPerSecond);
  }

  /** Bytes per second; 0: unlimited. */
  get bytesPerSecond(): number {
    return this.rate;
  }

  get limited(): boolean {
    return this.rate > 0;
  }

  /** Streams waiting for bytes. */
  get waiting(): number {
    return this.waiters.size;
  }

  /**
   * Changes the rate at once, for the streams already waiting too. From unlimited the bucket
   * starts full (one burst); to unlimited every waiter is granted what it asked for.
   */
  setRate(bytesPerSecond: number): void {
    const rate = Number.isFinite(bytesPerSecond) && bytesPerSecond > 0 ? bytesPerSecond : 0;
    const wasLimited = this.rate > 0;
    if (wasLimited) this.refill();
    this.rate = rate;
    this.last = this.now();
    this.clearTimer();
    if (rate === 0) {
      this.tokens = 0;
      for (const [waiter, wanted] of [...this.waiters]) {
        this.waiters.delete(waiter);
        waiter.onRateGrant(wanted);
      }
      return;
    }
    this.slice = Math.min(MAX_SLICE, Math.max(MIN_SLICE, Math.floor(rate / 50)));
    this.capacity = Math.max(2 * this.slice, rate * BURST_SECONDS);
    this.tokens = wasLimited ? Math.min(this.tokens, this.capacity) : this.capacity;
    this.schedule();
  }

  /**
   * Takes up to `wanted` bytes now and returns how many: all of them when unlimited, none while
   * others wait (they come first) or when less than a slice (or `wanted`) is left.
   */
  take(wanted: number): number {
    if (this.rate === 0) return wanted;
    if (this.waiters.size > 0) return 0;
    this.refill();
    if (this.tokens < Math.min(wanted, this.slice)) return 0;
    const granted = Math.min(wanted, Math.floor(this.tokens));
    this.tokens -= granted;
    return granted;
  }

  /**
   * Queues `waiter` for `wanted` bytes (at least one grant, at most a slice per grant; a waiter
   * already in line keeps its place with the new amount).
   */
  wait(waiter: RateWaiter, wanted: number): void {
    if (this.rate === 0) {
      waiter.onRateGrant(wanted);
      return;
    }
    this.waiters.set(waiter, wanted);
    this.schedule();
  }

  /** Leaves the line (the stream ended). */
  cancel(waiter: RateWaiter): void {
    if (!this.waiters.delete(waiter)) return;
    if (this.waiters.size === 0) this.clearTimer();
  }

  /** Stops the timer and forgets every waiter without granting. */
  close(): void {
    this.waiters.clear();
    this.clearTimer();
  }

  private refill(): void {
    const now = this.now();
    const earned = ((now - this.last) * this.rate) / 1000;
    this.last = now;
    const cap = this.waiters.size > 0 ? Math.max(this.capacity, this.rate * CATCH_UP_SECONDS) : this.capacity;
    this.tokens = Math.min(cap, this.tokens + earned);
  }

  private schedule(): void {
    if (this.timer !== undefined || this.rate === 0) return;
    const first = this.waiters.values().next();
    if (first.done === true) return;
    const need = Math.min(first.value, this.slice);
    this.refill();
    const delay = Math.max(MIN_TICK_MS, ((need - this.tokens) * 1000) / this.rate);
    this.timer = setTimeout(() => this.tick(), delay);
  }

  private tick(): void {
    this.timer = undefined;
    this.refill();
    // Round robin: the first in line gets a slice and, if it wants more, queues again at the end.
    while (this.rate > 0 && this.waiters.size > 0) {
      const [waiter, wanted] = this.waiters.entries().next().value as [RateWaiter, number];
      const grant = Math.min(wanted, this.slice);
      if (this.tokens < grant) break;
      this.tokens -= grant;
      this.waiters.delete(waiter);
      waiter.onRateGrant(grant);
    }
    this.schedule();
  }

  private clearTimer(): void {
    if (this.timer === undefined) return;
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
