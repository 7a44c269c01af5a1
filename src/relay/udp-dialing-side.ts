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
 * With a SOCKS5 upstream proxy the channel opens a UDP ASSOCIATE on it instead of a local socket
 * (MODES.md §8.4; Go always sends UDP directly): datagrams go to the proxy's relay with the target
 * in the SOCKS header, names included (the proxy resolves them, no local lookup), and replies come
 * back with the source the proxy reports. The association dies with its control connection; the
 * channel then ends with a Disconnect like on a socket error. An HTTP upstream cannot carry UDP, so
 * UDP stays direct with one.
 */
import dgram from 'node:dgram';
import dns from 'node:dns';
import net from 'node:net';
import type { DataMessage } from '../protocol/index.js';
import { socks5UdpAssociate } from '../socks5/client.js';
import type { Socks5UdpRelay } from '../socks5/udp-client.js';
import type { UdpChannelOpener } from './dialing-side.js';
import type { ChannelEndpoint, ChannelMessage, Link } from './link.js';
import type { UpstreamProxy } from './upstream.js';

export interface UdpDialingSideOptions {
  /** Close the channel after this long without a datagram either way; default 5 min (Go: 12 h). */
  idleTimeoutMs?: number;
  /** UDP channels one link may hold at once; further Connects get a failed response. Default 256. */
  maxAssociationsPerLink?: number;
  /** Host name resolution; default dns.lookup (first address, any family, like Go). */
  lookup?: (host: string) => Promise<string>;
  /** A socks5 upstream carries the channel's datagrams (UDP ASSOCIATE); an http one is ignored. */
  upstream?: UpstreamProxy;
  /** Bound on opening the upstream association (TCP connect + handshake); default 10 s. */
  upstreamTimeoutMs?: number;
}

export const DEFAULT_UDP_IDLE_TIMEOUT_MS = 5 * 60_000;
export const DEFAULT_MAX_UDP_ASSOCIATIONS_PER_LINK = 256;
export const DEFAULT_UPSTREAM_UDP_TIMEOUT_MS = 10_000;
/** Datagrams kept while the socket is still binding (fast-open SOCKS sides send at once). */
const MAX_QUEUED_BEFORE_BIND = 64;
/** Distinct names being resolved at once per channel; a flood of fresh names must not fill the thread pool. */
const MAX_PENDING_LOOKUPS = 16;
/**
 * Datagrams waiting for one name's lookup. Datagrams for a name already being resolved join that
 * lookup instead of counting against MAX_PENDING_LOOKUPS: a client sending a burst to one host
 * name (the common case) must not lose everything past the 16th datagram.
 */
const MAX_WAITING_PER_LOOKUP = 64;

/** How many UDP channels each link has open on this side (for the per-link cap). */
const openPerLink = new WeakMap<Link, number>();

/** Curries the options into the opener `handleConnect` expects. */
export function udpChannelOpener(options: UdpDialingSideOptions = {}): UdpChannelOpener {
  return (link, channelId) => openUdpDialingSide(link, channelId, options);
}

/** Serves one Connect(udp): binds a socket, answers with a ConnectResponse, relays datagrams. */
export function openUdpDialingSide(link: Link, channelId: string, options: UdpDialingSideOptions = {}): void {
  if (link.isClosed || link.channels.has(channelId)) return;
  const cap = options.maxAssociationsPerLink ?? DEFAULT_MAX_UDP_ASSOCIATIONS_PER_LINK;
  if ((openPerLink.get(link) ?? 0) >= cap) {
    link.counters.channelsFailed += 1;
    link.send({ type: 'connectResponse', success: false, channelId, error: `too many udp associations (limit ${cap})` });
    return;
  }
  new UdpDialingChannel(link, channelId, options).start();
}

