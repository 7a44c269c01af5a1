import type { Link } from '../relay/link.js';
import { LinkWaiters } from '../relay/link-waiters.js';
import { ProviderHealth } from './provider-health.js';
import { DEFAULT_PROVIDER_STRATEGY, type ProviderStrategy } from './provider-strategy.js';

/** What the channel being placed tells the pool (sticky: the session tag of the SOCKS user name). */
export interface PickHint {
  session?: string;
}

export interface ProviderPoolOptions {
  /** Read at every pick, so a changed token strategy applies to the next channel. */
  strategy?: () => ProviderStrategy;
  health?: ProviderHealth;
  /** Sticky sessions remembered at most (oldest forgotten first). */
  maxSessions?: number;
}

const DEFAULT_MAX_SESSIONS = 10_000;

/**
 * The provider connections of one reverse (or internal) token, one chosen per channel by the
 * token's strategy (round robin by default, MODES.md §3.3). Providers ejected by passive health
 * checks are skipped; when every provider is ejected the one ejected longest ago is still used
 * rather than refusing the channel. Waiting for a provider is event driven rather than Go's
 * 100 ms polling.
 */
export class ProviderPool {
  readonly health: ProviderHealth;
  private readonly links: Link[] = [];
  private index = 0;
  private readonly waiters = new LinkWaiters();
  private readonly strategy: () => ProviderStrategy;
  private readonly sessions = new Map<string, Link>();
  private readonly maxSessions: number;

  constructor(options: ProviderPoolOptions = {}) {
    this.strategy = options.strategy ?? (() => DEFAULT_PROVIDER_STRATEGY);
    this.health = options.health ?? new ProviderHealth();
    this.maxSessions = options.maxSessions ?? DEFAULT_MAX_SESSIONS;
  }

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
    this.health.forget(link.id);
    for (const [session, held] of this.sessions) if (held === link) this.sessions.delete(session);
  }

  /** The next provider by the token's strategy, skipping (and dropping) closed ones. */
  next(hint: PickHint = {}): Link | undefined {
    for (let i = this.links.length - 1; i >= 0; i -= 1) {
      if (this.links[i]!.isClosed) this.remove(this.links[i]!);
    }
    if (this.links.length === 0) return undefined;
    const strategy = this.strategy();
    if (strategy === 'sticky' && hint.session !== undefined) return this.sticky(hint.session);
    const available = this.links.filter((link) => this.health.isAvailable(link.id));
    if (available.length === 0) return this.health.leastRecentlyEjected(this.links);
    switch (strategy) {
      case 'least-channels':
        return this.leastChannels(available);
      case 'random':
        return available[Math.floor(Math.random() * available.length)];
      default:
        return this.roundRobin();
    }
  }

  /** A provider now, or the first one to arrive within `timeoutMs`, or undefined. */
  waitForProvider(timeoutMs: number, hint: PickHint = {}): Promise<Link | undefined> {
    const now = this.next(hint);
    return now ? Promise.resolve(now) : this.waiters.wait(timeoutMs);
  }

  /** Releases every waiter with no provider (the token is going away). */
  cancelWaiters(): void {
    this.waiters.cancelAll();
  }

  /** Round robin over the providers in rotation (the caller checked there is one). */
  private roundRobin(): Link | undefined {
    for (let tries = 0; tries < this.links.length; tries += 1) {
      if (this.index >= this.links.length) this.index = 0;
      const link = this.links[this.index]!;
      this.index = (this.index + 1) % this.links.length;
      if (this.health.isAvailable(link.id)) return link;
    }
    return undefined;
  }

  /** Fewest open channels; ties go round robin so equal providers share the load. */
  private leastChannels(available: Link[]): Link {
    const start = this.index % available.length;
    this.index = (this.index + 1) % Math.max(1, this.links.length);
    let best = available[start]!;
    for (let i = 1; i < available.length; i += 1) {
      const link = available[(start + i) % available.length]!;
      if (link.channels.size < best.channels.size) best = link;
    }
    return best;
  }

  /** The session's provider while it lives and is in rotation; otherwise a new one, remembered. */
  private sticky(session: string): Link | undefined {
    const held = this.sessions.get(session);
    if (held !== undefined && !held.isClosed && this.health.isAvailable(held.id)) return held;
    const available = this.links.filter((link) => this.health.isAvailable(link.id));
    const chosen = available.length === 0 ? this.health.leastRecentlyEjected(this.links) : this.leastChannels(available);
    if (chosen === undefined) return undefined;
    this.sessions.delete(session);
    if (this.sessions.size >= this.maxSessions) this.sessions.delete(this.sessions.keys().next().value as string);
    this.sessions.set(session, chosen);
    return chosen;
  }
}
