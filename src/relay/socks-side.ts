import { randomUUID } from 'node:crypto';
import { Reply } from '../socks5/types.js';
import type { SocksConnectRequest } from '../socks5/types.js';
import type { ChannelEndpoint, ChannelMessage, Link } from './link.js';
import { TcpChannel } from './tcp-channel.js';
import type { ChannelObserver, ChannelSource } from './observer.js';
import { joinHostPort } from './dial.js';
import type { SuspendedOwners } from './grace.js';
import type { TrafficMeter } from './meter.js';

export interface SocksSideOptions {
  /** Reply success before the dialing side confirms (Go `-f`). */
  fastOpen: boolean;
  /** How long to wait for the ConnectResponse; Go waits its 10 s dial timeout + 5 s. */
  connectTimeoutMs: number;
  maxPayload: number;
  halfCloseLingerMs?: number;
  observer?: ChannelObserver;
  /** Transport grace: channels kept across a lost link and re-opened with Resume on a new one. */
  grace?: { ms: number; registry: SuspendedOwners };
  /** Counts and rate-limits the channels (the account of the port's token). */
  meter?: TrafficMeter;
}

export const DEFAULT_SOCKS_CONNECT_TIMEOUT_MS = 15_000;

/**
 * Opens a channel for a SOCKS CONNECT over `link` (the SOCKS side of SESSION.md §10.2) and
 * answers the SOCKS client: success once the dialing side confirms, 0x04 on failure or timeout,
 * as Go does (MODES.md §7.4).
 */
export function openSocksChannel(link: Link, req: SocksConnectRequest, options: SocksSideOptions): void {
  const channelId = randomUUID();
  link.send({ type: 'connect', protocol: 'tcp', channelId, address: req.host, port: req.port });
  const channelOptions = {
    maxPayload: options.maxPayload,
    halfCloseLingerMs: options.halfCloseLingerMs,
    target: joinHostPort(req.host, req.port),
    source: options.observer ? socksSource(req) : undefined,
    observer: options.observer,
    grace: options.grace ? { ...options.grace, connect: { address: req.host, port: req.port } } : undefined,
    metering: options.meter ? { meter: options.meter, local: 'client' as const } : undefined,
  };
  if (options.fastOpen) {
    const socket = req.accept();
    const channel = new TcpChannel(link, channelId, socket, {
      ...channelOptions,
      confirmTimeoutMs: options.connectTimeoutMs,
    });
    channel.start({ toLink: req.head });
    return;
  }
  new PendingConnect(link, channelId, req, options, channelOptions);
}

/** A channel whose Connect is in flight; becomes a TcpChannel on success. */
class PendingConnect implements ChannelEndpoint {
  private readonly timer: NodeJS.Timeout;
  private readonly startedAt = Date.now();
  private done = false;
  /** No ConnectResponse within the deadline (the dialing side's fault, for provider health). */
  private timedOut = false;
  private answered = false;
  private readonly onClientGone = (): void => this.fail(Reply.HostUnreachable, true);

  constructor(
    private readonly link: Link,
    private readonly channelId: string,
    private readonly req: SocksConnectRequest,
    private readonly options: SocksSideOptions,
    private readonly channelOptions: ConstructorParameters<typeof TcpChannel>[3],
  ) {
    link.attach(channelId, this);
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.fail(Reply.HostUnreachable, true);
    }, options.connectTimeoutMs);
    req.socket.once('close', this.onClientGone);
  }

  lastActivity(): number {
    return Date.now();
  }

  onIdle(): void {}

  onLinkClosed(): void {
    this.fail(Reply.NetworkUnreachable, false);
  }

  onChannelMessage(msg: ChannelMessage): void {
    if (msg.type === 'connectResponse') {
      this.answered = true;
      if (msg.success) this.succeed();
      else this.fail(Reply.HostUnreachable, false, msg.error);
    } else if (msg.type === 'disconnect') {
      this.fail(Reply.HostUnreachable, false, msg.error);
    }
    // Data before the ConnectResponse cannot happen with a correct peer; it is dropped with the channel.
  }

  private unregister(): void {
    this.done = true;
    clearTimeout(this.timer);
    this.req.socket.off('close', this.onClientGone);
    this.link.detach(this.channelId, this);
  }

  private succeed(): void {
    if (this.done) return;
    this.unregister();
    this.report(true, '', Reply.Succeeded);
    if (this.req.socket.destroyed) {
      this.link.send({ type: 'disconnect', channelId: this.channelId, error: '' });
      return;
    }
    const socket = this.req.accept();
    const channel = new TcpChannel(this.link, this.channelId, socket, this.channelOptions);
    channel.start({ toLink: this.req.head });
  }

  /** `tellPeer`: the dialing side may still connect later, so ask it to drop the channel. */
  private fail(code: (typeof Reply)[keyof typeof Reply], tellPeer: boolean, error = ''): void {
    if (this.done) return;
    this.unregister();
    this.report(false, error || (code === Reply.NetworkUnreachable ? 'link closed' : 'no answer'), code);
    this.link.counters.channelsFailed += 1;
    if (tellPeer && !this.link.isClosed) {
      this.link.send({ type: 'disconnect', channelId: this.channelId, error: '' });
    }
    if (!this.req.socket.destroyed) this.req.reject(code);
  }

  private report(ok: boolean, error: string, reply: number): void {
    this.options.observer?.connected?.({
      channelId: this.channelId,
      target: joinHostPort(this.req.host, this.req.port),
      linkId: this.link.id,
      source: this.channelOptions.source,
      durationMs: Date.now() - this.startedAt,
      ok,
      error,
      reply,
      ...(this.timedOut && { unanswered: true }),
      ...(this.answered && { answered: true }),
    });
  }
}

/** Who asked for a SOCKS-side channel, for events and audit logs. */
function socksSource(req: SocksConnectRequest): ChannelSource {
  const { remoteAddress, remotePort } = req.socket;
  return {
    address: remoteAddress === undefined ? '' : joinHostPort(remoteAddress, remotePort ?? 0),
    ...(req.protocol !== undefined && { protocol: req.protocol }),
    ...(req.user !== undefined && { user: req.user }),
  };
}
