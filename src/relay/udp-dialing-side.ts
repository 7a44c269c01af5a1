/**
 * The dialing side of a UDP channel (../shared/spec/MODES.md §8.6, PROTOCOL.md §3.5): one UDP
 * socket per channel sends each Data(udp) to its TargetAddr/TargetPort and returns every datagram
 * it receives, from any source (full cone), as Data(udp) with Address/Port = the source.
 *
 * Lifetime: ends on a Disconnect from the SOCKS side (closed at once; Go waits 5 s), when the link
 * closes, on a socket error, or after `idleTimeoutMs` without traffic in either direction.
 * Go never sends a Disconnect from a UDP dialing side. We do send one (text `idle timeout` or the
 * socket error) when we end the channel on our own: otherwise the SOCKS side would keep an
 * association whose datagrams vanish; a Go SOCKS side simply closes the association on it. No
 * Disconnect is sent when the SOCKS side asked for the end or the link is gone.
 *
 * The datagrams go through a UdpTransport: the channel's own socket (udp-direct-transport.ts), or
 * with a SOCKS5 upstream proxy a UDP ASSOCIATE on it (udp-socks5-transport.ts); when that
 * association dies the channel ends with a Disconnect like on a socket error. An HTTP upstream
 * cannot carry UDP, so UDP stays direct with one.
 *
 * Transport grace (the SOCKS side announced it, see grace-wire.ts): when the link is lost
 * abruptly, the channel keeps its transport (the same local port towards the targets) for the
 * grace period; replies arriving meanwhile wait in a bounded queue (udp-grace-queue.ts). The SOCKS
 * side's Connect(udp) with Resume re-binds it (ResumableChannels, grace.ts); after the exchange of
 * counts the queue is sent. Past the grace it ends with `transport link not restored`.
 */
import net from 'node:net';
import type { DataMessage } from '../protocol/index.js';
import type { UdpChannelOpener } from './dialing-side.js';
import { IdleTimer } from './idle-timer.js';
import type { ChannelEndpoint, ChannelMessage, Link } from './link.js';
import type { MeteredChannel, TrafficMeter } from './meter.js';
import type { UpstreamProxy } from './upstream.js';
import { directUdpTransport } from './udp-direct-transport.js';
import type { UdpLookup } from './udp-direct-transport.js';
import { socks5UdpTransport } from './udp-socks5-transport.js';
import type { UdpTransport, UdpTransportHandlers, UdpTransportOpener } from './udp-transport.js';
import type { ResumableChannels } from './grace.js';
import { graceOffset } from './grace-wire.js';
import { UdpGraceQueue } from './udp-grace-queue.js';

export interface UdpDialingSideOptions {
  /** Close the channel after this long without a datagram either way; default 5 min (Go: 12 h). */
  idleTimeoutMs?: number;
  /** UDP channels one link may hold at once; further Connects get a failed response. Default 256. */
  maxAssociationsPerLink?: number;
  /** Host name resolution (direct transport only); default dns.lookup (first address, any family, like Go). */
  lookup?: UdpLookup;
  /** A socks5 upstream carries the channel's datagrams (UDP ASSOCIATE); an http one is ignored. */
  upstream?: UpstreamProxy;
  /** Bound on opening the upstream association (TCP connect + handshake); default 10 s. */
  upstreamTimeoutMs?: number;
  /** Where the datagrams go; default: a socks5 `upstream`'s UDP ASSOCIATE, else a local socket. */
  transport?: UdpTransportOpener;
  /** Counts the datagrams' bytes (the account of the client's token); UDP is counted, never rate-limited. */
  meter?: TrafficMeter;
}

export const DEFAULT_UDP_IDLE_TIMEOUT_MS = 5 * 60_000;
export const DEFAULT_MAX_UDP_ASSOCIATIONS_PER_LINK = 256;
export const DEFAULT_UPSTREAM_UDP_TIMEOUT_MS = 10_000;
/** Datagrams kept while the transport is still opening (fast-open SOCKS sides send at once). */
const MAX_QUEUED_BEFORE_BIND = 64;

/**
 * The opener `handleConnect` calls for Connect(udp). It counts the UDP channels of each link it
 * served (for the per-link cap); a link's entry goes when its last UDP channel closes, which every
 * channel does when its link closes.
 */
