/**
 * Outgoing instance links: one WebSocket per (remote node, pool token), opened when a channel of
 * that token is first given to a provider of that node, and carrying every such channel with the
 * ordinary codec and Link. An idle link is closed after a while; a node that leaves the cluster
 * has its links cut at once, which fails their channels the way a lost provider does.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import type { Logger } from '../log.js';
import type { RelayCounters } from '../relay/counters.js';
import { Link } from '../relay/link.js';
import type { ClusterCounters } from './cluster-counters.js';
import type { PeerAuth } from './peer-auth.js';
import { CLUSTER_PATH } from './peer-auth.js';

export interface PeerLinksOptions {
  auth: PeerAuth;
  /** The advertised URL of a live node (the directory's answer). */
  nodeUrl(nodeId: string): string | undefined;
  logger: Logger;
  relayCounters: RelayCounters;
  clusterCounters: ClusterCounters;
  channelIdleTimeoutMs: number;
  /** A link without channels for this long is closed; default 30 s. */
  idleCloseMs?: number;
  /** After a failed open, the node is left out of the rotation this long; default 2 s. */
  failureBackoffMs?: number;
  /** Bound on opening one link; default 5 s. */
  openTimeoutMs?: number;
}

const MAX_MESSAGE_SIZE = 32 * 1024 * 1024;
const PING_INTERVAL_MS = 30_000;
const DEAD_AFTER_MS = 90_000;

interface Entry {
  readonly nodeId: string;
  readonly tokenHash: string;
  link?: Link;
  opening?: Promise<Link | undefined>;
  ws?: WebSocket;
  idleTimer?: NodeJS.Timeout;
}

/** The instance-link URL of a node from the URL it advertises (its clients' base URL). */
export function peerLinkUrl(advertised: string): string {
  const url = new URL(advertised);
  const base = url.pathname.replace(/\/+$/, '').replace(/\/socket$/, '');
  url.pathname = `${base}${CLUSTER_PATH}`;
  url.search = '';
  url.hash = '';
  return url.href;
}

export class PeerLinks {
  private readonly entries = new Map<string, Entry>();
  /** Nodes that failed to open a link, and until when they are left out. */
  private readonly failedUntil = new Map<string, number>();
  private closed = false;

  constructor(private readonly options: PeerLinksOptions) {}

  /** False while a node is backed off after a failed open. */
  isReachable(nodeId: string): boolean {
    const until = this.failedUntil.get(nodeId);
    if (until === undefined) return true;
    if (until > Date.now()) return false;
    this.failedUntil.delete(nodeId);
    return true;
  }

  /** The link to `nodeId` for `tokenHash`, opened now if needed; undefined when it cannot be opened. */
  open(nodeId: string, tokenHash: string): Promise<Link | undefined> {
    if (this.closed) return Promise.resolve(undefined);
    const key = `${nodeId}\n${tokenHash}`;
    let entry = this.entries.get(key);
    if (entry?.link && !entry.link.isClosed) {
      this.options.clusterCounters.channelsOutgoing += 1;
      return Promise.resolve(entry.link);
    }
    if (!entry) {
      entry = { nodeId, tokenHash };
      this.entries.set(key, entry);
    }
    entry.opening ??= this.dial(key, entry);
    return entry.opening.then((link) => {
      if (link) this.options.clusterCounters.channelsOutgoing += 1;
      return link;
    });
  }

  /** Every open link (tests cut them; drain looks at their channels). */
  links(): Link[] {
    const out: Link[] = [];
    for (const entry of this.entries.values()) if (entry.link && !entry.link.isClosed) out.push(entry.link);
    return out;
  }

  /** The node left the cluster: cut its links now (their channels fail, SOCKS sockets are reset). */
  dropNode(nodeId: string): void {
    this.failedUntil.delete(nodeId);
    for (const entry of [...this.entries.values()]) if (entry.nodeId === nodeId) this.cut(entry);
  }

  /** The token is gone here: its links go too. */
  dropToken(tokenHash: string): void {
    for (const entry of [...this.entries.values()]) if (entry.tokenHash === tokenHash) entry.link?.close(1001);
  }

  closeAll(): void {
    this.closed = true;
    for (const entry of [...this.entries.values()]) {
      entry.link?.close(1001);
      entry.ws?.terminate();
    }
  }

