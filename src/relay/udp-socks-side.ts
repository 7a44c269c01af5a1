/**
 * The SOCKS side of a UDP channel (../shared/spec/MODES.md §2.3, §7.5; SESSION.md §10.2): a
 * SOCKS5 UDP ASSOCIATE becomes Connect(udp, ch); each client datagram becomes
 * Data(udp, ch, "", 0, target, targetPort) and each Data(udp) from the dialing side is sent back to
 * the client with its Address/Port in the SOCKS header.
 *
 * Answering the SOCKS client, as Go does:
 * * normal mode: wait for the ConnectResponse (connectTimeoutMs, Go 15 s); success → the success
 *   reply (the association is bound by the SOCKS server); failure or timeout → **no reply**, the
 *   control connection is closed;
 * * fast open: reply at once; a later failure or a missing success within connectTimeoutMs tears
 *   the association down.
 *
 * The association ends when the control connection closes (or the SOCKS server idles it out):
 * then one Disconnect(ch, "") is sent. A Disconnect from the dialing side or the end of the link
 * closes the association (and so its control connection) without a Disconnect back.
 *
 * UDP has no flow control: when the link is congested, client datagrams are dropped and counted
 * (`udpDatagramsDropped`), never queued.
 *
 * Transport grace (peer announced it, see grace-wire.ts): when the link is lost abruptly, an open
 * association stays up (relay socket and control connection) for the grace period. Client datagrams
 * arriving meanwhile wait in a bounded queue (udp-grace-queue.ts); once a link to the same peer is
 * back, a Connect(udp) with Resume re-opens the channel, both sides exchange a byte-count
 * LogMessage as TCP channels do (UDP ignores the count: it only says "the path is whole again"),
 * and the queue is sent. Past the grace the control connection is reset and the sockets closed.
 */
import { randomUUID } from 'node:crypto';
import { Reply } from '../socks5/types.js';
import type { SocksUdpRequest, UdpAssociation, UdpDatagram } from '../socks5/types.js';
import type { ChannelEndpoint, ChannelMessage, Link } from './link.js';
import type { MeteredChannel, TrafficMeter } from './meter.js';
import type { SuspendedOwners } from './grace.js';
import { graceOffset } from './grace-wire.js';
import { UdpGraceQueue } from './udp-grace-queue.js';

export interface UdpSocksSideOptions {
  /** Reply success before the dialing side confirms (Go `-f`). */
  fastOpen: boolean;
  /** How long to wait for the ConnectResponse; Go waits 15 s. */
  connectTimeoutMs: number;
  /** Counts the datagrams' bytes (the account of the port's token); UDP is counted, never rate-limited. */
  meter?: TrafficMeter;
  /** Transport grace: the association is kept across a lost link and re-opened with Resume on a new one. */
  grace?: { ms: number; registry: SuspendedOwners };
}

/** Opens a UDP channel over `link` for a SOCKS5 UDP ASSOCIATE and answers the SOCKS client. */
export function openUdpSocksSide(link: Link, req: SocksUdpRequest, options: UdpSocksSideOptions): void {
  if (link.isClosed) {
    // Go: a Connect that cannot be written is answered with 0x04.
    req.reject(Reply.HostUnreachable);
    return;
  }
  new UdpSocksChannel(link, req, options).start();
}

type State = 'connecting' | 'accepting' | 'open' | 'closed';

class UdpSocksChannel implements ChannelEndpoint, MeteredChannel {
  readonly channelId = randomUUID();
  private state: State = 'connecting';
  /** The dialing side answered with success. */
  private confirmed = false;
  private association: UdpAssociation | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastTraffic = Date.now();
  private readonly onControlClosed = (): void => this.finish(true);
  /** Grace applies: the link's peer announced it when the association was opened. */
  private readonly resumable: boolean;
  /** The link is lost (suspended) or the re-opened channel waits for the peer's count: datagrams queue. */
  private holding = false;
  private suspended = false;
  private awaitingOffset = false;
  private graceTimer: NodeJS.Timeout | undefined;
  private queue: UdpGraceQueue<UdpDatagram> | undefined;