export function udpChannelOpener(options: UdpDialingSideOptions = {}): UdpChannelOpener {
  const cap = options.maxAssociationsPerLink ?? DEFAULT_MAX_UDP_ASSOCIATIONS_PER_LINK;
  const idleMs = options.idleTimeoutMs ?? DEFAULT_UDP_IDLE_TIMEOUT_MS;
  const upstream = options.upstream;
  const openTransport =
    options.transport ??
    (upstream?.kind === 'socks5'
      ? socks5UdpTransport(upstream, options.upstreamTimeoutMs ?? DEFAULT_UPSTREAM_UDP_TIMEOUT_MS)
      : directUdpTransport(options.lookup));
  const openPerLink = new Map<Link, number>();
  const slots: LinkSlots = {
    take: (link) => openPerLink.set(link, (openPerLink.get(link) ?? 0) + 1),
    release: (link) => {
      const count = openPerLink.get(link) ?? 1;
      if (count <= 1) openPerLink.delete(link);
      else openPerLink.set(link, count - 1);
    },
  };
  return (link, channelId, grace) => {
    if (link.isClosed || link.channels.has(channelId)) return;
    const open = openPerLink.get(link) ?? 0;
    if (open >= cap) {
      link.counters.channelsFailed += 1;
      link.send({ type: 'connectResponse', success: false, channelId, error: `too many udp associations (limit ${cap})` });
      return;
    }
    slots.take(link);
    new UdpDialingChannel(link, channelId, idleMs, slots, options.meter, grace).start(openTransport);
  };
}

/** A channel's place under the per-link cap; it moves with the channel when a Resume re-binds it. */
interface LinkSlots {
  take(link: Link): void;
  release(link: Link): void;
}

/** A reply from a target kept while the link is down. */
interface HeldReply {
  data: Buffer;
  host: string;
  port: number;
}

/** Serves one Connect(udp): opens a transport, answers with a ConnectResponse, relays datagrams. */
class UdpDialingChannel implements ChannelEndpoint, UdpTransportHandlers, MeteredChannel {
  private transport: UdpTransport | null = null;
  private readonly queued: DataMessage[] = [];
  private lastTraffic = Date.now();
  private readonly idleTimer = new IdleTimer();
  private closed = false;
  /** Grace applies: the link's peer announced it when the channel was opened. */
  private readonly resumable: boolean;
  /** The link is lost (suspended) or the re-bound channel waits for the peer's count: replies queue. */
  private holding = false;
  private suspended = false;
  private awaitingOffset = false;
  private graceTimer: NodeJS.Timeout | undefined;
  private held: UdpGraceQueue<HeldReply> | undefined;

  constructor(
    private link: Link,
    readonly channelId: string,
    idleMs: number,
    /** The channel's place under the per-link cap, given back once when it ends. */
    private readonly slots: LinkSlots,
    private readonly meter: TrafficMeter | undefined,
    private readonly grace: { ms: number; registry: ResumableChannels } | undefined,
  ) {
    this.resumable = grace !== undefined && grace.ms > 0 && link.peerResumes;
    // Registered before the transport opens so datagrams right behind the Connect are kept (bounded).
    link.attach(channelId, this);
    if (this.resumable) grace!.registry.opened(this);
    meter?.channelOpened(this);
    this.idleTimer.start(idleMs, () => this.lastTraffic, () => this.onIdle());
  }

  start(openTransport: UdpTransportOpener): void {
    openTransport(this).then(
      (transport) => this.opened(transport),
      (err: unknown) => this.openFailed(err instanceof Error ? err.message : String(err)),
    );
  }

  lastActivity(): number {
    return this.lastTraffic;
  }

  onIdle(): void {
    this.close('idle timeout');
  }

  onLinkClosed(): void {
    // Only a channel whose transport is open waits; one still opening fails as without grace.
    if (this.resumable && this.link.lostAbruptly && this.transport !== null) {
      this.suspended = true;
      this.holding = true;
      this.startGraceTimer();
      return;
    }
    this.close(null);
  }

  // ---- transport grace --------------------------------------------------------------------

  get isSuspended(): boolean {
    return this.suspended;
  }

  private startGraceTimer(): void {
    this.graceTimer ??= setTimeout(() => {
      this.graceTimer = undefined;
      this.close('transport link not restored');
    }, this.grace!.ms);
  }

  /**
   * A Resume for this channel arrived on `link`: move there (the old link may not look dead yet:
   * leave it), send our count, hold replies until the peer's count arrives.
   */
  rebind(link: Link): boolean {
    if (this.closed || !this.resumable || this.transport === null) return false;
    this.startGraceTimer();
    this.holding = true;
    this.awaitingOffset = true;
    if (link !== this.link) {
      if (!this.suspended) this.link.detach(this.channelId, this);
      this.slots.release(this.link);
      this.slots.take(link);
      this.link = link;
      link.attach(this.channelId, this);
    }
    this.suspended = false;
    link.send(graceOffset(this.channelId, 0));
    return true;
  }

