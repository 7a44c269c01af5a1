import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { WebSocket, RawData } from 'ws';
import { decodeMessage, encodeMessage, encodeTcpData, ProtocolError } from '../protocol/index.js';
import type {
  ConnectMessage,
  ConnectResponseMessage,
  DataMessage,
  DisconnectMessage,
  Message,
  OutgoingMessage,
  UnsupportedMessage,
} from '../protocol/index.js';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { RelayCounters } from './counters.js';
import { canWriteDirect, writeTcpDataFrame } from './data-frame.js';
import type { DirectFraming } from './data-frame.js';
import { EarlyData } from './early-data.js';
import type { EarlyDataLimits, EarlyDropReason } from './early-data.js';
import { GRACE_HELLO, parseGraceControl } from './grace-wire.js';

/** Messages that belong to a channel and are delivered to its endpoint. */
export type ChannelMessage = DataMessage | ConnectResponseMessage | DisconnectMessage;

/** Something bound to one channel id on one link: a TCP pipe, a UDP association, a relay route. */
export interface ChannelEndpoint {
  /** `raw` is the undecoded WebSocket message, for relays that forward it unchanged. */
  onChannelMessage(msg: ChannelMessage, raw: Buffer): void;
  /** The link is gone: release everything at once, send nothing on this link. */
  onLinkClosed(): void;
  /** Called by the idle sweeper; returns the time of the last traffic (ms, Date.now()). */
  lastActivity(): number;
  /** Idle timeout reached. */
  onIdle(): void;
  /** Transport grace between linksocks-ts peers (relay/grace.ts): the peer has this many bytes of the channel. */
  onPeerAck?(received: number): void;
  /** Transport grace: the peer's byte count after a resume; replay from there. */
  onPeerOffset?(received: number): void;
}

/** Messages a link hands to its owner: everything but channel traffic and unsupported types. */
export type LinkMessage = Exclude<Message, ChannelMessage | UnsupportedMessage>;

/** Events of a Link, for `link.on(...)` with typed arguments. */
export interface LinkEvents {
  /** A message for the owner (Connects included); `raw` is the undecoded WebSocket message. */
  message: [msg: LinkMessage, raw: Buffer];
  /** The last channel was detached. */
  idle: [];
  /** The WebSocket is gone; every channel has been released. Emitted once. */
  close: [];
  /** The peer announced that it can resume channels (transport grace). */
  'peer-resumes': [];
}

/** A producer (a local socket feeding the link) paused until the link drains. */
export interface DrainWaiter {
  onLinkDrained(): void;
}

export interface LinkOptions {
  /** Pause producers when the WebSocket's buffered bytes exceed this; default 4 MiB. */
  highWaterMark?: number;
  /** Send a ping this often (0 = never). The Go client pings every 30 s. */
  pingIntervalMs?: number;
  /** Close the link when nothing at all arrived for this long (0 = never). */
  deadAfterMs?: number;
  /** Send an unsolicited pong this often (0 = never); keeps a Go server's provider deadline alive. */
  unsolicitedPongMs?: number;
  /** Close channels without traffic for this long; default 12 h (Go's value). */
  channelIdleTimeoutMs?: number;
  /** Cap on the decompressed size of a gzip Data payload; default the codec's 32 MiB. */
  maxDecompressedSize?: number;
  /**
   * Lets TCP Data bypass `ws` and go to the socket without a copy. Must match the side of this
   * link: 'unmasked' on the server side, 'masked' on a client.
   */
  directFraming?: DirectFraming;
  /**
   * Hold Data that arrives before its Connect, within these bounds, and hand it to the channel
   * the Connect opens (see early-data.ts). For links whose peer sends Connects; default off.
   */
  earlyData?: EarlyDataLimits;
  logger?: Logger;
  counters?: RelayCounters;
}

const DEFAULT_HIGH_WATER = 4 * 1024 * 1024;
/** Failed ConnectResponse for a channel whose early Data was dropped: its stream would have a hole. */
export const EARLY_DATA_LOST_ERROR = 'early data dropped';
export const DEFAULT_CHANNEL_IDLE_MS = 12 * 60 * 60 * 1000;
const IDLE_SWEEP_MS = 60 * 1000;
/** How long close() lets queued frames flush before the socket is destroyed. */
const CLOSE_FLUSH_MS = 1000;

