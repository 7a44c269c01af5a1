/**
 * The server's live authenticated WebSockets, and the provider pools of reverse (and autonomy
 * internal) tokens that the provider sessions belong to.
 */
import type { Socket } from 'node:net';
import type { Link } from '../relay/link.js';
import type { Logger } from '../log.js';
import { ProviderHealth, type ProviderHealthOptions } from './provider-health.js';
import { ProviderPool, type RemoteProviderSet } from './provider-pool.js';
import { DEFAULT_PROVIDER_STRATEGY } from './provider-strategy.js';
import type { TokenStore } from './token-store.js';
import type { Role } from './tokens.js';

/** A live authenticated WebSocket and what it is to the server. */
export interface Session {
  link: Link;
  token: string;
  role: Role;
  /** Providers: the token whose pool they serve (the internal token in autonomy mode). */
  poolToken?: string;
  /** The WebSocket's TCP connection: peer address and bytes each way for the admin views. */
  socket: Socket;
  /** Epoch milliseconds of authentication. */
  connectedAt: number;
  /** The instance id the client sent (empty when none). */
  instance: string;
}

export class Sessions {
  private readonly sessions = new Set<Session>();
  private readonly pools = new Map<string, ProviderPool>();
  private readonly byLinkId = new Map<number, Session>();

  constructor(
    private readonly store: TokenStore,
    private readonly health: Omit<ProviderHealthOptions, 'onChange'> & {
      logger?: Logger;
      onChange?: (session: Session, ejected: boolean, backoffMs: number) => void;
      /** Cluster mode: the token's providers on other instances, given to its pool. */
      remoteFor?: (token: string) => RemoteProviderSet | undefined;
      /** Cluster mode: the number of local providers of a pool changed. */
      onPoolSize?: (token: string, size: number) => void;
    } = {},
  ) {}

  add(session: Session): void {
    this.sessions.add(session);
    this.byLinkId.set(session.link.id, session);
  }

  delete(session: Session): void {
    this.sessions.delete(session);
    this.byLinkId.delete(session.link.id);
  }

  /**
   * A Connect sent to provider link `linkId` was answered (`answered`, either way) or not (no
   * ConnectResponse in time): the provider's passive health.
   */
  providerOutcome(linkId: number, answered: boolean): void {
    const session = this.byLinkId.get(linkId);
    if (session?.role !== 'reverse' || session.poolToken === undefined) return;
    const pool = this.pools.get(session.poolToken);
    if (answered) pool?.health.succeeded(linkId);
    else pool?.health.failed(linkId);
  }

  /** A closed provider leaves its pool; when that empties the pool, connectors hear the new count. */
  leavePool(session: Session): void {
    if (session.role === 'reverse' && session.poolToken !== undefined) {
      const pool = this.pools.get(session.poolToken);
      pool?.remove(session.link);
      if (pool && pool.size === 0) this.broadcastPartners();
    }
  }

  /** Every live session, in the order they authenticated. */
  list(): Session[] {
    return [...this.sessions];
  }

  /** Open sessions authenticated with `token` (what `/api/status` counts as clients). */
  countFor(token: string): number {
    let n = 0;
    for (const s of this.sessions) if (s.token === token && !s.link.isClosed) n += 1;
    return n;
  }

  /** Links that still carry channels (what drain() waits for). */
  busyLinks(): Link[] {
    return [...this.sessions].map((s) => s.link).filter((link) => link.channels.size > 0 && !link.isClosed);
  }

  /** Closes the sessions of a token, and the providers serving its pool. */
  closeFor(token: string, code: number): void {
    for (const session of [...this.sessions]) {
      if (session.token === token || session.poolToken === token) session.link.close(code);
    }
  }

  closeAll(code: number): void {
    for (const session of [...this.sessions]) session.link.close(code);
  }

  // ---- provider pools ---------------------------------------------------------------------------

  poolFor(token: string): ProviderPool {
    let pool = this.pools.get(token);
    if (!pool) {
      const { onChange, remoteFor, onPoolSize, ...healthOptions } = this.health;
      pool = new ProviderPool({
        remote: remoteFor?.(token),
        ...(onPoolSize && { onSizeChange: (size: number) => onPoolSize(token, size) }),
        strategy: () => {
          const record = this.store.get(token);
          return (record?.kind === 'reverse' && record.strategy) || DEFAULT_PROVIDER_STRATEGY;
        },
        health: new ProviderHealth({
          ...healthOptions,
          onChange: (linkId, ejected, backoffMs) => {
            const session = this.byLinkId.get(linkId);
            if (session && onChange) onChange(session, ejected, backoffMs);
          },
        }),
      });
      this.pools.set(token, pool);
    }
    return pool;
  }

  /** Local provider count of every pool (cluster mode publishes them when it joins). */
  poolSizes(): Array<[token: string, size: number]> {
    return [...this.pools].map(([token, pool]) => [token, pool.size]);
  }

  /** The token is gone: its waiting SOCKS requests and connector Connects get no provider. */
  dropPool(token: string): void {
    const pool = this.pools.get(token);
    if (pool) {
      pool.cancelWaiters();
      this.pools.delete(token);
    }
  }

  cancelAllWaiters(): void {
    for (const pool of this.pools.values()) pool.cancelWaiters();
  }

  /** Providers of all tokens: the `partners` count Go sends connectors. */
  providerCount(): number {
    let n = 0;
    for (const pool of this.pools.values()) n += pool.size;
    return n;
  }

  /** Connector sessions whose token maps to `reverseToken`: the `partners` count sent to its providers. */
  connectorCount(reverseToken: string): number {
    let n = 0;
    for (const s of this.sessions) {
      if (s.role !== 'connector') continue;
      const record = this.store.get(s.token);
      if (record?.kind === 'connector' && record.reverseToken === reverseToken) n += 1;
    }
    return n;
  }

  /** Tells every connector how many providers there are. */
  broadcastPartners(): void {
    const count = this.providerCount();
    for (const s of this.sessions) {
      if (s.role === 'connector' && !s.link.isClosed) s.link.send({ type: 'partners', count });
    }
  }
}
