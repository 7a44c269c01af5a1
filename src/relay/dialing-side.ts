import type { Socket } from 'node:net';
import type { ConnectMessage } from '../protocol/index.js';
import type { ChannelEndpoint, ChannelMessage, Link } from './link.js';
import { TcpChannel } from './tcp-channel.js';
import type { ResumableChannels } from './grace.js';
import type { ChannelObserver } from './observer.js';
import type { TrafficMeter } from './meter.js';
import { joinHostPort } from './dial.js';
import { answerResume } from './resume.js';
import type { ResumeChannel } from './resume.js';
import { checkDestinationWithin, type DestinationCheck, type HostLookup } from '../access/guard.js';

/** Opens the outbound TCP connection for a channel (directly or through an upstream proxy). */
export type TcpDialer = (host: string, port: number) => Promise<Socket>;

/** Serves UDP Connects; provided by the UDP module when UDP is enabled. `grace`: as for TCP channels. */
export type UdpChannelOpener = (link: Link, channelId: string, grace?: DialingSideOptions['grace']) => void;

export interface DialingSideOptions {
  dialTcp: TcpDialer;
  openUdp?: UdpChannelOpener;
  maxPayload: number;
  halfCloseLingerMs?: number;
  /** Data that may arrive for a channel while its dial is in progress (fast open); then the link pauses. */
  pendingDataLimit?: number;
  observer?: ChannelObserver;
  /** Re-binds a channel named by a Resume (see resume.ts); without it every Resume is refused. */
  resumeChannel?: ResumeChannel;
  /**
   * Access checks run before every TCP dial, read at each Connect (rules may change at run time).
   * A refused destination is never dialled: the ConnectResponse carries the check's text. With
   * checks, a domain is resolved here and the checked address is what `dialTcp` gets (also when
   * it goes through an upstream proxy, which then never sees the name).
   */
  access?: () => readonly DestinationCheck[];
  /** Name resolution for the checks; default the system resolver. */
  lookup?: HostLookup;
  /** Bound on the checks' name resolution; default 10 s. */
  checkTimeoutMs?: number;
  /** Transport grace: channels kept across a lost link (resumeChannel finds them in the registry). */
  grace?: { ms: number; registry: ResumableChannels };
  /** Counts and rate-limits the TCP channels (the account of the client's token). */
  meter?: TrafficMeter;
}

const DEFAULT_PENDING_LIMIT = 1024 * 1024;

/**
 * The dialing side of a channel (SESSION.md §10.2): on Connect, dial the target, answer with a
 * ConnectResponse, then relay. The channel is registered synchronously so Data sent right behind
 * the Connect (fast open) is kept, never dropped.
 */
export function handleConnect(link: Link, msg: ConnectMessage, options: DialingSideOptions): void {
  const { channelId } = msg;
  if (msg.resume) {
    answerResume(link, msg, options.resumeChannel);
    return;
  }
  if (link.channels.has(channelId)) return; // a duplicate Connect: the first one stands
  if (msg.protocol === 'udp') {
    // Datagram targets are not checked one by one: where rules are active, UDP is refused
    // (for token rules upstream does the same; its dial rules let UDP through unchecked).
    const active = (options.access?.() ?? []).find((check) => !check.policy.isOpen);
    if (active) {
      link.send({ type: 'connectResponse', success: false, channelId, error: active.refusal(msg.address, msg.port) });
    } else if (options.openUdp) {
      options.openUdp(link, channelId, options.grace);
    } else {
      link.send({ type: 'connectResponse', success: false, channelId, error: 'udp is not supported' });
    }
    return;
  }
  if (msg.protocol !== 'tcp') {
    // Go ignores it without a reply; a failed response lets the SOCKS side answer at once.
    link.send({ type: 'connectResponse', success: false, channelId, error: 'unsupported protocol' });
    return;
  }
  if (!Number.isInteger(msg.port) || msg.port <= 0 || msg.port > 65535) {
    // Go returns without any reply here, leaving the SOCKS side to time out after 15 s.
    link.send({ type: 'connectResponse', success: false, channelId, error: 'invalid port number' });
    return;
  }
  new PendingDial(link, msg, options).start();
}

