import type { ConnectMessage } from '../protocol/index.js';
import { IdleTimer } from './idle-timer.js';
import type { ChannelEndpoint, ChannelMessage, DrainWaiter, Link } from './link.js';
import { joinHostPort } from './dial.js';
import type { ChannelInfo, ChannelObserver } from './observer.js';
import { relayChannelMessage, relayConnect } from './reencode.js';
import { graceAck, graceOffset } from './grace-wire.js';
import { GRACE_ACK_STEP } from './tcp-channel.js';
import type { MeteredChannel, TrafficMeter } from './meter.js';

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
  /** Transport grace: the route survives the loss of either link when both ends announced grace. */
  grace?: { ms: number; routes: GraceRoutes };
  /** Told about the route's connect result and end (linkId: connector, providerLinkId: provider). */
  observer?: ChannelObserver;
  /** Counts the route's Data bytes (connector to provider: upload); it may close the route. Not rate-limited. */
  meter?: TrafficMeter;
}

/**
 * Agent-mode routes that may be resumed, by channel id (one registry per provider pool): a
 * connector's Connect with Resume re-binds its side; a provider instance that comes back gets
 * its channels re-opened with a Connect carrying Resume. The byte counts that make this exact are
 * exchanged end to end (connector and provider); the route only drops what one side sent while
 * the other was away or not yet re-synchronised, which the sender then replays.
 */
export class GraceRoutes {
  private readonly byId = new Map<string, ChannelRoute>();
  /** Routes whose provider link was lost, and the provider instance they wait for. */
  private readonly waiting = new Map<ChannelRoute, string>();

  /** `keyOf(link)`: the provider instance a provider link belongs to. */
  constructor(readonly keyOf: (link: Link) => string) {}

  get size(): number {
    return this.byId.size;
  }

  add(route: ChannelRoute): void {
    this.byId.set(route.channelId, route);
  }

  remove(route: ChannelRoute): void {
    if (this.byId.get(route.channelId) === route) this.byId.delete(route.channelId);
    this.waiting.delete(route);
  }

  waitForProvider(route: ChannelRoute, key: string): void {
    this.waiting.set(route, key);
  }

  /** A connector's Resume: re-bind its side to `link`; false when the route is unknown or gone. */
  resume(link: Link, msg: ConnectMessage): boolean {
    return this.byId.get(msg.channelId)?.rebindConnector(link) ?? false;
  }

  /** A provider link that announced grace is up: routes waiting for that instance re-open on it. */
  providerReady(link: Link): void {
    const key = this.keyOf(link);
    for (const [route, wanted] of [...this.waiting]) {
      if (wanted !== key) continue;
      this.waiting.delete(route);
      route.rebindProvider(link);
    }
  }

  dropAll(): void {
    for (const route of [...this.byId.values()]) route.abort('peer link expired');
  }
}

const DEFAULT_PENDING_LIMIT = 1024 * 1024;
const DEFAULT_LINGER_MS = 10_000;
/** Disconnect text when the other side's link of a route is gone. */
export const PEER_LINK_LOST = 'peer link lost';

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
  const route = new ChannelRoute(connector, msg, options);
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

  onPeerAck(received: number): void {
    this.route.control(this, 'ack', received);
  }

  onPeerOffset(received: number): void {
    this.route.control(this, 'offset', received);
  }
}

class ChannelRoute implements MeteredChannel {
  lastTraffic = Date.now();
  readonly channelId: string;
  private connectorLeg: RouteLeg;
  private providerLeg: RouteLeg | undefined;
  private pending: ChannelMessage[] = [];
  private pendingBytes = 0;
  private pendingBlocked = false;
  private readonly ended = new Set<RouteLeg>();
  private readonly pausedForDrain = new Set<RouteLeg>();
  /** After one side's half-close: how long the other may stay silent. */
  private readonly linger = new IdleTimer();
  private finished = false;
  /** Grace: the legs whose link was lost, while the route waits for them. */
  private readonly downLegs = new Set<RouteLeg>();
  /** Grace: a side's byte count sent while the other side was away, delivered on its return. */
  private readonly heldOffsets = new Map<RouteLeg, number>();
  private graceTimer: NodeJS.Timeout | undefined;
  /** Grace: legs whose Data is dropped until their byte count passes (they replay from the peer's count). */
  private readonly resyncing = new Set<RouteLeg>();
  /** Both ends announced grace: acks and counts travel end to end. */
  private endToEnd = false;
  /** Otherwise: bytes forwarded from each side, acknowledged by the route itself to an end that keeps a replay buffer. */
  private readonly forwarded = new Map<RouteLeg, { total: number; acked: number }>();
  private readonly startedAt = Date.now();
  /** Data bytes connector → provider and back, for the observer. */
  private bytesUp = 0;
  private bytesDown = 0;
  private opened = false;
  private closeError = '';
  private info: ChannelInfo | undefined;

