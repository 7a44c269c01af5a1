import type { Socket } from 'node:net';
import type { ChannelEndpoint, ChannelMessage, DrainWaiter, Link } from './link.js';
import { IdleTimer } from './idle-timer.js';
import type { ChannelObserver, ChannelSource } from './observer.js';
import { graceAck, graceOffset } from './grace-wire.js';
import type { ChannelMetering, MeteredChannel, TrafficMeter } from './meter.js';
import type { RateLimiter, RateWaiter } from './rate-limiter.js';

/** Where a channel that survives a lost link goes to be resumed (relay/grace.ts). */
export interface GraceRegistry {
  /** A resumable channel was created. */
  opened?(channel: TcpChannel): void;
  /** Its link was lost: the owner side finds it a new link (TcpChannel.resumeOn). */
  suspended(channel: TcpChannel): void;
  /** It ended for good. */
  ended(channel: TcpChannel): void;
}

export interface ChannelGrace {
  /** How long the channel waits for its lost link to be replaced, ms (> 0). */
  ms: number;
  registry: GraceRegistry;
  /** The resume owner (the side of the SOCKS socket): the Connect it re-sends with Resume. */
  connect?: { address: string; port: number };
  /** Bytes kept for replay until the peer acknowledges them; reading the socket pauses beyond. Default 8 MiB. */
  replayWindow?: number;
}

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
  /** Transport grace; only takes effect when the link's peer announced it (Link.peerResumes). */
  grace?: ChannelGrace;
  /** Counts the channel's bytes and limits its rate (an account shared with other channels). */
  metering?: ChannelMetering;
}

const DEFAULT_SOCKET_HIGH_WATER = 1024 * 1024;
const DEFAULT_LINGER_MS = 10_000;
const DEFAULT_REPLAY_WINDOW = 8 * 1024 * 1024;
/** The receiver acknowledges every this many bytes, so the sender can drop them from its replay buffer. */
export const GRACE_ACK_STEP = 256 * 1024;

type PauseReason = 'drain' | 'window' | 'suspended' | 'rate';

/**
 * Pipes one local TCP socket and one channel of a link, both ways.
 *
 * Disconnect "EOF" is read as a half-close (the sender's local side finished sending); any other
 * text aborts. Each side sends at most one Disconnect. Requires a socket with allowHalfOpen.
 */
export class TcpChannel implements ChannelEndpoint, DrainWaiter, MeteredChannel {
  readonly channelId: string;
  private link: Link;
  private readonly socket: Socket;
  private readonly options: TcpChannelOptions;
  private readonly socketHighWater: number;
  private readonly startedAt = Date.now();
  private lastTraffic = Date.now();
  private bytesToLink = 0;
  private bytesFromLink = 0;
  private localEnded = false;
  private remoteEnded = false;
  /** The far side's end of stream was passed on to the local socket: what it read is complete. */
  private eofPassedOn = false;
  private disconnectSent = false;
  private finished = false;
  private blockingLink = false;
  /** The fast-open confirmation deadline. */
  private timer: NodeJS.Timeout | undefined;
  /** After a half-close: how long the other direction may stay silent. */
  private readonly linger = new IdleTimer();
  private closeError = '';
  /** Why reading the local socket is paused; it resumes when none is left. */
  private readonly pauses = new Set<PauseReason>();
  private readonly grace: ChannelGrace | undefined;
  /** Sent bytes are kept until acknowledged: set when grace applies to this channel. */
  private readonly recording: boolean;
  private readonly replay: Buffer[] = [];
  private replayBytes = 0;
  /**
   * Bytes the peer acknowledged as flushed to its socket (acks only). The replay window counts from
   * here, not from the peer's offset: an offset counts bytes received, which may still sit unflushed
   * in the peer's socket buffer, and only flushed bytes may free window space (see ackFlushed).
   */
  private peerAcked = 0;
  /** Flushed bytes (of bytesFromLink) when the last ack went out. */
  private ackedUpTo = 0;
  /** The link is lost and no replacement has confirmed yet (suspended or awaiting the peer's offset). */
  private suspended = false;
  private awaitingOffset = false;
  private graceTimer: NodeJS.Timeout | undefined;
  /** Metering (absent: none of the fields below is used). */
  private readonly meter: TrafficMeter | undefined;
  /** Local socket reads are the user's upload (SOCKS side) or download (dialing side). */
  private readonly readIsUpload: boolean = false;
  private readonly readLimit: RateLimiter | undefined;
  private readonly writeLimit: RateLimiter | undefined;
  private readonly readWaiter: RateWaiter | undefined;
  private readonly writeWaiter: RateWaiter | undefined;
  /** Read from the local socket, not yet let through by the rate limit (the socket is paused). */
  private readonly heldRead: Buffer[] = [];
  private heldReadBytes = 0;
  /** Received from the link, not yet let through to the local socket by the rate limit. */
  private readonly heldWrite: Buffer[] = [];
  private heldWriteBytes = 0;
  /** The local socket ended while reads were held: passed on after them. */
  private localEndHeld = false;
  /** The peer's end of stream arrived while received data was held: passed on after it. */
  private remoteEofHeld = false;

