/**
 * A server's part in carrying channels across instances: publishes its provider counts to the
 * directory, puts the other instances' providers into each token's pool (peer-links.ts opens the
 * links they are reached through), serves the links other instances open to it
 * (peer-inbound.ts), opens a reverse token's SOCKS port while a provider of it is connected
 * anywhere, and cuts the links to a node that leaves.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import type { Logger } from '../log.js';
import type { RelayCounters } from '../relay/counters.js';
import type { Link } from '../relay/link.js';
import type { ChannelObserver } from '../relay/observer.js';
import type { RemoteProviderSet } from '../server/provider-pool.js';
import type { ReverseListeners } from '../server/reverse-listeners.js';
import type { Sessions } from '../server/sessions.js';
import type { TokenStore } from '../server/token-store.js';
import type { ReverseTokenRecord, TokenRecord } from '../server/tokens.js';
import { isInternal } from '../server/token-store.js';
import { sha256Hex } from '../util/secrets.js';
import type { ClusterCounters } from './cluster-counters.js';
import type { ClusterDirectory } from './directory.js';
import { PeerAuth } from './peer-auth.js';
import { PeerInbound } from './peer-inbound.js';
import { PeerLinks } from './peer-links.js';

export interface ClusterNodeOptions {
  directory: ClusterDirectory;
  secret: string;
  store: TokenStore;
  sessions: Sessions;
  listeners: ReverseListeners;
  logger: Logger;
  relayCounters: RelayCounters;
  clusterCounters: ClusterCounters;
  channelIdleTimeoutMs: number;
  maxChannelsPerLink: number;
  providerWaitMs: number;
  /** Remote providers only while there is no local one. */
  preferLocal: boolean;
  observer?: ChannelObserver;
  isDraining(): boolean;
  /** An instance link was refused for a bad or missing cluster secret (rate limiting, events). */
  onAuthFailure(reason: string, socket: Socket): void;
}

const UNAUTHORIZED_RESPONSE = 'HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n';
const UNKNOWN_TOKEN_RESPONSE = 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n';

export class ClusterNode {
  readonly directory: ClusterDirectory;
  private readonly auth: PeerAuth;
  private readonly peers: PeerLinks;
  private readonly inbound: PeerInbound;
  private readonly onProviders = (tokenHash: string): void => this.providersChanged(tokenHash);
  private readonly onNodeGone = (nodeId: string): void => this.peers.dropNode(nodeId);
  private readonly onTokenAdded = (record: TokenRecord): void => {
    if (isInternal(record)) this.internalByHash.set(sha256Hex(record.token), record.token);
    this.providersChanged(sha256Hex(record.token));
  };
  private readonly onTokenGone = (record: TokenRecord): void => {
    const tokenHash = sha256Hex(record.token);
    if (isInternal(record)) this.internalByHash.delete(tokenHash);
    // Its port closed with it: a token added again under that name opens it again.
    this.servedElsewhere.delete(tokenHash);
  };
  /**
   * Autonomy internal tokens by hash: the store leaves them out of its hash index (no client may
   * authenticate with one), but instance links name a pool by its token's hash.
   */
  private readonly internalByHash = new Map<string, string>();
  /** Set by close(): the server has withdrawn from the directory (it does that first). */
  private closed = false;
  /** Tokens (by hash) with local providers published; bounded by the tokens with providers here. */
  private readonly published = new Set<string>();
  /** Tokens (by hash) with providers on other instances, as last seen. */
  private readonly servedElsewhere = new Set<string>();
  /** Set by stopServing (drain): no providers are offered to other instances any more. */
  private serving = true;

  constructor(private readonly options: ClusterNodeOptions) {
    this.directory = options.directory;
    this.auth = new PeerAuth(options.secret, options.directory.nodeId);
    this.peers = new PeerLinks({
      auth: this.auth,
      nodeUrl: (nodeId) => this.directory.nodeUrl(nodeId),
      logger: options.logger,
      relayCounters: options.relayCounters,
      clusterCounters: options.clusterCounters,
      channelIdleTimeoutMs: options.channelIdleTimeoutMs,
    });
    this.inbound = new PeerInbound({
      logger: options.logger,
      relayCounters: options.relayCounters,
      clusterCounters: options.clusterCounters,
      channelIdleTimeoutMs: options.channelIdleTimeoutMs,
      maxChannelsPerLink: options.maxChannelsPerLink,
      providerWaitMs: options.providerWaitMs,
      observer: options.observer,
      isDraining: options.isDraining,
    });
  }

  /**
   * Follows the directory (the server has announced this instance), publishes the providers that
   * arrived meanwhile, opens the ports of tokens served elsewhere.
   */
  start(): void {
    this.directory.on('providers', this.onProviders);
    this.directory.on('node-gone', this.onNodeGone);
    this.options.store.on('added', this.onTokenAdded);
    this.options.store.on('removed', this.onTokenGone);
    for (const record of this.options.store.list()) if (isInternal(record)) this.internalByHash.set(sha256Hex(record.token), record.token);
    // Providers that arrived before this node existed (the server listens first).
    for (const [token, size] of this.options.sessions.poolSizes()) if (size > 0) this.publish(token, size);
    for (const record of this.options.store.list()) this.providersChanged(sha256Hex(record.token));
  }

