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
 */
import { randomUUID } from 'node:crypto';
import { Reply } from '../socks5/types.js';
import type { SocksUdpRequest, UdpAssociation, UdpDatagram } from '../socks5/types.js';
import type { ChannelEndpoint, ChannelMessage, Link } from './link.js';
import type { MeteredChannel, TrafficMeter } from './meter.js';

export interface UdpSocksSideOptions {
  /** Reply success before the dialing side confirms (Go `-f`). */
  fastOpen: boolean;
  /** How long to wait for the ConnectResponse; Go waits 15 s. */
  connectTimeoutMs: number;
  /** Counts the datagrams' bytes (the account of the port's token); UDP is counted, never rate-limited. */
  meter?: TrafficMeter;
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
  private readonly channelId = randomUUID();
  private state: State = 'connecting';
  /** The dialing side answered with success. */
  private confirmed = false;
  private association: UdpAssociation | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastTraffic = Date.now();
  private readonly onControlClosed = (): void => this.finish(true);

  constructor(
    private readonly link: Link,
    private readonly req: SocksUdpRequest,
    private readonly options: UdpSocksSideOptions,
  ) {}

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
    this.finish(false);
  }

  /** Ends the association from outside (its meter's quota ran out). */
  close(): void {
    this.finish(true);
  }

  onChannelMessage(msg: ChannelMessage): void {
    if (this.state === 'closed') return;
    switch (msg.type) {
      case 'connectResponse':
        this.onConnectResponse(msg.success);
        return;
      case 'disconnect':
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