  constructor(
    connector: Link,
    private readonly connect: ConnectMessage,
    private readonly options: RouteOptions,
  ) {
    this.channelId = connect.channelId;
    this.connectorLeg = new RouteLeg(this, connector);
    connector.attach(this.channelId, this.connectorLeg);
    connector.counters.channelsOpened += 1;
    options.meter?.channelOpened(this);
  }

  /** Ends the route from outside (its meter's quota ran out). */
  close(reason: string): void {
    this.abort(reason);
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
    this.endToEnd = connector.peerResumes && provider.peerResumes;
    if (this.options.grace && this.endToEnd) this.options.grace.routes.add(this);
    const pending = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    if (this.pendingBlocked) {
      this.pendingBlocked = false;
      connector.resumeInbound(this);
    }
    for (const msg of pending) this.forward(this.connectorLeg, leg, msg);
    // The provider's silence is counted from now: it could not answer before it had the Connect.
    this.lastTraffic = Date.now();
    if (this.ended.has(this.connectorLeg)) this.armLinger();
  }

  fromLeg(from: RouteLeg, msg: ChannelMessage): void {
    if (this.finished) return;
    this.lastTraffic = Date.now();
    const to = from === this.connectorLeg ? this.providerLeg : this.connectorLeg;
    if (this.downLegs.size > 0 || this.resyncing.has(from)) {
      // The other side is away or this side is not re-synchronised: Data and an end of stream are
      // replayed by the sender after the byte-count exchange; an abort ends the route. A UDP
      // datagram is not replayed: it is lost, as UDP may be, and counted.
      if (msg.type === 'disconnect' && msg.error !== 'EOF') this.abort(msg.error);
      else if (msg.type === 'data' && msg.protocol === 'udp') from.link.counters.udpDatagramsDropped += 1;
      return;
    }
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
    if (this.finished) return; // its meter closed it
    if (msg.type === 'data' && !this.endToEnd && from.link.peerResumes) this.ackOnBehalf(from, msg.data.length);
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
    const meter = this.options.meter;
    if (meter !== undefined && msg.type === 'data') {
      if (from === this.connectorLeg) meter.countUpload(msg.data.length);
      else meter.countDownload(msg.data.length);
      if (this.finished) return;
    }
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
    } else if (this.providerLeg) {
      // Without a provider yet, attach() starts the linger once the EOF has been passed on.
      this.armLinger();
    }
  }

  /**
   * The far end cannot acknowledge (it does not speak grace), but this end keeps what it sends until
   * acknowledged: the route acknowledges what it forwarded, so that end's replay window never fills.
   * Such a route is not resumable; it tears down on a lost link as before.
   */
  private ackOnBehalf(from: RouteLeg, bytes: number): void {
    let count = this.forwarded.get(from);
    if (!count) {
      count = { total: 0, acked: 0 };
      this.forwarded.set(from, count);
    }
    count.total += bytes;
    if (count.total - count.acked >= GRACE_ACK_STEP) {
      count.acked = count.total;
      from.link.send(graceAck(this.channelId, count.total));
    }
  }

  /**
   * Grace controls travel end to end. While a side is away, acks are dropped and a side's byte
   * count is kept for the other side's return (it resumed first and waits for an answer).
   */
  control(from: RouteLeg, kind: 'ack' | 'offset', received: number): void {
    if (this.finished) return;
    if (this.downLegs.size > 0) {
      if (kind === 'offset') this.heldOffsets.set(from, received);
      return;
    }
    const to = from === this.connectorLeg ? this.providerLeg : this.connectorLeg;
    if (kind === 'offset') this.resyncing.delete(from);
    if (!to || to.link.isClosed || !to.link.peerResumes) return;
    to.link.send(kind === 'ack' ? graceAck(this.channelId, received) : graceOffset(this.channelId, received));
  }

  /** The route may wait out the loss of `leg`'s link: both ends announced grace and the link was cut. */
  private canSuspend(leg: RouteLeg): boolean {
    return this.options.grace !== undefined && this.endToEnd && this.providerLeg !== undefined &&
      !this.downLegs.has(leg) && leg.link.lostAbruptly;
  }

  private suspendLeg(leg: RouteLeg): void {
    const grace = this.options.grace!;
    this.downLegs.add(leg);
    this.heldOffsets.clear();
    this.linger.stop();
    // The surviving side must not stay paused waiting for the lost link to drain.
    for (const l of [this.connectorLeg, this.providerLeg]) {
      if (l && this.pausedForDrain.delete(l)) l.link.resumeInbound(l);
    }
    this.graceTimer ??= setTimeout(() => this.abort('peer link expired'), grace.ms);
    if (leg === this.providerLeg) grace.routes.waitForProvider(this, grace.routes.keyOf(leg.link));
  }

  private resumed(): void {
    if (this.downLegs.size > 0) return;
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
  }

  /**
   * Both sides are back: the provider gets the Resume and re-syncs. A connector that resumed while
   * the provider was away already sent its count (held): it goes on now; otherwise the connector's
   * Data is dropped until its count passes.
   */
  private resync(): void {
    const provider = this.providerLeg!;
    this.resumed();
    this.resyncing.clear();
    provider.link.send({ ...this.connect, resume: true });
    const held = this.heldOffsets.get(this.connectorLeg);
    this.heldOffsets.clear();
    if (held !== undefined) provider.link.send(graceOffset(this.channelId, held));
    else this.resyncing.add(this.connectorLeg);
    this.resyncing.add(provider);
  }

  /** A connector's Connect with Resume on `link`: its side moves there, the provider is asked to re-sync. */
  rebindConnector(link: Link): boolean {
    const provider = this.providerLeg;
    if (this.finished || !provider) return false;
    const old = this.connectorLeg;
    const wasDown = this.downLegs.delete(old);
    if (link === old.link && !wasDown) return true; // a repeated Resume on the same link
    if (!wasDown) old.link.detach(this.channelId, old);
    const leg = new RouteLeg(this, link);
    this.connectorLeg = leg;
    link.attach(this.channelId, leg);
    if (this.downLegs.has(provider)) return true; // its count is held until the provider is back
    this.heldOffsets.clear();
    // The connector sends its count right behind the Resume: it is not re-synced by the provider.
    this.resumed();
    this.resyncing.clear();
    this.resyncing.add(provider);
    provider.link.send({ ...this.connect, resume: true });
    return true;
  }

  /** The provider instance is back on `link`: re-open the channel there; the connector re-syncs. */
  rebindProvider(link: Link): void {
    const old = this.providerLeg;
    if (this.finished || !old || !this.downLegs.delete(old)) return;
    const leg = new RouteLeg(this, link);
    this.providerLeg = leg;
    link.attach(this.channelId, leg);
    if (this.downLegs.has(this.connectorLeg)) return; // the connector's Resume will bring the provider's
    this.resync();
  }

  /** A link of the route closed: tell the other side, drop the route. */
  legClosed(leg: RouteLeg): void {
    if (this.finished) return;
    if (this.canSuspend(leg)) {
      this.suspendLeg(leg);
      return;
    }
    const other = leg === this.connectorLeg ? this.providerLeg : this.connectorLeg;
    if (other && !other.link.isClosed) {
      // A text, so the other side resets its socket: the stream was cut, it did not end.
      other.link.send({ type: 'disconnect', channelId: this.channelId, error: PEER_LINK_LOST });
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
    this.options.meter?.channelClosed(this);
    this.linger.stop();
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.options.grace?.routes.remove(this);
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