  constructor(
    private link: Link,
    private readonly req: SocksUdpRequest,
    private readonly options: UdpSocksSideOptions,
  ) {
    this.resumable = options.grace !== undefined && options.grace.ms > 0 && link.peerResumes;
  }

  start(): void {
    this.link.attach(this.channelId, this);
    this.options.meter?.channelOpened(this);
    // PROTOCOL.md §3.3: a UDP Connect carries no address part.
    this.link.send({ type: 'connect', protocol: 'udp', channelId: this.channelId, address: '', port: 0 });
    this.timer = setTimeout(() => this.onConnectTimeout(), this.options.connectTimeoutMs);
    this.req.socket.once('close', this.onControlClosed);
    if (this.options.fastOpen) this.accept();
  }

  lastActivity(): number {
    return this.lastTraffic;
  }

  onIdle(): void {
    this.finish(true);
  }

  onLinkClosed(): void {
    // Only a confirmed, open association waits; one still connecting fails as without grace.
    if (this.resumable && this.link.lostAbruptly && this.state === 'open' && this.confirmed) {
      this.suspend();
      return;
    }
    this.finish(false);
  }

  /**
   * Ends the association from outside: its meter's quota ran out, or the owner shuts down while it
   * waits for a link (then, as on expiry: the reason where a link can carry it, control connection reset).
   */
  close(reason = ''): void {
    if (this.holding) this.expire(reason);
    else this.finish(true);
  }

  // ---- transport grace --------------------------------------------------------------------

  /** The link the association is (or was last) bound to. */
  get currentLink(): Link {
    return this.link;
  }

  private suspend(): void {
    this.suspended = true;
    this.holding = true;
    this.graceTimer ??= setTimeout(() => this.expire('transport link not restored'), this.options.grace!.ms);
    this.options.grace!.registry.suspended(this);
  }

  /** Re-opens the channel on `link`: Connect(udp) with Resume, then our count; datagrams wait for the peer's. */
  resumeOn(link: Link): void {
    if (this.state === 'closed' || !this.suspended) return;
    this.suspended = false;
    this.link = link;
    link.attach(this.channelId, this);
    link.send({ type: 'connect', protocol: 'udp', channelId: this.channelId, address: '', port: 0, resume: true });
    this.awaitingOffset = true;
    link.send(graceOffset(this.channelId, 0));
  }

  /** The peer's count after a resume: the path is whole again, the queued datagrams go. */
  onPeerOffset(): void {
    if (this.state === 'closed' || !this.resumable || this.suspended) return;
    // The peer resumed without this side losing its link (a relay re-bound the other leg): answer.
    if (!this.awaitingOffset) this.link.send(graceOffset(this.channelId, 0));
    this.awaitingOffset = false;
    this.holding = false;
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    const queue = this.queue;
    if (queue === undefined) return;
    if (queue.dropped > 0) {
      this.link.logger.debug({ link: this.link.id, channel: this.channelId, dropped: queue.dropped }, 'UDP datagrams dropped while the link was down');
    }
    for (const d of queue.take()) {
      this.onClientDatagram(d);
      if (this.state !== 'open') return;
    }
  }

  /** Grace ran out (or the owner shuts down): upstream's text where a link can carry it, control connection reset. */
  private expire(reason: string): void {
    if (this.graceTimer) clearTimeout(this.graceTimer); // called early on shutdown
    this.graceTimer = undefined;
    if (this.state === 'closed') return;
    if (!this.req.socket.destroyed) this.req.socket.resetAndDestroy();
    if (!this.link.isClosed) this.link.send({ type: 'disconnect', channelId: this.channelId, error: reason });
    this.finish(false);
  }

  private hold(d: UdpDatagram): void {
    this.queue ??= new UdpGraceQueue();
    this.queue.push(d, d.data.length, this.link.counters);
  }

