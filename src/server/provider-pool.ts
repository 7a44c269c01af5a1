import type { Link } from '../relay/link.js';
import { LinkWaiters } from '../relay/link-waiters.js';

/**
 * The provider connections of one reverse (or internal) token, chosen round robin per channel
 * (MODES.md §3.3). Waiting for a provider is event driven rather than Go's 100 ms polling.
 */
export class ProviderPool {
  private readonly links: Link[] = [];
  private index = 0;
  private readonly waiters = new LinkWaiters();

  get size(): number {
    return this.links.length;
  }

  list(): readonly Link[] {
    return this.links;
  }

  add(link: Link): void {
    this.links.push(link);
    this.waiters.release(() => this.next());
  }

  remove(link: Link): void {
    const at = this.links.indexOf(link);
    if (at < 0) return;
    this.links.splice(at, 1);
    if (at < this.index) this.index -= 1;
    if (this.links.length === 0 || this.index >= this.links.length) this.index = 0;
  }

  /** The next live provider in turn, skipping (and dropping) closed ones. */
  next(): Link | undefined {
    while (this.links.length > 0) {
      if (this.index >= this.links.length) this.index = 0;
      const link = this.links[this.index]!;
      if (link.isClosed) {
        this.links.splice(this.index, 1);
        continue;
      }
      this.index = (this.index + 1) % this.links.length;
      return link;
    }
    return undefined;
  }

  /** A provider now, or the first one to arrive within `timeoutMs`, or undefined. */
  waitForProvider(timeoutMs: number): Promise<Link | undefined> {
    const now = this.next();
    return now ? Promise.resolve(now) : this.waiters.wait(timeoutMs);
  }

  /** Releases every waiter with no provider (the token is going away). */
  cancelWaiters(): void {
    this.waiters.cancelAll();
  }
}