  private cut(entry: Entry): void {
    entry.link?.terminate();
    entry.ws?.terminate();
  }

  private dial(key: string, entry: Entry): Promise<Link | undefined> {
    const { auth, logger } = this.options;
    const advertised = this.options.nodeUrl(entry.nodeId);
    const fail = (reason: string): undefined => {
      entry.opening = undefined;
      entry.ws = undefined;
      if (!entry.link && this.entries.get(key) === entry) this.entries.delete(key);
      const now = Date.now();
      // Nodes that failed and were never asked about again (they left): forgotten once expired.
      if (this.failedUntil.size >= 64) for (const [id, until] of this.failedUntil) if (until <= now) this.failedUntil.delete(id);
      this.failedUntil.set(entry.nodeId, now + (this.options.failureBackoffMs ?? 2000));
      logger.warn({ node: entry.nodeId, reason }, 'cannot open instance link');
      return undefined;
    };
    if (advertised === undefined) return Promise.resolve(fail('node unknown'));
    let url: string;
    try {
      url = peerLinkUrl(advertised);
    } catch {
      return Promise.resolve(fail('advertised URL invalid'));
    }
    return new Promise<Link | undefined>((resolve) => {
      let socket: Socket | undefined;
      let settled = false;
      const ws = new WebSocket(url, {
        headers: auth.headers(entry.nodeId, entry.tokenHash),
        perMessageDeflate: false,
        maxPayload: MAX_MESSAGE_SIZE,
        handshakeTimeout: this.options.openTimeoutMs ?? 5000,
        followRedirects: false,
      });
      entry.ws = ws;
      ws.binaryType = 'nodebuffer';
      const settle = (link: Link | undefined, reason = ''): void => {
        if (settled) return;
        settled = true;
        if (link) resolve(link);
        else {
          ws.on('error', () => undefined);
          ws.terminate();
          resolve(fail(reason));
        }
      };
      ws.on('upgrade', (res: IncomingMessage) => {
        socket = res.socket as Socket;
      });
      ws.on('unexpected-response', (_req, res: IncomingMessage) => settle(undefined, `HTTP ${res.statusCode ?? '?'}`));
      ws.on('error', (err: Error) => settle(undefined, err.message));
      ws.on('close', () => settle(undefined, 'closed while opening'));
      ws.on('open', () => {
        if (!socket || this.closed) {
          settle(undefined, this.closed ? 'server closing' : 'no socket after upgrade');
          return;
        }
        ws.removeAllListeners('close');
        ws.removeAllListeners('error');
        const link = new Link(ws, socket, {
          pingIntervalMs: PING_INTERVAL_MS,
          deadAfterMs: DEAD_AFTER_MS,
          directFraming: 'masked',
          channelIdleTimeoutMs: this.options.channelIdleTimeoutMs,
          logger,
          counters: this.options.relayCounters,
        });
        this.options.clusterCounters.track(socket);
        entry.link = link;
        entry.opening = undefined;
        entry.ws = undefined;
        this.failedUntil.delete(entry.nodeId);
        link.on('idle', () => this.armIdle(entry, link));
        link.on('close', () => {
          if (entry.idleTimer) clearTimeout(entry.idleTimer);
          entry.idleTimer = undefined;
          if (entry.link === link) entry.link = undefined;
          if (!entry.link && !entry.opening && this.entries.get(key) === entry) this.entries.delete(key);
          logger.debug({ node: entry.nodeId, link: link.id }, 'instance link closed');
        });
        logger.debug({ node: entry.nodeId, link: link.id }, 'instance link opened');
        settle(link);
      });
    });
  }

  /** The link's last channel ended: close it unless a channel comes back within the idle delay. */
  private armIdle(entry: Entry, link: Link): void {
    if (entry.idleTimer) clearTimeout(entry.idleTimer);
    entry.idleTimer = setTimeout(() => {
      entry.idleTimer = undefined;
      if (link.channels.size > 0) return;
      // New channels must not pick a link that is closing: the next one opens a fresh link.
      if (entry.link === link) entry.link = undefined;
      link.close(1000);
    }, this.options.idleCloseMs ?? 30_000);
    entry.idleTimer.unref();
  }
}