  constructor(link: Link, channelId: string, socket: Socket, options: TcpChannelOptions) {
    this.link = link;
    this.channelId = channelId;
    this.socket = socket;
    this.options = options;
    this.socketHighWater = options.socketHighWater ?? DEFAULT_SOCKET_HIGH_WATER;
    this.grace = options.grace;
    this.recording = this.grace !== undefined && this.grace.ms > 0 && link.peerResumes;
    link.attach(channelId, this);
    if (this.recording) this.grace!.registry.opened?.(this);
    link.counters.channelsOpened += 1;
    const metering = options.metering;
    if (metering !== undefined) {
      const meter = (this.meter = metering.meter);
      this.readIsUpload = metering.local === 'client';
      this.readLimit = this.readIsUpload ? meter.upload : meter.download;
      this.writeLimit = this.readIsUpload ? meter.download : meter.upload;
      this.readWaiter = { onRateGrant: (bytes) => this.grantedRead(bytes) };
      this.writeWaiter = { onRateGrant: (bytes) => this.grantedWrite(bytes) };
      meter.channelOpened(this);
    }
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
    const onData = this.meter === undefined ? (chunk: Buffer) => this.onLocalData(chunk) : (chunk: Buffer) => this.meteredRead(chunk);
    if (initial.toLink && initial.toLink.length > 0 && !this.finished) onData(initial.toLink);
    socket.on('data', onData);
    socket.on('end', () => this.onLocalEnd());
    socket.on('drain', () => {
      if (this.link.peerResumes) this.ackFlushed(true);
    });
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
    if (this.recording && this.link.lostAbruptly && !this.finished) {
      this.suspend();
      return;
    }
    // The link is gone: nothing can be sent on it; release the socket at once.
    this.disconnectSent = true;
    this.abort('link closed', false);
  }

  onLinkDrained(): void {
    this.unpause('drain');
  }

  // ---- transport grace --------------------------------------------------------------------

  /** Ends the channel now (its owner is shutting down): Disconnect with `reason` if a link can carry it, RST. */
  close(reason: string): void {
    this.abort(reason, true);
  }

  /** The link the channel is (or was last) bound to. */
  get currentLink(): Link {
    return this.link;
  }

  /** True while the channel waits for a replacement link (owner side: resume it with resumeOn). */
  get isSuspended(): boolean {
    return this.suspended;
  }

  /** The link was lost: keep the socket, stop reading it, wait for a new link up to the grace period. */
  private suspend(): void {
    this.suspended = true;
    this.link.cancelDrainWait(this);
    this.unblockLink();
    this.pauses.delete('drain');
    this.pause('suspended');
    this.linger.stop();
    this.startGraceTimer();
    this.grace!.registry.suspended(this);
  }

  private startGraceTimer(): void {
    if (this.graceTimer) return;
    this.graceTimer = setTimeout(() => this.expire(), this.grace!.ms);
  }

  /** Grace ran out: upstream's text to whoever can still hear it, a reset to the local socket. */
  private expire(): void {
    this.graceTimer = undefined;
    if (this.finished) return;
    this.suspended = false;
    this.abort('transport link not restored', true);
  }

  /** Owner side: re-open the channel on `link` with a Connect carrying Resume, then exchange byte counts. */
  resumeOn(link: Link): void {
    if (this.finished || !this.suspended || !this.grace?.connect) return;
    this.suspended = false;
    this.link = link;
    link.attach(this.channelId, this);
    const { address, port } = this.grace.connect;
    link.send({ type: 'connect', protocol: 'tcp', channelId: this.channelId, address, port, resume: true });
    this.sendOffset();
  }

  /**
   * Dialing side: a Resume for this channel arrived on `link`. The old link may not look dead yet
   * (the peer noticed first): leave it. Returns false when the channel cannot be resumed.
   */
  rebind(link: Link): boolean {
    if (this.finished || !this.recording) return false;
    if (link === this.link && !this.suspended) {
      // Same link: the owner lost its own link behind a relay (agent mode). Exchange counts again.
      this.pause('suspended');
      this.linger.stop();
      this.startGraceTimer();
      this.sendOffset();
      return true;
    }
    if (!this.suspended) {
      this.link.cancelDrainWait(this);
      this.unblockLink();
      this.link.detach(this.channelId, this);
      this.pauses.delete('drain');
      this.pause('suspended');
      this.linger.stop();
      this.startGraceTimer();
    }
    this.suspended = false;
    this.link = link;
    link.attach(this.channelId, this);
    this.sendOffset();
    return true;
  }

