import type { Socket } from 'node:net';
import type { ChannelEndpoint, ChannelMessage, DrainWaiter, Link } from './link.js';
import { IdleTimer } from './idle-timer.js';
import type { ChannelObserver, ChannelSource } from './observer.js';

export interface TcpChannelOptions {
  /** Largest Data payload sent; larger socket reads are split. */
  maxPayload: number;
  /**
   * Bytes a local socket may hold unsent before the link stops reading (the per-channel bound of
   * the inbound direction). Default 1 MiB.
   */
  socketHighWater?: number;
  /**
   * After one direction has ended (a Disconnect "EOF" either way), how long the other direction
   * may stay silent before the channel is closed. Go closes both directions at once; we keep the
   * other direction open so a response after a half-close is not lost, but bounded because a Go
   * dialing side never answers our Disconnect. Default 10 s.
   */
  halfCloseLingerMs?: number;
  /** Fast open: the dialing side has not confirmed yet; a failure tears down, silence after this times out. */
  confirmTimeoutMs?: number;
  /** `host:port` asked for, for logs and events. */
  target?: string;
  /** SOCKS side: the local client, for events. */
  source?: ChannelSource;
  observer?: ChannelObserver;
}

const DEFAULT_SOCKET_HIGH_WATER = 1024 * 1024;
const DEFAULT_LINGER_MS = 10_000;

/**
 * Pipes one local TCP socket and one channel of a link, both ways.
 *
 * Disconnect "EOF" is read as a half-close (the sender's local side finished sending); any other
 * text aborts. Each side sends at most one Disconnect. Requires a socket with allowHalfOpen.
 */
export class TcpChannel implements ChannelEndpoint, DrainWaiter {
  readonly channelId: string;
  private readonly link: Link;
  private readonly socket: Socket;
  private readonly options: TcpChannelOptions;
  private readonly socketHighWater: number;
  private readonly startedAt = Date.now();
  private lastTraffic = Date.now();
  private bytesToLink = 0;
  private bytesFromLink = 0;
  private localEnded = false;
  private remoteEnded = false;
  private disconnectSent = false;
  private finished = false;
  private blockingLink = false;
  /** The fast-open confirmation deadline. */
  private timer: NodeJS.Timeout | undefined;
  /** After a half-close: how long the other direction may stay silent. */
  private readonly linger = new IdleTimer();
  private closeError = '';

  constructor(link: Link, channelId: string, socket: Socket, options: TcpChannelOptions) {
    this.link = link;
    this.channelId = channelId;
    this.socket = socket;
    this.options = options;
    this.socketHighWater = options.socketHighWater ?? DEFAULT_SOCKET_HIGH_WATER;
    link.attach(channelId, this);
    link.counters.channelsOpened += 1;
    options.observer?.opened?.({ channelId, target: options.target ?? '', linkId: link.id, source: options.source });
    if (options.confirmTimeoutMs !== undefined) {
      this.timer = setTimeout(() => this.abort('connect response timeout', true), options.confirmTimeoutMs);
    }
  }

  /**
   * Starts relaying. `toLocal`: channel data that arrived before the socket was ready (fast-open
   * buffers); `toLink`: local bytes read before the channel existed (pipelined after a SOCKS request).
   */
  start(initial: { toLocal?: Buffer[]; toLink?: Buffer } = {}): void {
    const socket = this.socket;
    for (const chunk of initial.toLocal ?? []) this.writeLocal(chunk);
    if (initial.toLink && initial.toLink.length > 0) this.onLocalData(initial.toLink);
    socket.on('data', (chunk: Buffer) => this.onLocalData(chunk));
    socket.on('end', () => this.onLocalEnd());
    socket.on('error', (err: Error) => this.abort(err.message, true));
    socket.on('close', () => this.abort('', true));
    socket.resume();
  }

  lastActivity(): number {
    return this.lastTraffic;
  }

  onIdle(): void {
    this.abort('idle timeout', true);
  }

  onLinkClosed(): void {
    // The link is gone: nothing can be sent on it; release the socket at once.
    this.disconnectSent = true;
    this.abort('link closed', false);
  }

  onLinkDrained(): void {
    if (!this.finished && !this.localEnded) this.socket.resume();
  }

  onChannelMessage(msg: ChannelMessage): void {
    if (this.finished) return;
    switch (msg.type) {
      case 'data':
        if (this.remoteEnded) return;
        this.writeLocal(msg.data);
        return;
      case 'connectResponse':
        if (msg.success) {
          this.clearTimer();
          if (this.localEnded) this.armLinger();
        } else {
          this.abort(msg.error || 'connect failed', true);
        }
        return;
      case 'disconnect':
        this.onRemoteDisconnect(msg.error);
        return;
    }
  }

