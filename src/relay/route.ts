import type { ConnectMessage } from '../protocol/index.js';
import { IdleTimer } from './idle-timer.js';
import type { ChannelEndpoint, ChannelMessage, DrainWaiter, Link } from './link.js';
import { joinHostPort } from './dial.js';
import type { ChannelInfo, ChannelObserver } from './observer.js';
import { relayChannelMessage, relayConnect } from './reencode.js';

export interface RouteOptions {
  /** Data a connector may send while its provider is being chosen (fast open); then its link pauses. */
  pendingDataLimit?: number;
  /** After one side sent Disconnect "EOF", how long the other may stay silent; default 10 s. */
  halfCloseLingerMs?: number;
  /** Chooses the dialing-side link, or resolves undefined when none is available in time. */
  pickProvider: () => Promise<Link | undefined>;
  /** Text of the failed ConnectResponse when no provider is found (Go's wording). */
  noProviderError?: string;
  /**
   * Decides on the Connect before a provider is chosen (access control). Refused: the connector
   * gets a failed ConnectResponse with `error`. Allowed: `connect` replaces the Connect forwarded.
   * Messages the connector sends meanwhile wait, bounded, as they do for the provider choice.
   */
  admit?: () => Promise<{ allowed: true; connect?: ConnectMessage } | { allowed: false; error: string }>;
  /** Told about the route's connect result and end (linkId: connector, providerLinkId: provider). */
  observer?: ChannelObserver;
}

const DEFAULT_PENDING_LIMIT = 1024 * 1024;
const DEFAULT_LINGER_MS = 10_000;

/**
 * Agent mode: one channel id joined across a connector link and a provider link, messages
 * re-encoded on the way (MODES.md §4.4; never the received bytes, see reencode.ts). The route is registered on the connector link at once, so
 * fast-open Data sent behind the Connect waits (bounded) instead of being dropped as Go drops it;
 * when either link closes, the other side gets a Disconnect.
 */
export function routeConnect(connector: Link, msg: ConnectMessage, options: RouteOptions): void {
  if (connector.channels.has(msg.channelId)) return; // duplicate Connect: the first one stands
  if (msg.protocol === 'unknown') {
    // No provider could use it, and it cannot be re-encoded; Go drops it without a reply.
    connector.send({ type: 'connectResponse', success: false, channelId: msg.channelId, error: 'unsupported protocol' });
    return;
  }
  const route = new ChannelRoute(connector, msg.channelId, options);
  route.begin(msg);
}

/** One side of a route as the link sees it. */
class RouteLeg implements ChannelEndpoint, DrainWaiter {
  constructor(
    readonly route: ChannelRoute,
    readonly link: Link,
  ) {}

  onChannelMessage(msg: ChannelMessage): void {
    this.route.fromLeg(this, msg);
  }

  onLinkClosed(): void {
    this.route.legClosed(this);
  }

  lastActivity(): number {
    return this.route.lastTraffic;
  }

  onIdle(): void {
    this.route.abort('idle timeout');
  }

  /** The other leg's link drained: stop holding this leg's link. */
  onLinkDrained(): void {
    this.route.resumeAfterDrain(this);
  }
}

class ChannelRoute {
  lastTraffic = Date.now();
  private readonly connectorLeg: RouteLeg;
  private providerLeg: RouteLeg | undefined;
  private pending: ChannelMessage[] = [];
  private pendingBytes = 0;
  private pendingBlocked = false;
  private readonly ended = new Set<RouteLeg>();
  private readonly pausedForDrain = new Set<RouteLeg>();
  /** After one side's half-close: how long the other may stay silent. */
  private readonly linger = new IdleTimer();
  private finished = false;
  private readonly startedAt = Date.now();
  /** Data bytes connector → provider and back, for the observer. */
  private bytesUp = 0;
  private bytesDown = 0;
  private opened = false;
  private closeError = '';
  private info: ChannelInfo | undefined;

  constructor(
    connector: Link,
    readonly channelId: string,
    private readonly options: RouteOptions,
  ) {
    this.connectorLeg = new RouteLeg(this, connector);
    connector.attach(channelId, this.connectorLeg);
    connector.counters.channelsOpened += 1;
  }

  begin(connect: ConnectMessage): void {
    if (this.options.observer) {
      this.info = {
        channelId: this.channelId,
        target: joinHostPort(connect.address, connect.port),
        linkId: this.connectorLeg.link.id,
        ...(connect.protocol === 'udp' && { udp: true }),
      };
    }
    const { admit } = this.options;
    if (!admit) {
      this.choose(connect);
      return;
    }
    admit().then(
      (verdict) => {
        if (this.finished) return;
        if (verdict.allowed) this.choose(verdict.connect ?? connect);
        else this.refuse(verdict.error);
      },
      (err: unknown) => this.refuse(err instanceof Error ? err.message : String(err)),
    );
  }

  private refuse(error: string): void {
    if (this.finished) return;
    const connector = this.connectorLeg.link;
    connector.counters.channelsFailed += 1;
    if (!connector.isClosed) connector.send({ type: 'connectResponse', success: false, channelId: this.channelId, error });
    if (this.info) {
      this.options.observer?.connected?.({ ...this.info, durationMs: Date.now() - this.startedAt, ok: false, error, refused: true });
    }
    this.finish();
  }

  private choose(connect: ConnectMessage): void {
    this.options.pickProvider().then(
      (provider) => this.attach(provider, connect),
      () => this.attach(undefined, connect),
    );
  }