  /** After a resume each side says how much it received; nothing else is sent until the peer's count arrives. */
  private sendOffset(): void {
    this.awaitingOffset = true;
    this.link.send(graceOffset(this.channelId, this.bytesFromLink));
  }

  onPeerOffset(received: number): void {
    if (this.finished || !this.recording) return;
    if (!this.awaitingOffset) {
      // The peer resumed without us losing our link (a relay re-bound its lost side): answer with
      // our count, then replay as after our own resume.
      this.link.send(graceOffset(this.channelId, this.bytesFromLink));
      this.awaitingOffset = true;
    }
    const replayStart = this.bytesToLink - this.replayBytes;
    if (received < replayStart || received > this.bytesToLink) {
      // Bytes the peer never got are no longer here (or it claims more than was sent): not exact.
      this.abort('resume offset out of range', true);
      return;
    }
    this.awaitingOffset = false;
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    // The peer knows the channel, so its dial succeeded: a pending fast-open deadline is moot.
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.dropReplay(received);
    // The peer's count reached us, so the path is whole again: say how much we have flushed. Our own
    // offset counted received bytes and the peer's window only opens for flushed ones; an ack
    // sent while the peer was away may have been lost (a relay drops them), so it is repeated now.
    this.ackedUpTo = this.flushedBytes();
    this.link.send(graceAck(this.channelId, this.ackedUpTo));
    let ok = true;
    for (const chunk of this.replay) ok = this.sendChunk(chunk);
    if (this.localEnded) {
      // Our end of stream may have gone down with the old link: say it again, after the data.
      this.disconnectSent = true;
      this.link.send({ type: 'disconnect', channelId: this.channelId, error: 'EOF' });
      if (this.remoteEnded) {
        this.finish('', false);
        return;
      }
    }
    if (this.localEnded || this.remoteEnded) this.armLinger();
    this.unpause('suspended');
    if (!ok) this.waitDrain();
    if (this.unacked() <= this.replayWindow()) this.unpause('window');
  }

  onPeerAck(received: number): void {
    if (this.finished || !this.recording || received > this.bytesToLink) return;
    this.dropReplay(received);
    if (received > this.peerAcked) this.peerAcked = received;
    if (this.unacked() <= this.replayWindow() / 2) this.unpause('window');
  }

  /** Sent bytes the peer has not acknowledged as flushed: what the replay window bounds. */
  private unacked(): number {
    return this.bytesToLink - this.peerAcked;
  }

  /** Received bytes the local socket has flushed (not merely buffered). */
  private flushedBytes(): number {
    return this.bytesFromLink - this.socket.writableLength - this.heldWriteBytes;
  }

  /**
   * Acknowledges what the local socket has flushed (not merely buffered), every GRACE_ACK_STEP
   * bytes, or whatever is left once it drains. Acking flushed bytes lets the peer's replay window
   * bound this socket's write buffer, so the link never has to stop reading for this channel
   * (which would also hold back the acks the peer's window waits for: a deadlock).
   */
  private ackFlushed(drained: boolean): void {
    if (this.finished || this.suspended || this.link.isClosed) return;
    const flushed = this.flushedBytes();
    if (flushed - this.ackedUpTo >= GRACE_ACK_STEP || (drained && flushed > this.ackedUpTo)) {
      this.ackedUpTo = flushed;
      this.link.send(graceAck(this.channelId, flushed));
    }
  }

  /**
   * Bytes the local socket may hold before the link stops reading. A peer that keeps a replay
   * window cannot exceed it, so with grace the bound sits above the window and is never reached
   * between linksocks-ts peers; it still bounds a far end without a window (a relayed Go peer).
   */
  private inboundHighWater(): number {
    return this.recording ? Math.max(this.socketHighWater, 2 * this.replayWindow()) : this.socketHighWater;
  }

  private replayWindow(): number {
    return this.grace?.replayWindow ?? DEFAULT_REPLAY_WINDOW;
  }