class UdpDialingChannel implements ChannelEndpoint {
  private socket: dgram.Socket | null = null;
  /** Set instead of `socket` when the datagrams go through a SOCKS5 upstream. */
  private relay: Socks5UdpRelay | null = null;
  private family: 4 | 6 = 6;
  private readonly queued: DataMessage[] = [];
  /** Name → datagrams (data, port) waiting for its lookup. */
  private readonly pendingLookups = new Map<string, Array<{ data: Buffer; port: number }>>();
  private lastTraffic = Date.now();
  private readonly idleTimer: NodeJS.Timeout;
  private readonly lookup: (host: string) => Promise<string>;
  private closed = false;

  constructor(
    private readonly link: Link,
    private readonly channelId: string,
    private readonly options: UdpDialingSideOptions,
  ) {
    this.lookup = options.lookup ?? defaultLookup;
    // Registered before binding so datagrams right behind the Connect are kept (bounded).
    link.attach(channelId, this);
    openPerLink.set(link, (openPerLink.get(link) ?? 0) + 1);
    const idleMs = options.idleTimeoutMs ?? DEFAULT_UDP_IDLE_TIMEOUT_MS;
    this.idleTimer = setTimeout(() => this.onIdle(), idleMs);
    this.idleTimer.unref();
  }

  start(): void {
    const upstream = this.options.upstream;
    if (upstream?.kind === 'socks5') {
      socks5UdpAssociate({
        proxyHost: upstream.host,
        proxyPort: upstream.port,
        username: upstream.credentials?.username,
        password: upstream.credentials?.password,
        timeoutMs: this.options.upstreamTimeoutMs ?? DEFAULT_UPSTREAM_UDP_TIMEOUT_MS,
      }).then(
        (relay) => this.associated(relay),
        (err: unknown) => this.openFailed(`socks5 udp associate error: ${err instanceof Error ? err.message : String(err)}`),
      );
      return;
    }
    bindDualStack().then(
      ({ socket, family }) => this.bound(socket, family),
      (err: unknown) => this.bindFailed(err),
    );
  }

  lastActivity(): number {
    return this.lastTraffic;
  }

  onIdle(): void {
    this.close('idle timeout');
  }

  onLinkClosed(): void {
    this.close(null);
  }

  onChannelMessage(msg: ChannelMessage): void {
    if (this.closed) return;
    if (msg.type === 'disconnect') {
      this.close(null);
      return;
    }
    if (msg.type !== 'data') return; // a ConnectResponse is not meant for this side
    if (msg.protocol !== 'udp') {
      this.drop();
      return;
    }
    this.touch();
    this.link.counters.udpDatagramsFromLink += 1;
    if (this.socket === null && this.relay === null) {
      if (this.queued.length >= MAX_QUEUED_BEFORE_BIND) this.drop();
      else this.queued.push(msg);
      return;
    }
    this.forward(msg);
  }

  private bound(socket: dgram.Socket, family: 4 | 6): void {
    if (this.closed) {
      closeQuietly(socket);
      return;
    }
    this.socket = socket;
    this.family = family;
    this.link.counters.udpSocketsOpen += 1;
    this.link.counters.channelsOpened += 1;
    socket.on('message', (data, rinfo) => this.onDatagram(data, rinfo.address, rinfo.port));
    socket.on('error', (err) => this.close(err.message));
    this.opened();
  }

  private associated(relay: Socks5UdpRelay): void {
    if (this.closed) {
      relay.close();
      return;
    }
    this.relay = relay;
    // The relay's local socket is a UDP socket of this side like the direct one.
    this.link.counters.udpSocketsOpen += 1;
    this.link.counters.channelsOpened += 1;
    relay.on('message', (m) => this.onDatagram(m.data, m.host, m.port));
    relay.on('close', () => this.close('socks5 udp association closed by the proxy'));
    this.opened();
  }

  private opened(): void {
    this.link.send({ type: 'connectResponse', success: true, channelId: this.channelId, error: '' });
    for (const msg of this.queued.splice(0)) this.forward(msg);
  }