  /** The providers of `token` on other instances, for its pool. */
  remoteSet(token: string): RemoteProviderSet {
    const tokenHash = sha256Hex(token);
    return {
      list: () => this.directory.remoteProviders(tokenHash).filter((remote) => this.peers.isReachable(remote.nodeId)),
      open: (nodeId) => this.peers.open(nodeId, tokenHash),
      preferLocal: this.options.preferLocal,
    };
  }

  /** The number of local providers of `token` changed. */
  publish(token: string, count: number): void {
    // Once closing, nothing is published again (providers closing with the server).
    if (this.closed) return;
    const tokenHash = sha256Hex(token);
    if (count > 0 && !this.serving) return;
    if (count > 0) this.published.add(tokenHash);
    else this.published.delete(tokenHash);
    this.directory.setLocalProviders(tokenHash, count);
  }

  /**
   * Drain: other instances stop choosing this one's providers for new channels (its counts go to
   * 0), while the channels they already sent here finish; the node itself stays present, so their
   * links to it are not cut, until the server withdraws it on close.
   */
  stopServing(): void {
    this.serving = false;
    for (const tokenHash of [...this.published]) {
      this.published.delete(tokenHash);
      this.directory.setLocalProviders(tokenHash, 0);
    }
  }

  /** An upgrade on the instance-link path: authenticated and served, or refused. */
  upgrade(req: IncomingMessage, socket: Socket, accept: (onSocket: (ws: WebSocket) => void) => void): void {
    const verdict = this.auth.verify(req.headers);
    if (!verdict.ok) {
      this.options.onAuthFailure(verdict.reason, socket);
      socket.end(UNAUTHORIZED_RESPONSE);
      return;
    }
    const { from, tokenHash } = verdict;
    const { sessions } = this.options;
    if (this.reverseByHash(tokenHash) === undefined) {
      // The peer holds the secret; the token may not have reached this instance yet.
      this.options.logger.debug({ node: from }, 'instance link for a token unknown here refused');
      socket.end(UNKNOWN_TOKEN_RESPONSE);
      return;
    }
    accept((ws) =>
      this.inbound.accept(ws, socket, from, tokenHash, () => {
        const record = this.reverseByHash(tokenHash);
        return record ? sessions.poolFor(record.token) : undefined;
      }),
    );
  }

  /** Instance links (both ways) still carrying channels. */
  busyLinks(): Link[] {
    return [...this.peers.links().filter((link) => link.channels.size > 0), ...this.inbound.busyLinks()];
  }

  /** Open instance links: outgoing (to other instances) and incoming. */
  links(): { outgoing: Link[]; incoming: Link[] } {
    return { outgoing: this.peers.links(), incoming: this.inbound.links() };
  }

  tokenRemoved(token: string): void {
    const tokenHash = sha256Hex(token);
    this.peers.dropToken(tokenHash);
    this.inbound.dropToken(tokenHash);
  }

  /** The server is closing (it withdrew from the directory first): links go, nothing more is published. */
  close(): void {
    this.closed = true;
    this.directory.off('providers', this.onProviders);
    this.directory.off('node-gone', this.onNodeGone);
    this.options.store.off('added', this.onTokenAdded);
    this.options.store.off('removed', this.onTokenGone);
    this.peers.closeAll();
    this.inbound.closeAll();
  }

  /** The reverse (or internal) token record whose token hashes to `tokenHash`. */
  private reverseByHash(tokenHash: string): ReverseTokenRecord | undefined {
    const { store } = this.options;
    const record = store.getByHash(tokenHash) ?? store.get(this.internalByHash.get(tokenHash) ?? '');
    return record?.kind === 'reverse' ? record : undefined;
  }

  /** A token's providers elsewhere changed: its waiting channels may go there; its port opens. */
  private providersChanged(tokenHash: string): void {
    const record = this.reverseByHash(tokenHash);
    const remote = record ? this.directory.remoteProviders(tokenHash) : [];
    if (!record || remote.length === 0) {
      this.servedElsewhere.delete(tokenHash);
      return;
    }
    this.options.sessions.poolFor(record.token).remoteChanged();
    // Like the first local provider, the first provider anywhere opens the port (it stays open).
    // Only on that first one: a port that cannot be bound is reported once, not at every change.
    if (this.servedElsewhere.has(tokenHash)) return;
    this.servedElsewhere.add(tokenHash);
    if (record.port > 0 && !record.allowManageConnector && !this.options.isDraining()) void this.options.listeners.open(record);
  }

}

/**
 * A token's remote providers for a pool created before the node exists (the directory may only
 * be ready once the server listens): resolved at first use.
 */
export function lazyRemoteSet(node: () => ClusterNode | undefined, token: string, preferLocal: boolean): RemoteProviderSet {
  let set: RemoteProviderSet | undefined;
  const get = (): RemoteProviderSet | undefined => (set ??= node()?.remoteSet(token));
  return {
    list: () => get()?.list() ?? [],
    open: (nodeId) => get()?.open(nodeId) ?? Promise.resolve(undefined),
    preferLocal,
  };
}
