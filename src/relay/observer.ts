/**
 * What the relay tells its owner about channels, for logs, events and metrics. All methods are
 * optional to implement and are called synchronously; they must not throw.
 */
export interface ChannelInfo {
  channelId: string;
  /** `host:port` of the target as the SOCKS client asked for it. */
  target: string;
  /** Id of the link the channel runs over (Link.id). */
  linkId?: number;
  /** SOCKS side: who asked for the channel on the local port. */
  source?: ChannelSource;
  /** Agent routes: the provider link the channel was routed to (`linkId` is the connector's). */
  providerLinkId?: number;
  /** A UDP channel (agent routes carry both kinds). */
  udp?: boolean;
}

/** The local client of a SOCKS-side channel (for audit logs). */
export interface ChannelSource {
  /** `address:port` of the SOCKS/HTTP client. */
  address: string;
  /** How it asked: socks5, http-connect or http-proxy. */
  protocol?: string;
  /** Authenticated user name, without a session tag. */
  user?: string;
}

export interface ChannelStats extends ChannelInfo {
  bytesToLink: number;
  bytesFromLink: number;
  durationMs: number;
  /** Empty for a normal end. */
  error: string;
}

export interface ConnectResult extends ChannelInfo {
  /** Time from sending Connect to the answer (SOCKS side) or from the dial start (dialing side). */
  durationMs: number;
  ok: boolean;
  error: string;
  /** SOCKS side only: the reply code sent to the SOCKS client. */
  reply?: number;
  /** The server refused the Connect by its own policy (limits, draining) without dialing. */
  refused?: boolean;
  /** SOCKS side: the dialing side sent no ConnectResponse within the deadline. */
  unanswered?: boolean;
  /** SOCKS side: the dialing side sent a ConnectResponse (success or the target's refusal). */
  answered?: boolean;
}

export interface ChannelObserver {
  opened?(info: ChannelInfo): void;
  closed?(stats: ChannelStats): void;
  connected?(result: ConnectResult): void;
}

/** Which side of which mode a channel belongs to, for logs and events. */
export type ChannelMode = 'forward' | 'reverse' | 'agent';

export type ChannelOpenEvent = ChannelInfo & { mode: ChannelMode };
export type ChannelCloseEvent = ChannelStats & { mode: ChannelMode };
export type ConnectEvent = ConnectResult & { mode: ChannelMode };

/** The channel events servers and clients emit (part of their typed event maps). */
export interface ChannelEventMap {
  'channel-open': [ChannelOpenEvent];
  'channel-close': [ChannelCloseEvent];
  connect: [ConnectEvent];
}

export interface ChannelEventSink {
  emit<K extends keyof ChannelEventMap>(event: K, ...args: ChannelEventMap[K]): boolean;
}

interface DebugLogger {
  debug(obj: object, msg: string): void;
}

/**
 * The observer the server and client use: one debug line per channel open, close and failed
 * connect (channel id, mode, target, bytes, duration), and the same facts as events
 * ('channel-open', 'channel-close', 'connect') for embedding programs and metrics.
 */
export function eventObserver(sink: ChannelEventSink, logger: DebugLogger, mode: ChannelMode): ChannelObserver {
  return {
    opened(info) {
      logger.debug({ channel: info.channelId, mode, target: info.target }, 'channel open');
      sink.emit('channel-open', { ...info, mode });
    },
    closed(stats) {
      logger.debug(
        {
          channel: stats.channelId,
          mode,
          target: stats.target,
          bytesOut: stats.bytesToLink,
          bytesIn: stats.bytesFromLink,
          durationMs: stats.durationMs,
          ...(stats.error ? { error: stats.error } : {}),
        },
        'channel closed',
      );
      sink.emit('channel-close', { ...stats, mode });
    },
    connected(result) {
      if (!result.ok) {
        logger.debug({ channel: result.channelId, mode, target: result.target, error: result.error }, 'connect failed');
      }
      sink.emit('connect', { ...result, mode });
    },
  };
}