class PendingDial implements ChannelEndpoint {
  private readonly pending: Buffer[] = [];
  private pendingBytes = 0;
  private blocking = false;
  private cancelled = false;
  private readonly startedAt = Date.now();
  /** The SOCKS side finished sending before the dial completed: pass its end on after the data. */
  private remoteEof = false;

  constructor(
    private readonly link: Link,
    private readonly msg: ConnectMessage,
    private readonly options: DialingSideOptions,
  ) {
    link.attach(msg.channelId, this);
  }

  start(): void {
    const { address, port } = this.msg;
    // Open checks (no rules) cost nothing: the dial then goes exactly as without access control.
    const checks = (this.options.access?.() ?? []).filter((check) => !check.policy.isOpen);
    if (checks.length === 0) {
      this.dial(address, port);
      return;
    }
    checkDestinationWithin(address, port, checks, this.options.checkTimeoutMs ?? 10_000, this.options.lookup).then(
      (result) => {
        if (this.cancelled) return;
        if (result.allowed) this.dial(result.host, port);
        else this.failed(result.error, true);
      },
      (err: unknown) => this.failed(err instanceof Error ? err.message : String(err)),
    );
  }

  private dial(host: string, port: number): void {
    this.options.dialTcp(host, port).then(
      (socket) => this.connected(socket),
      (err: unknown) => this.failed(err instanceof Error ? err.message : String(err)),
    );
  }

  lastActivity(): number {
    return Date.now();
  }

  onIdle(): void {}

  onLinkClosed(): void {
    this.cancel();
  }

  onChannelMessage(msg: ChannelMessage): void {
    if (msg.type === 'data') {
      this.pending.push(msg.data);
      this.pendingBytes += msg.data.length;
      const limit = this.options.pendingDataLimit ?? DEFAULT_PENDING_LIMIT;
      if (!this.blocking && this.pendingBytes > limit) {
        this.blocking = true;
        this.link.pauseInbound(this);
      }
    } else if (msg.type === 'disconnect') {
      if (msg.error === 'EOF') this.remoteEof = true;
      // Any other Disconnect means the SOCKS side gave up and expects nothing more.
      else this.cancel();
    }
  }

  private unregister(): void {
    if (this.blocking) {
      this.blocking = false;
      this.link.resumeInbound(this);
    }
    this.link.detach(this.msg.channelId, this);
  }

  private cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.unregister();
  }

  private report(ok: boolean, error: string, refused = false): void {
    this.options.observer?.connected?.({
      channelId: this.msg.channelId,
      target: joinHostPort(this.msg.address, this.msg.port),
      linkId: this.link.id,
      durationMs: Date.now() - this.startedAt,
      ok,
      error,
      ...(refused && { refused: true }),
    });
  }

  private connected(socket: Socket): void {
    if (this.cancelled || this.link.isClosed) {
      socket.destroy();
      this.cancel();
      return;
    }
    this.unregister();
    this.report(true, '');
    const { channelId } = this.msg;
    this.link.send({ type: 'connectResponse', success: true, channelId, error: '' });
    const channel = new TcpChannel(this.link, channelId, socket, {
      maxPayload: this.options.maxPayload,
      halfCloseLingerMs: this.options.halfCloseLingerMs,
      target: joinHostPort(this.msg.address, this.msg.port),
      observer: this.options.observer,
      grace: this.options.grace,
      metering: this.options.meter ? { meter: this.options.meter, local: 'target' } : undefined,
    });
    channel.start({ toLocal: this.pending });
    if (this.remoteEof) channel.onChannelMessage({ type: 'disconnect', channelId, error: 'EOF' });
  }

  /** `refused`: turned down by the access checks, never dialled. */
  private failed(error: string, refused = false): void {
    if (this.cancelled) return;
    this.cancel();
    this.link.counters.channelsFailed += 1;
    this.report(false, error, refused);
    if (!this.link.isClosed) {
      this.link.send({ type: 'connectResponse', success: false, channelId: this.msg.channelId, error });
    }
  }
}
