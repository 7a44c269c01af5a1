/**
 * What a channel reports its traffic to and takes its rate from, without knowing whose account it
 * is (the server keeps one per token). Directions are the user's: upload from the SOCKS/HTTP client
 * towards the target, download back.
 */
import type { RateLimiter } from './rate-limiter.js';

/** A channel its meter may end (the account ran out). */
export interface MeteredChannel {
  close(reason: string): void;
}

export interface TrafficMeter {
  readonly upload: RateLimiter;
  readonly download: RateLimiter;
  /** Bytes let through; may close channels (the caller's included) before it returns. */
  countUpload(bytes: number): void;
  countDownload(bytes: number): void;
  channelOpened(channel: MeteredChannel): void;
  channelClosed(channel: MeteredChannel): void;
}

/** A channel's place on a meter: its local socket is the user's client (SOCKS side) or the target (dialing side). */
export interface ChannelMetering {
  meter: TrafficMeter;
  local: 'client' | 'target';
}

/** Text of the Disconnect (and the closed channel's error) when a meter closes a channel. */
export const QUOTA_EXCEEDED = 'quota exceeded';