  onChannelMessage(msg: ChannelMessage): void {
    if (this.state === 'closed') return;
    switch (msg.type) {
      case 'connectResponse':
        this.onConnectResponse(msg.success);
        return;
      case 'disconnect':
        // A refused resume (the peer no longer holds the channel): broken, not ended, so a reset.
        if (this.awaitingOffset && !this.req.socket.destroyed) this.req.socket.resetAndDestroy();
        this.finish(false);
        return;
      case 'data':
        if (msg.protocol !== 'udp' || this.association === null) {
          this.link.counters.udpDatagramsDropped += 1;
          return;
        }
        this.lastTraffic = Date.now();
        this.link.counters.udpDatagramsFromLink += 1;
        if (this.options.meter !== undefined) {
          this.options.meter.countDownload(msg.data.length);
          if ((this.state as State) === 'closed') return; // its meter closed it
        }
        this.association.send(msg.address, msg.port, msg.data);
        return;
    }
  }

  private onConnectResponse(success: boolean): void {
    if (this.confirmed) return; // duplicates change nothing
    if (!success) {
      // Normal mode: no SOCKS reply at all (Go). Fast open: the association is torn down.
      this.link.counters.channelsFailed += 1;
      this.finish(this.options.fastOpen);
      return;
    }
    this.confirmed = true;
    this.clearTimer();
    if (this.state === 'connecting') this.accept();
  }

  private onConnectTimeout(): void {
    this.timer = null;
    if (this.confirmed || this.state === 'closed') return;
    this.link.counters.channelsFailed += 1;
    // The dialing side may still bind a socket later: ask it to drop the channel.
    this.finish(true);
  }

  private accept(): void {
    this.state = 'accepting';
    this.req.accept().then(
      (association) => this.opened(association),
      // The SOCKS server has answered the client with a failure already.
      () => this.finish(true),
    );
  }

  private opened(association: UdpAssociation): void {
    if (this.state === 'closed') {
      association.close();
      return;
    }
    this.state = 'open';
    this.association = association;
    this.link.counters.udpAssociationsOpen += 1;
    this.link.counters.channelsOpened += 1;
    association.on('datagram', (d) => this.onClientDatagram(d));
    association.on('close', () => this.finish(true));
  }

  private onClientDatagram(d: UdpDatagram): void {
    if (this.state !== 'open') return;
    this.lastTraffic = Date.now();
    if (this.holding) {
      this.hold(d);
      return;
    }
    if (this.link.congested) {
      this.link.counters.udpDatagramsDropped += 1;
      return;
    }
    if (this.options.meter !== undefined) {
      this.options.meter.countUpload(d.data.length);
      if (this.state !== 'open') return;
    }
    this.link.counters.udpDatagramsToLink += 1;
    this.link.send({
      type: 'data',
      protocol: 'udp',
      channelId: this.channelId,
      compression: 0,
      data: d.data,
      address: '',
      port: 0,
      targetAddr: d.host,
      targetPort: d.port,
    });
  }

  private clearTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  /** Ends everything once. `tellPeer`: send Disconnect(ch, "") if the link is still up. */
  private finish(tellPeer: boolean): void {
    if (this.state === 'closed') return;
    const wasOpen = this.state === 'open';
    this.state = 'closed';
    this.options.meter?.channelClosed(this);
    this.clearTimer();
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    this.queue?.clear(this.link.counters);
    if (this.resumable) this.options.grace!.registry.ended(this);
    this.req.socket.off('close', this.onControlClosed);
    this.link.detach(this.channelId, this);
    if (wasOpen && this.association !== null) {
      this.link.counters.udpAssociationsOpen -= 1;
      // Closes the relay socket and the control connection; its 'close' event finds us closed.
      this.association.close();
    } else {
      // No SOCKS reply was sent (or accept is still binding): just drop the control connection.
      this.req.socket.destroy();
    }
    if (tellPeer && !this.link.isClosed) {
      this.link.send({ type: 'disconnect', channelId: this.channelId, error: '' });
    }
  }
}