  /** Forgets replay bytes the peer has (everything before `received`). */
  private dropReplay(received: number): void {
    let drop = received - (this.bytesToLink - this.replayBytes);
    while (drop > 0 && this.replay.length > 0) {
      const first = this.replay[0]!;
      if (first.length <= drop) {
        this.replay.shift();
        this.replayBytes -= first.length;
        drop -= first.length;
      } else {
        this.replay[0] = first.subarray(drop);
        this.replayBytes -= drop;
        drop = 0;
      }
    }
  }

  private pause(reason: PauseReason): void {
    this.pauses.add(reason);
    this.socket.pause();
  }

  private unpause(reason: PauseReason): void {
    if (!this.pauses.delete(reason)) return;
    if (this.pauses.size === 0 && !this.finished && !this.localEnded) this.socket.resume();
  }

  private waitDrain(): void {
    this.link.counters.producerPauses += 1;
    this.pause('drain');
    this.link.waitForDrain(this);
  }

  /** Sends one socket read as Data, split to the payload limit; false when the link is congested. */
  private sendChunk(chunk: Buffer): boolean {
    const max = this.options.maxPayload;
    let ok = true;
    for (let offset = 0; offset < chunk.length; offset += max) {
      const payload = offset === 0 && chunk.length <= max ? chunk : chunk.subarray(offset, offset + max);
      ok = this.link.sendTcpData(this.channelId, payload);
    }
    return ok;
  }

  onChannelMessage(msg: ChannelMessage): void {
    if (this.finished) return;
    switch (msg.type) {
      case 'data':
        if (this.remoteEnded || this.remoteEofHeld) return;
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
        if (msg.error === 'EOF' && this.heldWriteBytes > 0) {
          // Rate-limited data still to deliver: the end of stream goes after it (grantedWrite).
          this.remoteEofHeld = true;
          return;
        }
        this.onRemoteDisconnect(msg.error);
        return;
    }
  }

  private writeLocal(data: Buffer): void {
    this.lastTraffic = Date.now();
    this.bytesFromLink += data.length;
    this.link.counters.bytesFromLink += data.length;
    if (this.meter !== undefined) {
      this.meteredWrite(data);
      return;
    }
    this.flushLocal(data);
  }