  private writeLocal(data: Buffer): void {
    this.lastTraffic = Date.now();
    this.bytesFromLink += data.length;
    this.link.counters.bytesFromLink += data.length;
    this.socket.write(data);
    if (!this.blockingLink && this.socket.writableLength > this.socketHighWater) {
      // The local reader is slower than the link: stop reading the link until it catches up.
      this.blockingLink = true;
      this.link.counters.inboundPauses += 1;
      this.link.pauseInbound(this);
      this.socket.once('drain', () => this.unblockLink());
    }
  }

  private unblockLink(): void {
    if (!this.blockingLink) return;
    this.blockingLink = false;
    this.link.resumeInbound(this);
  }

  private onLocalData(chunk: Buffer): void {
    this.lastTraffic = Date.now();
    const max = this.options.maxPayload;
    let ok = true;
    for (let offset = 0; offset < chunk.length; offset += max) {
      const payload = offset === 0 && chunk.length <= max ? chunk : chunk.subarray(offset, offset + max);
      ok = this.link.sendTcpData(this.channelId, payload);
    }
    this.bytesToLink += chunk.length;
    this.link.counters.bytesToLink += chunk.length;
    if (!ok) {
      this.link.counters.producerPauses += 1;
      this.socket.pause();
      this.link.waitForDrain(this);
    }
  }

  private onLocalEnd(): void {
    if (this.finished || this.localEnded) return;
    this.localEnded = true;
    this.sendDisconnect('EOF');
    if (this.remoteEnded) {
      this.finish('', false);
    } else {
      this.armLinger();
    }
  }

  private onRemoteDisconnect(error: string): void {
    this.remoteEnded = true;
    this.unblockLink();
    if (error !== 'EOF') {
      // An abort: flush what we have, then close; no answer (the peer is done with the channel).
      this.disconnectSent = true;
      this.closeError = error;
      this.finish(error, false);
      return;
    }
    if (this.localEnded) {
      this.finish('', false);
      return;
    }
    // Half-close: pass the end of stream on at once, keep the other direction for a while.
    this.socket.end();
    this.armLinger();
  }

  private armLinger(): void {
    this.clearTimer();
    this.linger.start(
      this.options.halfCloseLingerMs ?? DEFAULT_LINGER_MS,
      () => this.lastTraffic,
      () => this.abort('', true),
    );
  }

  private sendDisconnect(error: string): void {
    if (this.disconnectSent || this.link.isClosed) return;
    this.disconnectSent = true;
    this.link.send({ type: 'disconnect', channelId: this.channelId, error });
  }

  /** Ends the channel abruptly; tells the peer when `notify` and no Disconnect went out yet. */
  private abort(error: string, notify: boolean): void {
    if (this.finished) return;
    if (notify) this.sendDisconnect(error === 'link closed' ? '' : error);
    this.closeError = this.closeError || error;
    this.finish(error, true);
  }

  /**
   * Unregisters the channel. A graceful finish lets the socket flush what it holds (then FIN);
   * an abrupt one destroys it.
   */
  private finish(error: string, destroy: boolean): void {
    if (this.finished) return;
    this.finished = true;
    this.clearTimer();
    this.link.cancelDrainWait(this);
    this.unblockLink();
    this.link.detach(this.channelId, this);
    const socket = this.socket;
    if (destroy || socket.destroyed) {
      socket.destroy();
    } else {
      // Flush, FIN, and do not read any more; a reader that never drains is cut by the linger bound.
      socket.pause();
      socket.end();
      const linger = this.options.halfCloseLingerMs ?? DEFAULT_LINGER_MS;
      const guard = setTimeout(() => socket.destroy(), linger);
      socket.once('close', () => clearTimeout(guard));
      if (socket.writableFinished) socket.destroy();
      else socket.once('finish', () => socket.destroy());
    }
    this.options.observer?.closed?.({
      channelId: this.channelId,
      target: this.options.target ?? '',
      linkId: this.link.id,
      source: this.options.source,
      bytesToLink: this.bytesToLink,
      bytesFromLink: this.bytesFromLink,
      durationMs: Date.now() - this.startedAt,
      error: this.closeError || error,
    });
  }

  private clearTimer(): void {
    this.linger.stop();
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }
}
