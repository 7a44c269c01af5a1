/**
 * Incoming instance links: another instance carries channels of one pool token here. Such a link
 * acts like a connector of that token, except that its Connects go to this instance's LOCAL
 * providers only (never onward to a third instance, so a channel crosses at most one link and
 * routes cannot loop). The routing is the agent-mode route of relay/route.ts.
 */
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import type { Logger } from '../log.js';
import type { RelayCounters } from '../relay/counters.js';
import { admitChannel } from '../relay/limits.js';
import { Link } from '../relay/link.js';
import type { ChannelObserver } from '../relay/observer.js';
import { answerResume } from '../relay/resume.js';
import { routeConnect } from '../relay/route.js';
import type { ProviderPool } from '../server/provider-pool.js';
import type { ClusterCounters } from './cluster-counters.js';

export interface PeerInboundOptions {
  logger: Logger;
  relayCounters: RelayCounters;
  clusterCounters: ClusterCounters;
  channelIdleTimeoutMs: number;
  maxChannelsPerLink: number;
  /** How long a Connect waits for a local provider. */
  providerWaitMs: number;
  observer?: ChannelObserver;
  isDraining(): boolean;
}

const PING_INTERVAL_MS = 30_000;
const DEAD_AFTER_MS = 90_000;

interface Inbound {
  readonly link: Link;
  readonly tokenHash: string;
}

export class PeerInbound {
  private readonly inbound = new Set<Inbound>();

  constructor(private readonly options: PeerInboundOptions) {}

  /** Serves an authenticated instance link for the pool of `tokenHash` (`pool()` read per Connect). */
  accept(ws: WebSocket, socket: Socket, from: string, tokenHash: string, pool: () => ProviderPool | undefined): void {
    const { logger } = this.options;
    const link = new Link(ws, socket, {
      pingIntervalMs: PING_INTERVAL_MS,
      deadAfterMs: DEAD_AFTER_MS,
      directFraming: 'unmasked',
      channelIdleTimeoutMs: this.options.channelIdleTimeoutMs,
      // The other instance sends Connects: Data that overtakes its Connect is held.
      earlyData: {},
      logger,
      counters: this.options.relayCounters,
    });
    this.options.clusterCounters.track(socket);
    const entry: Inbound = { link, tokenHash };
    this.inbound.add(entry);
    link.on('close', () => this.inbound.delete(entry));
    logger.debug({ node: from, link: link.id }, 'instance link accepted');
    link.on('message', (msg) => {
      if (msg.type !== 'connect') return;
      if (msg.resume) {
        answerResume(link, msg);
        return;
      }
      if (this.options.isDraining()) {
        link.send({ type: 'connectResponse', success: false, channelId: msg.channelId, error: 'server is shutting down' });
        return;
      }
      if (!admitChannel(link, msg, this.options.maxChannelsPerLink)) return;
      const providers = pool();
      this.options.clusterCounters.channelsIncoming += 1;
      routeConnect(link, msg, {
        pickProvider: () => providers?.waitForLocal(this.options.providerWaitMs) ?? Promise.resolve(undefined),
        observer: this.options.observer,
      });
    });
  }

  /** Links that still carry channels (what drain waits for). */
  busyLinks(): Link[] {
    return [...this.inbound].map((e) => e.link).filter((link) => link.channels.size > 0 && !link.isClosed);
  }

  links(): Link[] {
    return [...this.inbound].map((e) => e.link);
  }

  /** The token is gone here: the links carrying it close. */
  dropToken(tokenHash: string): void {
    for (const entry of [...this.inbound]) if (entry.tokenHash === tokenHash) entry.link.close(1001);
  }

  closeAll(): void {
    for (const entry of [...this.inbound]) entry.link.close(1001);
  }
}
