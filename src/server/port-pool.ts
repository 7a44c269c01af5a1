/**
 * SOCKS5 port bookkeeping for reverse tokens (../shared/spec/MODES.md §6). It only tracks
 * allocations; whether the OS port is actually free is found out when the listener binds.
 */
import { randomInt } from 'node:crypto';
import { TOKEN_ERROR_TEXT, TokenError } from './token-error.js';
import type { PortRange } from './options.js';

export type { PortRange };

export const DEFAULT_PORT_RANGE: Readonly<PortRange> = { min: 1024, max: 10240 };

function isPort(value: number): boolean {
  return Number.isInteger(value) && value >= 1 && value <= 65535;
}

export class PortPool {
  readonly range: Readonly<PortRange>;
  private readonly allocated = new Set<number>();
  /**
   * Unallocated ports inside the range, with each port's index in `free`, so that a random free
   * port is picked, and a given port taken or returned, in O(1) (swap-with-last removal).
   */
  private readonly free: number[] = [];
  private readonly freeIndex = new Map<number, number>();

  constructor(range: PortRange = DEFAULT_PORT_RANGE) {
    if (!isPort(range.min) || !isPort(range.max) || range.min > range.max) {
      throw new RangeError(`invalid port range ${range.min}-${range.max}`);
    }
    this.range = { min: range.min, max: range.max };
    for (let port = range.min; port <= range.max; port++) this.pushFree(port);
  }

  /**
   * Allocates `requested`, or a random free port of the range when it is 0 or absent. A specific
   * port is granted whenever it is not allocated, even outside the range, as Go does; ports that
   * cannot exist (outside 1–65535) are refused, where Go would fail later at bind time.
   * Throws TokenError `cannot allocate port: N` (N = 0 when the pool is exhausted).
   */
  allocate(requested = 0): number {
    if (requested === 0) {
      if (this.free.length === 0) throw this.refusal(0);
      const port = this.free[randomInt(this.free.length)]!;
      this.take(port);
      return port;
    }
    if (!isPort(requested) || this.allocated.has(requested)) throw this.refusal(requested);
    this.take(requested);
    return requested;
  }

  /**
   * A random port of the range that is not allocated here, without taking it (undefined when none
   * is left); `skip` excludes ports already tried. The cluster store reserves the candidate in
   * Redis, where another instance may have taken it meanwhile.
   */
  candidate(skip: ReadonlySet<number> = new Set()): number | undefined {
    if (this.free.length === 0) return undefined;
    for (let attempt = 0; attempt < 32; attempt++) {
      const port = this.free[randomInt(this.free.length)]!;
      if (!skip.has(port)) return port;
    }
    return this.free.find((port) => !skip.has(port));
  }

  /** Returns a port to the pool; unknown ports are ignored. */
  release(port: number): void {
    if (!this.allocated.delete(port)) return;
    if (port >= this.range.min && port <= this.range.max) this.pushFree(port);
  }

  isAllocated(port: number): boolean {
    return this.allocated.has(port);
  }

  /** Number of ports of the range still available for automatic allocation. */
  get available(): number {
    return this.free.length;
  }

  private take(port: number): void {
    this.allocated.add(port);
    const index = this.freeIndex.get(port);
    if (index === undefined) return; // outside the range
    const last = this.free.pop()!;
    if (last !== port) {
      this.free[index] = last;
      this.freeIndex.set(last, index);
    }
    this.freeIndex.delete(port);
  }

  private pushFree(port: number): void {
    this.freeIndex.set(port, this.free.length);
    this.free.push(port);
  }

  private refusal(port: number): TokenError {
    return new TokenError('ERR_LINKSOCKS_PORT_UNAVAILABLE', TOKEN_ERROR_TEXT.portUnavailable(port));
  }
}