  private attach(provider: Link | undefined, connect: ConnectMessage): void {
    if (this.finished) return;
    const connector = this.connectorLeg.link;
    if (!provider || provider.isClosed || provider.channels.has(this.channelId)) {
      connector.counters.channelsFailed += 1;
      connector.send({
        type: 'connectResponse',
        success: false,
        channelId: this.channelId,
        error: this.options.noProviderError ?? 'no available reverse clients',
      });
      if (this.info) {
        this.options.observer?.connected?.({ ...this.info, durationMs: Date.now() - this.startedAt, ok: false, error: this.options.noProviderError ?? 'no available reverse clients' });
      }
      this.finish();
      return;
    }
    if (this.info) this.info.providerLinkId = provider.id;
    const leg = new RouteLeg(this, provider);
    this.providerLeg = leg;
    provider.attach(this.channelId, leg);
    relayConnect(provider, connect);
    const pending = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    if (this.pendingBlocked) {
      this.pendingBlocked = false;
      connector.resumeInbound(this);
    }
    for (const msg of pending) this.forward(this.connectorLeg, leg, msg);
    if (this.ended.has(this.connectorLeg)) this.armLinger();
  }

  fromLeg(from: RouteLeg, msg: ChannelMessage): void {
    if (this.finished) return;
    this.lastTraffic = Date.now();
    const to = from === this.connectorLeg ? this.providerLeg : this.connectorLeg;
    if (!to) {
      // Provider not chosen yet: keep the connector's messages in order, bounded.
      this.pending.push(msg);
      this.pendingBytes += msg.type === 'data' ? msg.data.length : 0;
      const limit = this.options.pendingDataLimit ?? DEFAULT_PENDING_LIMIT;
      if (!this.pendingBlocked && this.pendingBytes > limit) {
        this.pendingBlocked = true;
        from.link.pauseInbound(this);
      }
      if (msg.type === 'disconnect') this.noteDisconnect(from, msg.error);
      return;
    }
    this.forward(from, to, msg);
    if (this.info) this.observe(from, msg);
    if (msg.type === 'connectResponse' && !msg.success) {
      this.finish();
    } else if (msg.type === 'disconnect') {
      this.noteDisconnect(from, msg.error);
    }
  }

  /** Bytes each way, the provider's answer, the end: for the observer (only when there is one). */
  private observe(from: RouteLeg, msg: ChannelMessage): void {
    const info = this.info!;
    if (msg.type === 'data') {
      if (from === this.connectorLeg) this.bytesUp += msg.data.length;
      else this.bytesDown += msg.data.length;
    } else if (msg.type === 'connectResponse' && from !== this.connectorLeg) {
      const durationMs = Date.now() - this.startedAt;
      this.options.observer?.connected?.({ ...info, durationMs, ok: msg.success, error: msg.error, answered: true });
      if (msg.success) {
        this.opened = true;
        this.options.observer?.opened?.(info);
      }
    } else if (msg.type === 'disconnect' && msg.error !== 'EOF' && msg.error !== '') {
      this.closeError ||= msg.error;
    }
  }

  private forward(from: RouteLeg, to: RouteLeg, msg: ChannelMessage): void {
    if (!relayChannelMessage(to.link, msg) && !to.link.isClosed && !this.pausedForDrain.has(from)) {
      // The receiving WebSocket is backed up: stop reading the sending one until it drains.
      this.pausedForDrain.add(from);
      from.link.counters.producerPauses += 1;
      from.link.pauseInbound(from);
      to.link.waitForDrain(from);
    }
  }

  resumeAfterDrain(leg: RouteLeg): void {
    if (this.pausedForDrain.delete(leg)) leg.link.resumeInbound(leg);
  }

  private noteDisconnect(from: RouteLeg, error: string): void {
    this.ended.add(from);
    if (error !== 'EOF' || this.ended.size === 2) {
      this.finish();
    } else {
      this.armLinger();
    }
  }

  /** A link of the route closed: tell the other side, drop the route. */
  legClosed(leg: RouteLeg): void {
    if (this.finished) return;
    const other = leg === this.connectorLeg ? this.providerLeg : this.connectorLeg;
    if (other && !other.link.isClosed) {
      other.link.send({ type: 'disconnect', channelId: this.channelId, error: '' });
    }
    this.closeError ||= 'link closed';
    this.finish();
  }

  abort(error: string): void {
    if (this.finished) return;
    this.closeError ||= error;
    for (const leg of [this.connectorLeg, this.providerLeg]) {
      if (leg && !leg.link.isClosed) leg.link.send({ type: 'disconnect', channelId: this.channelId, error });
    }
    this.finish();
  }

  private armLinger(): void {
    this.linger.start(
      this.options.halfCloseLingerMs ?? DEFAULT_LINGER_MS,
      () => this.lastTraffic,
      () => this.abort(''),
    );
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.linger.stop();
    if (this.opened && this.info) {
      this.options.observer?.closed?.({
        ...this.info,
        bytesToLink: this.bytesUp,
        bytesFromLink: this.bytesDown,
        durationMs: Date.now() - this.startedAt,
        error: this.closeError,
      });
    }
    this.pending = [];
    const connector = this.connectorLeg.link;
    if (this.pendingBlocked) connector.resumeInbound(this);
    for (const leg of [this.connectorLeg, this.providerLeg]) {
      if (!leg) continue;
      if (this.pausedForDrain.delete(leg)) leg.link.resumeInbound(leg);
      const other = leg === this.connectorLeg ? this.providerLeg : this.connectorLeg;
      if (other) other.link.cancelDrainWait(leg);
      leg.link.detach(this.channelId, leg);
    }
  }
}