let nextLinkId = 1;

/**
 * One authenticated WebSocket carrying LinkSocks messages: decodes what arrives, dispatches
 * channel messages to their endpoints, and gives the rest to the owner as 'message' events.
 *
 * Flow control: the protocol has no windows, so the only levers are the WebSocket's own buffer and
 * pausing the reading of the WebSocket. Producers (local sockets) stop reading while the link is
 * above its high-water mark; a channel whose local socket cannot keep up pauses the link's
 * inbound side (head-of-line blocking for the other channels, but bounded memory and no loss).
 *
 * Events: see LinkEvents.
 */
export class Link extends EventEmitter<LinkEvents> {
  readonly id = nextLinkId++;
  readonly channels = new Map<string, ChannelEndpoint>();
  readonly logger: Logger;
  readonly counters: RelayCounters;
  private readonly ws: WebSocket;
  private readonly socket: Socket;
  private readonly highWaterMark: number;
  private readonly maxDecompressedSize: number | undefined;
  private readonly directFraming: DirectFraming | undefined;
  private readonly drainWaiters = new Set<DrainWaiter>();
  private readonly inboundBlockers = new Set<object>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly early: EarlyData | undefined;
  private lastReceived = Date.now();
  private closed = false;
  private closing = false;
  private peerClosed = false;
  /**
   * The peer announced linksocks-ts transport grace (its hello LogMessage): it understands Resume
   * and the byte-count exchange that makes a resumed channel exact. Set before any channel message
   * of the peer is handled (the hello is the peer's first message after authentication).
   */
  peerResumes = false;

