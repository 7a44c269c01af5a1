import type { Link } from './link.js';

type Waiter<T> = (link: T | undefined) => void;

/**
 * Callers waiting, each for a bounded time, until a link becomes available: a SOCKS request on a
 * client with no authenticated WebSocket yet, or on a reverse port whose token has no provider.
 * Event driven, where Go polls every 100 ms. `T`: what is handed over (a link, or a choice that
 * leads to one).
 */
export class LinkWaiters<T = Link> {
  private readonly waiters = new Set<Waiter<T>>();

  /** Resolves with the link handed over by `release`, or undefined after `timeoutMs`/`cancelAll`. */
  wait(timeoutMs: number): Promise<T | undefined> {
    if (timeoutMs <= 0) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        resolve(undefined);
      }, timeoutMs);
      const waiter: Waiter<T> = (link) => {
        clearTimeout(timer);
        resolve(link);
      };
      this.waiters.add(waiter);
    });
  }

  /** Hands links to waiters in arrival order for as long as `pick` yields one. */
  release(pick: () => T | undefined): void {
    for (const waiter of [...this.waiters]) {
      const link = pick();
      if (!link) return;
      this.waiters.delete(waiter);
      waiter(link);
    }
  }

  /** Ends every wait with undefined (the owner is closing). */
  cancelAll(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const waiter of waiters) waiter(undefined);
  }
}