  private flushLocal(data: Buffer): void {
    this.socket.write(data);
    if (this.link.peerResumes) this.ackFlushed(false);
    if (!this.blockingLink && this.socket.writableLength > this.inboundHighWater()) {
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
    this.bytesToLink += chunk.length;
    this.link.counters.bytesToLink += chunk.length;
    if (this.recording) {
      // A copy: a client link masks a sent payload in place (relay/data-frame.ts).
      this.replay.push(Buffer.from(chunk));
      this.replayBytes += chunk.length;
      if (this.unacked() > this.replayWindow() && !this.pauses.has('window')) {
        // The peer has not acknowledged a window's worth: backpressure like a congested link.
        this.link.counters.producerPauses += 1;
        this.pause('window');
      }
    }
    if (this.suspended || this.awaitingOffset) {
      // Read before the pause took effect: kept for replay, sent once the link is back.
      this.pause('suspended');
      return;
    }
    if (!this.sendChunk(chunk)) this.waitDrain();
  }

  private onLocalEnd(): void {
    if (this.finished || this.localEnded) return;
    if (this.heldReadBytes > 0) {
      this.localEndHeld = true; // said after the held bytes (grantedRead)
      return;
    }
    this.localEnded = true;
    if (this.suspended || this.awaitingOffset) return; // said on the new link, after the replay
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
      // No answer (the peer is done with the channel). An error text means the stream was cut
      // short: the local socket is reset so its reader cannot take it as whole (unless the far
      // side's end of stream already reached it). No text is a plain close (Go's teardown after
      // its 5 s delay, a SOCKS side that closed its socket on purpose): flush and close.
      this.disconnectSent = true;
      this.closeError = error;
      this.finish(error, error !== '' && !this.eofPassedOn);
      return;
    }
    if (this.localEnded) {
      this.finish('', false);
      return;
    }
    // Half-close: pass the end of stream on at once, keep the other direction for a while.
    this.eofPassedOn = true;
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
   * an abrupt one resets it (RST), so the local peer sees an error rather than an end of stream
   * that never happened. Only when the far side's real end of stream already went out as a FIN is
   * an abrupt finish a plain close: the local reader already has the complete stream.
   */
  private finish(error: string, destroy: boolean): void {
    if (this.finished) return;
    this.finished = true;
    this.clearTimer();
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    this.replay.length = 0;
    this.replayBytes = 0;
    if (this.meter !== undefined) {
      this.readLimit!.cancel(this.readWaiter!);
      this.writeLimit!.cancel(this.writeWaiter!);
      this.heldRead.length = 0;
      this.heldReadBytes = 0;
      this.heldWrite.length = 0;
      this.heldWriteBytes = 0;
      this.meter.channelClosed(this);
    }
    if (this.recording) this.grace!.registry.ended(this);
    this.link.cancelDrainWait(this);
    this.unblockLink();
    this.link.detach(this.channelId, this);
    const socket = this.socket;
    if (socket.destroyed) {
      // Nothing left to close (the socket failed or closed by itself).
    } else if (destroy) {
      if (this.eofPassedOn) socket.destroy();
      else socket.resetAndDestroy();
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

  // ---- metering ---------------------------------------------------------------------------

  private countRead(bytes: number): void {
    if (this.readIsUpload) this.meter!.countUpload(bytes);
    else this.meter!.countDownload(bytes);
  }

  private countWrite(bytes: number): void {
    if (this.readIsUpload) this.meter!.countDownload(bytes);
    else this.meter!.countUpload(bytes);
  }

  /** A local read on a metered channel: counted and let through as far as the rate allows, the rest held with the socket paused. */
  private meteredRead(chunk: Buffer): void {
    if (this.finished) return;
    if (this.heldReadBytes === 0) {
      const granted = this.readLimit!.take(chunk.length);
      if (granted > 0) {
        this.countRead(granted);
        if (this.finished) return;
        if (granted === chunk.length) {
          this.onLocalData(chunk);
          return;
        }
        this.onLocalData(chunk.subarray(0, granted));
        if (this.finished) return;
        chunk = chunk.subarray(granted);
      }
    }
    this.heldRead.push(chunk);
    this.heldReadBytes += chunk.length;
    this.pause('rate');
    this.readLimit!.wait(this.readWaiter!, this.heldReadBytes);
  }

  private grantedRead(bytes: number): void {
    let left = bytes;
    while (left > 0 && this.heldRead.length > 0 && !this.finished) {
      const first = this.heldRead[0]!;
      let piece = first;
      if (first.length <= left) this.heldRead.shift();
      else {
        piece = first.subarray(0, left);
        this.heldRead[0] = first.subarray(left);
      }
      left -= piece.length;
      this.heldReadBytes -= piece.length;
      this.countRead(piece.length);
      if (this.finished) return;
      this.onLocalData(piece);
    }
    if (this.finished) return;
    if (this.heldReadBytes > 0) {
      this.readLimit!.wait(this.readWaiter!, this.heldReadBytes);
      return;
    }
    this.unpause('rate');
    if (this.localEndHeld) {
      this.localEndHeld = false;
      this.onLocalEnd();
    }
  }

  /** Data for the local socket on a metered channel: written as far as the rate allows, the rest held (bounded by pausing the link). */
  private meteredWrite(data: Buffer): void {
    if (this.heldWriteBytes === 0) {
      const granted = this.writeLimit!.take(data.length);
      if (granted > 0) {
        this.countWrite(granted);
        if (this.finished) return;
        if (granted === data.length) {
          this.flushLocal(data);
          return;
        }
        this.flushLocal(data.subarray(0, granted));
        data = data.subarray(granted);
      }
    }
    this.heldWrite.push(data);
    this.heldWriteBytes += data.length;
    this.writeLimit!.wait(this.writeWaiter!, this.heldWriteBytes);
    if (!this.blockingLink && this.heldWriteBytes + this.socket.writableLength > this.inboundHighWater()) {
      // Held like a slow reader's backlog: the link stops reading until the rate catches up.
      this.blockingLink = true;
      this.link.counters.inboundPauses += 1;
      this.link.pauseInbound(this);
    }
  }

  private grantedWrite(bytes: number): void {
    let left = bytes;
    while (left > 0 && this.heldWrite.length > 0 && !this.finished) {
      const first = this.heldWrite[0]!;
      let piece = first;
      if (first.length <= left) this.heldWrite.shift();
      else {
        piece = first.subarray(0, left);
        this.heldWrite[0] = first.subarray(left);
      }
      left -= piece.length;
      this.heldWriteBytes -= piece.length;
      this.countWrite(piece.length);
      if (this.finished) return;
      this.lastTraffic = Date.now();
      this.flushLocal(piece);
    }
    if (this.finished) return;
    if (this.blockingLink && this.heldWriteBytes + this.socket.writableLength <= this.inboundHighWater()) this.unblockLink();
    if (this.heldWriteBytes > 0) {
      this.writeLimit!.wait(this.writeWaiter!, this.heldWriteBytes);
      return;
    }
    if (this.remoteEofHeld) {
      this.remoteEofHeld = false;
      this.onRemoteDisconnect('EOF');
    }
  }

  private clearTimer(): void {
    this.linger.stop();
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }
}