  constructor(ws: WebSocket, socket: Socket, options: LinkOptions = {}) {
    super();
    this.ws = ws;
    this.socket = socket;
    this.logger = options.logger ?? silentLogger();
    this.counters = options.counters ?? new RelayCounters();
    this.highWaterMark = options.highWaterMark ?? DEFAULT_HIGH_WATER;
    this.maxDecompressedSize = options.maxDecompressedSize;
    this.directFraming = options.directFraming;
    if (options.earlyData) {
      this.early = new EarlyData(options.earlyData, {
        dropped: (channelId, count, reason) => this.onEarlyDropped(channelId, count, reason),
      });
    }
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data: RawData) => this.onRaw(rawDataToBuffer(data)));
    ws.on('ping', () => this.touch());
    ws.on('pong', () => this.touch());
    ws.on('close', (code: number) => {
      // 1006: no close frame arrived; the path died (or was cut) rather than the peer ending the link.
      if (code !== 1006) this.peerClosed = true;
      this.onClosed();
    });
    ws.on('error', (err: Error) => {
      this.logger.debug({ err: err.message, link: this.id }, 'WebSocket error');
    });
    socket.on('drain', () => this.onSocketDrain());
    this.startTimers(options);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * The link died under us: no close frame from the peer and no close() of ours (a cut path, a
   * silent peer that we terminated). Only such a loss is worth waiting out with transport grace;
   * a deliberate close means the far side's channels are gone.
   */
  get lostAbruptly(): boolean {
    return this.closed && !this.peerClosed && !this.closing;
  }

  /** True while the WebSocket holds more unsent bytes than the high-water mark. */
  get congested(): boolean {
    return this.ws.bufferedAmount > this.highWaterMark;
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  /** Binds an endpoint to a channel id on this link (counted in `channelsOpen`). */
  attach(channelId: string, endpoint: ChannelEndpoint): void {
    this.channels.set(channelId, endpoint);
    this.counters.channelsOpen += 1;
  }

  /** Unbinds `endpoint` if it still owns the channel id; safe to call more than once. */
  detach(channelId: string, endpoint: ChannelEndpoint): void {
    if (this.channels.get(channelId) !== endpoint) return;
    this.channels.delete(channelId);
    this.counters.channelsOpen -= 1;
    this.early?.noteClosed(channelId);
    // Lets a draining server learn when the last channel of a link is gone, without polling.
    if (this.channels.size === 0) this.emit('idle');
  }

  /** Encodes and sends a message. Returns false when the link is congested (see waitForDrain). */
  send(msg: OutgoingMessage): boolean {
    return this.sendRaw(encodeMessage(msg));
  }

  /**
   * Sends uncompressed TCP Data; on a server's link the payload is not copied when the link allows
   * direct frames. The payload is never modified (a client's masking writes into a new frame).
   */
  sendTcpData(channelId: string, payload: Buffer): boolean {
    if (this.closed) return false;
    if (this.directFraming !== undefined && canWriteDirect(this.ws)) {
      writeTcpDataFrame(this.socket, this.directFraming, channelId, payload);
      return this.ws.bufferedAmount <= this.highWaterMark;
    }
    return this.sendRaw(encodeTcpData(channelId, payload));
  }

  /** Sends an already encoded message. */
  sendRaw(buf: Buffer): boolean {
    if (this.closed) return false;
    this.ws.send(buf, { binary: true });
    return this.ws.bufferedAmount <= this.highWaterMark;
  }

  /** Registers a producer to be told once the link has drained. */
  waitForDrain(waiter: DrainWaiter): void {
    this.drainWaiters.add(waiter);
  }

  cancelDrainWait(waiter: DrainWaiter): void {
    this.drainWaiters.delete(waiter);
  }

  /** Stops reading the WebSocket until every blocker has called resumeInbound. */
  pauseInbound(blocker: object): void {
    if (this.closed) return;
    this.inboundBlockers.add(blocker);
    if (this.inboundBlockers.size === 1) this.ws.pause();
  }

  resumeInbound(blocker: object): void {
    if (!this.inboundBlockers.delete(blocker)) return;
    if (this.inboundBlockers.size === 0 && !this.closed) this.ws.resume();
  }

  /** Tells the peer to cut the link. Go never sends close frames; a normal close is fine for it. */
  close(code = 1000, reason = ''): void {
    if (this.closed || this.closing) return;
    this.closing = true;
    try {
      this.ws.close(code, reason);
    } catch {
      this.ws.terminate();
      return;
    }
    // Flush what is queued (a last Disconnect "EOF", the close frame), then FIN. Destroying the
    // socket at once would throw queued frames away, cutting streams that had ended properly.
    // Do not wait long for the peer's answer: a Go peer never sends a close frame back.
    this.socket.end();
    this.timers.push(setTimeout(() => this.ws.terminate(), CLOSE_FLUSH_MS));
  }

  /** Drops the TCP connection at once (what Go does on failures). */
  terminate(): void {
    this.ws.terminate();
  }

  ping(): void {
    if (!this.closed) this.ws.ping();
  }

  private touch(): void {
    this.lastReceived = Date.now();
  }

  private onRaw(raw: Buffer): void {
    this.lastReceived = Date.now();
    let msg: Message;
    try {
      msg = decodeMessage(raw, { maxDecompressedSize: this.maxDecompressedSize });
    } catch (err) {
      this.onMalformed(err);
      return;
    }
    switch (msg.type) {
      case 'data':
      case 'connectResponse':
      case 'disconnect': {
        const endpoint = this.channels.get(msg.channelId);
        if (endpoint) {
          endpoint.onChannelMessage(msg, raw);
        } else if (msg.type !== 'connectResponse' && this.early?.hold(msg, raw)) {
          // Held until its Connect arrives (or dropped and counted).
        } else {
          // Go sends late duplicates (Data after Disconnect, a second Disconnect): expected, quiet.
          this.counters.unknownChannelMessages += 1;
          this.logger.trace({ link: this.id, type: msg.type }, 'message for unknown channel ignored');
        }
        return;
      }
      case 'connect':
        this.onConnect(msg, raw);
        return;
      case 'log': {
        const control = parseGraceControl(msg);
        if (!control) break;
        if (control.kind === 'hello') {
          this.peerResumes = true;
          this.emit('peer-resumes');
        } else {
          const endpoint = this.channels.get(control.channelId);
          if (control.kind === 'ack') endpoint?.onPeerAck?.(control.received);
          else endpoint?.onPeerOffset?.(control.received);
        }
        return;
      }
      case 'unsupported':
        this.counters.unsupportedMessages += 1;
        this.logger.debug({ link: this.id, messageType: msg.messageType }, 'unsupported message type ignored');
        return;
      default:
        break;
    }
    this.emit('message', msg, raw);
  }

  /** Announces transport grace support to the peer; sent right after authentication. */
  announceGrace(): void {
    this.send(GRACE_HELLO);
  }

  /**
   * A Connect goes to the owner ('message'); the Data held for its channel then goes, in order, to
   * the endpoint the owner registered, or is dropped when the Connect was refused.
   */
  private onConnect(msg: ConnectMessage, raw: Buffer): void {
    const early = this.early;
    const { channelId } = msg;
    if (early && !msg.resume && !this.channels.has(channelId) && early.isLost(channelId)) {
      this.counters.channelsFailed += 1;
      this.send({ type: 'connectResponse', success: false, channelId, error: EARLY_DATA_LOST_ERROR });
      return;
    }
    this.emit('message', msg, raw);
    if (!early || early.size === 0) return;
    const held = early.take(channelId);
    for (let i = 0; i < held.length; i += 1) {
      const endpoint = this.channels.get(channelId);
      if (!endpoint) {
        this.onEarlyDropped(channelId, held.length - i, 'connect refused');
        return;
      }
      this.counters.earlyDataFlushed += 1;
      endpoint.onChannelMessage(held[i]!.msg, held[i]!.raw);
    }
  }

  private onEarlyDropped(channelId: string, count: number, reason: EarlyDropReason): void {
    if (count === 0) return;
    this.counters.earlyDataDropped += count;
    this.logger.debug({ link: this.id, channel: channelId, messages: count, reason }, 'data received before its Connect dropped');
  }

  /** A malformed message costs its channel (when its id is readable), never the whole link. */
  private onMalformed(err: unknown): void {
    this.counters.malformedMessages += 1;
    if (!(err instanceof ProtocolError)) {
      this.logger.warn({ link: this.id, err: String(err) }, 'message handling failed');
      return;
    }
    this.logger.debug({ link: this.id, code: err.code, err: err.message }, 'malformed message dropped');
    const channelId = err.channelId;
    if (channelId === undefined) return;
    const endpoint = this.channels.get(channelId);
    if (!endpoint) return;
    endpoint.onChannelMessage({ type: 'disconnect', channelId, error: `malformed message: ${err.message}` }, Buffer.alloc(0));
    this.send({ type: 'disconnect', channelId, error: 'malformed message' });
  }

  private onSocketDrain(): void {
    if (this.drainWaiters.size === 0 || this.congested) return;
    const waiters = [...this.drainWaiters];
    this.drainWaiters.clear();
    for (const waiter of waiters) waiter.onLinkDrained();
  }

  private startTimers(options: LinkOptions): void {
    const ping = options.pingIntervalMs ?? 0;
    const dead = options.deadAfterMs ?? 0;
    const pong = options.unsolicitedPongMs ?? 0;
    if (ping > 0) this.timers.push(setInterval(() => this.ping(), ping));
    if (pong > 0) this.timers.push(setInterval(() => !this.closed && this.ws.pong(), pong));
    if (dead > 0) {
      const check = Math.max(10, Math.min(dead / 4, 5000));
      this.timers.push(
        setInterval(() => {
          if (Date.now() - this.lastReceived > dead) {
            this.logger.info({ link: this.id }, 'WebSocket silent too long, closing');
            this.terminate();
          }
        }, check),
      );
    }
    const idle = options.channelIdleTimeoutMs ?? DEFAULT_CHANNEL_IDLE_MS;
    if (idle > 0) {
      this.timers.push(setInterval(() => this.sweepIdle(idle), Math.min(IDLE_SWEEP_MS, idle)));
    }
  }

  private sweepIdle(idleMs: number): void {
    const cutoff = Date.now() - idleMs;
    for (const endpoint of [...this.channels.values()]) {
      if (endpoint.lastActivity() < cutoff) endpoint.onIdle();
    }
  }

  private onClosed(): void {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.timers) clearInterval(timer);
    this.drainWaiters.clear();
    this.inboundBlockers.clear();
    this.early?.clear();
    for (const [channelId, endpoint] of [...this.channels]) {
      endpoint.onLinkClosed();
      this.detach(channelId, endpoint);
    }
    this.emit('close');
  }
}

/** One Buffer from whatever `ws` delivered (a Buffer with binaryType 'nodebuffer'). */
export function rawDataToBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