  private bindFailed(err: unknown): void {
    this.openFailed(`listen udp 0.0.0.0:0: ${err instanceof Error ? err.message : String(err)}`);
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
      this.drop();
      return;
    }
    if (this.relay !== null) {
      // The proxy resolves names; a send error concerns this datagram only.
      const sent = this.relay.send(msg.targetAddr, port, msg.data, (err) => {
        if (err) this.drop();
      });
      if (!sent) this.drop();
      return;
    }
    if (net.isIP(msg.targetAddr) !== 0) {
      this.sendTo(msg.data, msg.targetAddr, port);
      return;
    }
    const name = msg.targetAddr;
    const waiting = this.pendingLookups.get(name);
    if (waiting !== undefined) {
      if (waiting.length >= MAX_WAITING_PER_LOOKUP) this.drop();
      else waiting.push({ data: msg.data, port });
      return;
    }
    if (this.pendingLookups.size >= MAX_PENDING_LOOKUPS) {
      this.drop();
      return;
    }
    const queue = [{ data: msg.data, port }];
    this.pendingLookups.set(name, queue);
    this.lookup(name).then(
      (address) => {
        this.pendingLookups.delete(name);
        for (const d of queue) this.sendTo(d.data, address, d.port);
      },
      () => {
        this.pendingLookups.delete(name);
        for (let i = 0; i < queue.length; i += 1) this.drop(); // Go drops silently on lookup failure
      },
    );
  }

  private sendTo(data: Buffer, address: string, port: number): void {
    const socket = this.socket;
    if (this.closed || socket === null) return;
    let destination = address;
    if (net.isIPv4(address) && this.family === 6) destination = `::ffff:${address}`;
    else if (net.isIPv6(address) && this.family === 4) {
      this.drop(); // an IPv4-only socket cannot reach it
      return;
    }
    // With a callback, send errors (EMSGSIZE, unreachable) concern this datagram only.
    socket.send(data, port, destination, (err) => {
      if (err) this.drop();
    });
  }

  /** A datagram for the SOCKS side; `host:port` is its source (as the proxy reports it, with an upstream). */
  private onDatagram(data: Buffer, host: string, port: number): void {
    if (this.closed) return;
    this.touch();
    if (this.link.congested) {
      this.drop(); // no flow control for UDP: shed load instead of queueing without bound
      return;
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

  private touch(): void {
    this.lastTraffic = Date.now();
    this.idleTimer.refresh();
  }

  private drop(): void {
    this.link.counters.udpDatagramsDropped += 1;
  }

  /** `disconnectText`: null = end silently; else tell the SOCKS side why we gave up. */
  private close(disconnectText: string | null): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.idleTimer);
    this.queued.length = 0;
    this.pendingLookups.clear();
    const count = openPerLink.get(this.link) ?? 1;
    if (count <= 1) openPerLink.delete(this.link);
    else openPerLink.set(this.link, count - 1);
    this.link.detach(this.channelId, this);
    if (this.socket !== null || this.relay !== null) {
      if (this.socket !== null) closeQuietly(this.socket);
      this.relay?.close();
      this.socket = null;
      this.relay = null;
      this.link.counters.udpSocketsOpen -= 1;
      if (disconnectText !== null && !this.link.isClosed) {
        this.link.send({ type: 'disconnect', channelId: this.channelId, error: disconnectText });
      }
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

/** `[::]:0` dual stack first, `0.0.0.0:0` when the host has no IPv6. */
async function bindDualStack(): Promise<{ socket: dgram.Socket; family: 4 | 6 }> {
  try {
    return { socket: await bindUdp(dgram.createSocket({ type: 'udp6', ipv6Only: false }), '::'), family: 6 };
  } catch {
    return { socket: await bindUdp(dgram.createSocket('udp4'), '0.0.0.0'), family: 4 };
  }
}

function bindUdp(socket: dgram.Socket, address: string): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      closeQuietly(socket);
      reject(err);
    };
    socket.once('error', onError);
    socket.bind(0, address, () => {
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

async function defaultLookup(host: string): Promise<string> {
  const { address } = await dns.promises.lookup(host);
  return address;
}

/** close() throws when the socket is already closed; either way it ends up closed. */
function closeQuietly(socket: dgram.Socket): void {
  try {
    socket.close();
  } catch {
    // already closed
  }
}
