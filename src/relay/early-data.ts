import type { DataMessage, DisconnectMessage } from '../protocol/index.js';

/** Bounds of the messages a link holds for channels whose Connect has not arrived yet. */
export interface EarlyDataLimits {
  /** Messages held per channel; default 1000 (what newer LinkSocks peers hold). */
  maxMessages?: number;
  /** Payload bytes held per channel; default 1 MiB. */
  maxBytes?: number;
  /** Channels with held messages per link; default 64. */
  maxChannels?: number;
  /** Payload bytes held for all channels of the link together; default 4 MiB. */
  maxTotalBytes?: number;
  /** How long held messages wait for their Connect; default 30 s (newer peers' value). */
  ttlMs?: number;
}

export type EarlyMessage = DataMessage | DisconnectMessage;

export interface HeldMessage {
  msg: EarlyMessage;
  raw: Buffer;
}

/** Why held messages were dropped, for the log line. */
export type EarlyDropReason =
  | 'count limit'
  | 'byte limit'
  | 'channel limit'
  | 'link byte limit'
  | 'timeout'
  | 'earlier data dropped'
  | 'connect refused'
  | 'link closed';

export interface EarlyDataEvents {
  /** `count` messages of `channelId` were dropped; called synchronously, must not throw. */
  dropped(channelId: string, count: number, reason: EarlyDropReason): void;
}

const DEFAULTS = { maxMessages: 1000, maxBytes: 1024 * 1024, maxChannels: 64, maxTotalBytes: 4 * 1024 * 1024, ttlMs: 30_000 } as const;
/** Channel ids remembered as lost (their early data dropped), and as recently closed, per link. */
const MAX_REMEMBERED = 1024;

interface HeldChannel {
  messages: HeldMessage[];
  bytes: number;
  timer: NodeJS.Timeout;
}

/**
 * Data that arrives before its Connect (a sender with several WebSockets, fast open): held per
 * channel id, in arrival order, until the Connect registers the channel; then handed over in order.
 *
 * Bounded by messages and bytes per channel, channels and bytes per link, and time. Past a bound, or when the
 * time is up, all of that channel's held messages are dropped (reported through `dropped`) and the
 * channel is remembered as lost for one more TTL: its further Data is dropped too and `isLost`
 * lets the link refuse its Connect, so a stream with a hole in it is never relayed.
 *
 * A Disconnect is held only behind held Data (a stray Disconnect is a late duplicate, not early),
 * and nothing is held for a channel that was recently closed on the link: peers send late Data
 * after a Disconnect, which is not early data either.
 */
export class EarlyData {
  private readonly held = new Map<string, HeldChannel>();
  /** Channel ids whose early data was dropped → when that memory ends (ms). */
  private readonly lost = new Map<string, number>();
  /** Channel ids recently closed on the link (insertion order = age). */
  private readonly closed = new Set<string>();
  private readonly maxMessages: number;
  private readonly maxBytes: number;
  private readonly maxChannels: number;
  private readonly maxTotalBytes: number;
  private readonly ttlMs: number;
  private totalBytes = 0;

  constructor(
    limits: EarlyDataLimits,
    private readonly events: EarlyDataEvents,
  ) {
    this.maxMessages = limits.maxMessages ?? DEFAULTS.maxMessages;
    this.maxBytes = limits.maxBytes ?? DEFAULTS.maxBytes;
    this.maxChannels = limits.maxChannels ?? DEFAULTS.maxChannels;
    this.maxTotalBytes = limits.maxTotalBytes ?? DEFAULTS.maxTotalBytes;
    this.ttlMs = limits.ttlMs ?? DEFAULTS.ttlMs;
  }

  /** Channels with held messages. */
  get size(): number {
    return this.held.size;
  }

  /**
   * Takes a message for a channel not registered on the link. Returns false when it is not early
   * data (a Disconnect with nothing held: let the caller treat it as a late duplicate).
   */
  hold(msg: EarlyMessage, raw: Buffer): boolean {
    const { channelId } = msg;
    if (this.closed.has(channelId)) return false;
    if (this.isLost(channelId)) {
      this.events.dropped(channelId, 1, 'earlier data dropped');
      return true;
    }
    let channel = this.held.get(channelId);
    if (!channel) {
      if (msg.type !== 'data') return false;
      if (this.held.size >= this.maxChannels) {
        this.markLost(channelId);
        this.events.dropped(channelId, 1, 'channel limit');
        return true;
      }
      channel = { messages: [], bytes: 0, timer: setTimeout(() => this.drop(channelId, 'timeout'), this.ttlMs) };
      this.held.set(channelId, channel);
    }
    const bytes = msg.type === 'data' ? msg.data.length : 0;
    channel.messages.push({ msg, raw });
    channel.bytes += bytes;
    this.totalBytes += bytes;
    if (channel.messages.length > this.maxMessages) this.drop(channelId, 'count limit');
    else if (channel.bytes > this.maxBytes) this.drop(channelId, 'byte limit');
    else if (this.totalBytes > this.maxTotalBytes) this.drop(channelId, 'link byte limit');
    return true;
  }

  /** The held messages of a channel, in arrival order, handed over and forgotten. */
  take(channelId: string): HeldMessage[] {
    const channel = this.held.get(channelId);
    if (!channel) return [];
    clearTimeout(channel.timer);
    this.held.delete(channelId);
    this.totalBytes -= channel.bytes;
    return channel.messages;
  }

  /** Drops a channel's held messages (its Connect was refused, or a limit or the TTL was hit). */
  drop(channelId: string, reason: EarlyDropReason): void {
    const messages = this.take(channelId);
    if (reason !== 'connect refused') this.markLost(channelId);
    if (messages.length > 0) this.events.dropped(channelId, messages.length, reason);
  }

  /** True while a channel's early data is known to have been dropped (its stream has a hole). */
  isLost(channelId: string): boolean {
    const until = this.lost.get(channelId);
    if (until === undefined) return false;
    if (Date.now() < until) return true;
    this.lost.delete(channelId);
    return false;
  }

  /** A channel registered on the link was closed: messages still arriving for it are late, not early. */
  noteClosed(channelId: string): void {
    if (this.closed.size >= MAX_REMEMBERED) forgetOldest(this.closed);
    this.closed.add(channelId);
  }

  /** The link closed: drop everything, clear every timer. */
  clear(): void {
    for (const channelId of [...this.held.keys()]) {
      const messages = this.take(channelId);
      this.events.dropped(channelId, messages.length, 'link closed');
    }
    this.lost.clear();
    this.closed.clear();
  }

  private markLost(channelId: string): void {
    if (this.lost.size >= MAX_REMEMBERED) forgetOldest(this.lost);
    this.lost.set(channelId, Date.now() + this.ttlMs);
  }
}

/** Maps and sets iterate in insertion order: the first key is the oldest. */
function forgetOldest(keys: Map<string, unknown> | Set<string>): void {
  const oldest = keys.keys().next().value;
  if (oldest !== undefined) keys.delete(oldest);
}