  /** The peer's count after a resume: the path is whole again, the held replies go. */
  onPeerOffset(): void {
    if (this.closed || !this.resumable || this.suspended) return;
    // The peer resumed without this side losing its link (a relay re-bound the other leg): answer.
    if (!this.awaitingOffset) this.link.send(graceOffset(this.channelId, 0));
    this.awaitingOffset = false;
    this.holding = false;
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    const held = this.held;
    if (held === undefined) return;
    if (held.dropped > 0) {
      this.link.logger.debug({ link: this.link.id, channel: this.channelId, dropped: held.dropped }, 'UDP replies dropped while the link was down');
    }
    for (const reply of held.take()) {
      this.onDatagram(reply.data, reply.host, reply.port);
      if (this.closed) return;
    }
  }

  /** MeteredChannel: ends the channel and tells the SOCKS side why. */
  close(reason: string | null): void {
    this.end(reason);
  }

  onChannelMessage(msg: ChannelMessage): void {
    if (this.closed) return;
    if (msg.type === 'disconnect') {
      this.close(null);
      return;
    }
    if (msg.type !== 'data') return; // a ConnectResponse is not meant for this side
    if (msg.protocol !== 'udp') {
      this.onDrop();
      return;
    }
    this.lastTraffic = Date.now();
    this.link.counters.udpDatagramsFromLink += 1;
    if (this.meter !== undefined) {
      this.meter.countUpload(msg.data.length);
      if (this.closed) return;
    }
    if (this.transport === null) {
      if (this.queued.length >= MAX_QUEUED_BEFORE_BIND) this.onDrop();
      else this.queued.push(msg);
      return;
    }
    this.forward(msg);
  }

  /** A datagram for the SOCKS side; `host:port` is its source (as the proxy reports it, with an upstream). */
  onDatagram(data: Buffer, host: string, port: number): void {
    if (this.closed) return;
    this.lastTraffic = Date.now();
    if (this.holding) {
      this.held ??= new UdpGraceQueue();
      this.held.push({ data, host, port }, data.length, this.link.counters);
      return;
    }
    if (this.link.congested) {
      this.onDrop(); // no flow control for UDP: shed load instead of queueing without bound
      return;
    }
    if (this.meter !== undefined) {
      this.meter.countDownload(data.length);
      if (this.closed) return;
    }
    this.link.counters.udpDatagramsToLink += 1;
    this.link.send({
      type: 'data',
      protocol: 'udp',
      channelId: this.channelId,
      compression: 0,
      data,
      address: unmapIPv4(host),
      port,
      targetAddr: '',
      targetPort: 0,
    });
  }

  onDrop(): void {
    this.link.counters.udpDatagramsDropped += 1;
  }

  onFailure(reason: string): void {
    this.close(reason);
  }

  private opened(transport: UdpTransport): void {
    if (this.closed) {
      transport.close();
      return;
    }
    this.transport = transport;
    // A relay's local socket is a UDP socket of this side like the direct one.
    this.link.counters.udpSocketsOpen += 1;
    this.link.counters.channelsOpened += 1;
    this.link.send({ type: 'connectResponse', success: true, channelId: this.channelId, error: '' });
    for (const msg of this.queued.splice(0)) this.forward(msg);
  }

  private openFailed(text: string): void {
    if (this.closed) return;
    this.link.counters.channelsFailed += 1;
    this.close(null);
    if (!this.link.isClosed) this.link.send({ type: 'connectResponse', success: false, channelId: this.channelId, error: text });
  }

  /** Sends one datagram to its target; anything unusable is dropped, as UDP may. */
  private forward(msg: DataMessage): void {
    const port = msg.targetPort;
    if (!Number.isInteger(port) || port < 1 || port > 65535 || msg.targetAddr === '') {
      this.onDrop();
      return;
    }
    this.transport?.send(msg.targetAddr, port, msg.data);
  }

  /** `disconnectText`: null = end silently; else tell the SOCKS side why we gave up. */
  private end(disconnectText: string | null): void {
    if (this.closed) return;
    this.closed = true;
    this.meter?.channelClosed(this);
    this.idleTimer.stop();
    this.queued.length = 0;
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    this.held?.clear(this.link.counters);
    if (this.resumable) this.grace!.registry.ended(this);
    this.slots.release(this.link);
    this.link.detach(this.channelId, this);
    const transport = this.transport;
    if (transport === null) return;
    this.transport = null;
    transport.close();
    this.link.counters.udpSocketsOpen -= 1;
    if (disconnectText !== null && !this.link.isClosed) {
      this.link.send({ type: 'disconnect', channelId: this.channelId, error: disconnectText });
    }
  }
}

/** `::ffff:a.b.c.d` → `a.b.c.d`, as Go prints IPv4 sources of its dual-stack socket. */
export function unmapIPv4(address: string): string {
  const lower = address.toLowerCase();
  if (lower.startsWith('::ffff:')) {
    const tail = address.slice(7);
    if (net.isIPv4(tail)) return tail;
  }
  return address;
}
