import type { Link } from '../relay/link.js';
import { LinkWaiters } from '../relay/link-waiters.js';
import { ProviderHealth } from './provider-health.js';
import { DEFAULT_PROVIDER_STRATEGY, type ProviderStrategy } from './provider-strategy.js';

/** What the channel being placed tells the pool (sticky: the session tag of the SOCKS user name). */
export interface PickHint {
  session?: string;
}

/**
 * Providers of the pool's token on other instances (cluster mode, src/cluster/): each node with
 * the number of providers it holds, and the instance link that carries channels to them.
 */
export interface RemoteProviderSet {
  /** Nodes with providers of the token, in a stable order; nodes that just failed to answer are left out. */
  list(): readonly { readonly nodeId: string; readonly count: number }[];
  /** The link to `nodeId` (opened on first use); undefined when it cannot be reached. */
  open(nodeId: string): Promise<Link | undefined>;
  /** Use remote providers only while there is no local one (the cluster's `preferLocal`). */
  readonly preferLocal?: boolean;
}

/** What one pick yields: a local provider link, or a node whose providers take the channel. */
type Choice = Link | { readonly nodeId: string };

function isRemote(choice: Choice): choice is { readonly nodeId: string } {
  return 'nodeId' in choice;
}

export interface ProviderPoolOptions {
  /** Read at every pick, so a changed token strategy applies to the next channel. */
  strategy?: () => ProviderStrategy;
  health?: ProviderHealth;
  /** Sticky sessions remembered at most (oldest forgotten first). */
  maxSessions?: number;
  /** Cluster mode: the token's providers on other instances, which share the rotation. */
  remote?: RemoteProviderSet;
  /** Called with the number of local provider links whenever it changes. */
  onSizeChange?: (size: number) => void;
}

const DEFAULT_MAX_SESSIONS = 10_000;

/**
 * The provider connections of one reverse (or internal) token, one chosen per channel by the
 * token's strategy (round robin by default, MODES.md §3.3). Providers ejected by passive health
 * checks are skipped; when every provider is ejected the one ejected longest ago is still used
 * rather than refusing the channel. Waiting for a provider is event driven rather than Go's
 * 100 ms polling.
 *
 * In a cluster, each other instance with providers of the token is one more entry, weighted by
 * its provider count: round robin (and random) run over every provider of the cluster, so each
 * gets its share wherever it is connected. Local providers are not preferred unless the cluster's
 * `preferLocal` says so.
 */
export class ProviderPool {
  readonly health: ProviderHealth;
  private readonly links: Link[] = [];
  private index = 0;
  /** Callers that may be served by any provider of the cluster. */
  private readonly waiters = new LinkWaiters<Choice>();
  /** Callers served by local providers only (channels that came from another instance). */
  private readonly localWaiters = new LinkWaiters();
  private clusterIndex = 0;
  private readonly remote: RemoteProviderSet | undefined;
  private readonly onSizeChange: ((size: number) => void) | undefined;
  private readonly strategy: () => ProviderStrategy;
  private readonly sessions = new Map<string, Link>();
  private readonly maxSessions: number;

  constructor(options: ProviderPoolOptions = {}) {
    this.strategy = options.strategy ?? (() => DEFAULT_PROVIDER_STRATEGY);
    this.health = options.health ?? new ProviderHealth();
    this.maxSessions = options.maxSessions ?? DEFAULT_MAX_SESSIONS;
    this.remote = options.remote;
    this.onSizeChange = options.onSizeChange;
  }

  get size(): number {
    return this.links.length;
  }

  list(): readonly Link[] {
    return this.links;
  }

  add(link: Link): void {
    this.links.push(link);
    this.onSizeChange?.(this.links.length);
    this.localWaiters.release(() => this.next());
    this.waiters.release(() => this.choose({}));
  }

  /** The providers on other instances changed: callers waiting may be served there now. */
  remoteChanged(): void {
    this.waiters.release(() => this.choose({}));
  }

  remove(link: Link): void {
    const at = this.links.indexOf(link);
    if (at < 0) return;
    this.links.splice(at, 1);
    if (at < this.index) this.index -= 1;
    if (this.links.length === 0 || this.index >= this.links.length) this.index = 0;
    this.health.forget(link.id);
    for (const [session, held] of this.sessions) if (held === link) this.sessions.delete(session);
    this.onSizeChange?.(this.links.length);
  }

  /** The next local provider by the token's strategy, skipping (and dropping) closed ones. */
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

  /**
   * A provider of the cluster now, or the first one to arrive within `timeoutMs`, or undefined:
   * a local provider link, or the instance link to a node holding the chosen remote provider.
   */
  waitForProvider(timeoutMs: number, hint: PickHint = {}): Promise<Link | undefined> {
    const now = this.choose(hint);
    if (now) return this.settle(now, hint);
    return this.waiters.wait(timeoutMs).then((choice) => (choice ? this.settle(choice, hint) : undefined));
  }

  /** Like waitForProvider, among local providers only (a channel another instance sent here). */
  waitForLocal(timeoutMs: number, hint: PickHint = {}): Promise<Link | undefined> {
    const now = this.next(hint);
    return now ? Promise.resolve(now) : this.localWaiters.wait(timeoutMs);
  }

  /** Releases every waiter with no provider (the token is going away). */
  cancelWaiters(): void {
    this.waiters.cancelAll();
    this.localWaiters.cancelAll();
  }

  /**
   * Which entry of the cluster-wide rotation takes the next channel. Without remote providers
   * this is next(); with them, one slot per provider anywhere (local links first, then each node's
   * count), and a local slot is filled by the token's strategy among the local links.
   */
  private choose(hint: PickHint): Choice | undefined {
    if (this.remote?.preferLocal && this.links.some((link) => !link.isClosed)) return this.next(hint);
    const remotes = this.remote?.list() ?? [];
    if (remotes.length === 0) return this.next(hint);
    for (let i = this.links.length - 1; i >= 0; i -= 1) {
      if (this.links[i]!.isClosed) this.remove(this.links[i]!);
    }
    const strategy = this.strategy();
    if (strategy === 'sticky' && hint.session !== undefined) {
      const held = this.sessions.get(hint.session);
      if (held !== undefined && !held.isClosed && this.health.isAvailable(held.id)) return held;
    }
    const local = this.links.length;
    let total = local;
    for (const remote of remotes) total += remote.count;
    let slot: number;
    if (strategy === 'random') {
      slot = Math.floor(Math.random() * total);
    } else {
      slot = this.clusterIndex % total;
      this.clusterIndex = (slot + 1) % total;
    }
    if (slot < local) return this.next(hint);
    slot -= local;
    for (const remote of remotes) {
      if (slot < remote.count) return { nodeId: remote.nodeId };
      slot -= remote.count;
    }
    return undefined;
  }

  /** A local link as it is; a node: its instance link, or once more another entry when it cannot be reached. */
  private async settle(choice: Choice, hint: PickHint, retry = true): Promise<Link | undefined> {
    if (!isRemote(choice)) return choice;
    const link = await this.remote!.open(choice.nodeId);
    if (link) {
      if (hint.session !== undefined && this.strategy() === 'sticky') this.remember(hint.session, link);
      return link;
    }
    const other = retry ? this.choose(hint) : undefined;
    return other ? this.settle(other, hint, false) : undefined;
  }

  private remember(session: string, link: Link): void {
    this.sessions.delete(session);
    if (this.sessions.size >= this.maxSessions) this.sessions.delete(this.sessions.keys().next().value as string);
    this.sessions.set(session, link);
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
    this.remember(session, chosen);
    return chosen;
  }
}
