import type { Logger } from '../log.js';

export interface LinkSocksClientOptions {
  /** Token; empty means `anonymous`, as the Go client does. */
  token?: string;
  /** Server URL, normalised as Go does (SESSION.md §2); default ws://localhost:8765. */
  url?: string;
  /** Provider (reverse) role. */
  reverse?: boolean;
  /** Provider only: connector token to add after start-up (autonomy mode). */
  connectorToken?: string;
  /** Local SOCKS5 listener (forward/connector); default 127.0.0.1:9870; port 0 picks one. */
  socksHost?: string;
  socksPort?: number;
  socksUsername?: string;
  socksPassword?: string;
  /** SOCKS5 handshake deadline; default 10 s. */
  socksHandshakeTimeoutMs?: number;
  /** Channels the provider serves on one WebSocket at most; default 16384. */
  maxChannelsPerLink?: number;
  /** The SOCKS5 port also serves HTTP CONNECT (beyond Go); default true. */
  httpConnect?: boolean;
  /** Open the SOCKS5 listener before the WebSocket is up (Go `-i`). */
  socksNoWait?: boolean;
  /** Reconnect with backoff when the WebSocket drops; library default false, CLI default true. */
  reconnect?: boolean;
  /** Retry after an authentication failure instead of stopping. */
  retryAuth?: boolean;
  /** Number of WebSocket connections; default 1. */
  threads?: number;
  /** Provider only: proxy for target dials. */
  upstreamProxy?: string;
  /** Reply to SOCKS clients before the dialing side confirms (Go `-f`). */
  fastOpen?: boolean;
  /** Ignore HTTP(S)_PROXY for the WebSocket dial. */
  noEnvProxy?: boolean;
  /** Extra CA certificate(s) (PEM) for wss://. */
  ca?: string | Buffer;
  /** Skip TLS verification for wss:// (unsafe). */
  insecure?: boolean;
  /** Largest Data payload this side sends; default 1 MiB. */
  bufferSize?: number;
  connectTimeoutMs?: number;
  /** How long a SOCKS request waits for an authenticated WebSocket before 0x03; default 10 s (Go). */
  linkWaitMs?: number;
  /** First reconnect delay; default 1 s (multiplied by 1.5 per failed attempt). */
  reconnectDelayMs?: number;
  /** Cap of the reconnect delay; default 10 min. */
  maxReconnectDelayMs?: number;
  logger?: Logger;
}
