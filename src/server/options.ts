import type { Server as HttpServer } from 'node:http';
import type { Logger } from '../log.js';

export interface PortRange {
  min: number;
  max: number;
}

export interface LinkSocksServerOptions {
  /** WebSocket/API listen host (Go `-H`); default 0.0.0.0. */
  host?: string;
  /** WebSocket/API listen port (Go `-P`); default 8765; 0 picks a free port. */
  port?: number;
  /** Serve HTTPS/WSS with this PEM certificate chain and key (beyond Go, which needs a TLS front). */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Mount on this existing HTTP(S) server instead of creating one (host/port are then ignored). */
  httpServer?: HttpServer;
  /** Bind host of reverse-token SOCKS5 listeners (Go `-s`); default 127.0.0.1. */
  socksHost?: string;
  /** Port pool for reverse tokens; default 1024–10240. */
  portPool?: PortRange;
  /** Enables the HTTP API (Go `-k`). */
  apiKey?: string;
  /** Reverse-token SOCKS5 ports also serve HTTP CONNECT (beyond Go); default true. */
  httpConnect?: boolean;
  /** Reverse SOCKS5 listeners reply success before the provider has connected (Go `-f`). */
  fastOpen?: boolean;
  /** Proxy for forward-mode target dials: socks5://… or http://… (Go `-x`). */
  upstreamProxy?: string;
  /** Largest Data payload this side sends; default 1 MiB (Go `-b` is its read buffer). */
  bufferSize?: number;
  /** Target dial timeout, DNS included; default 10 s. */
  connectTimeoutMs?: number;
  /** How long a reverse SOCKS connection waits for a provider; default 10 s. */
  providerWaitMs?: number;
  /** How long a connector's Connect waits for a provider; default 5 s. */
  connectorWaitProviderMs?: number;
  /** Channels idle this long are closed; default 12 h. */
  channelIdleTimeoutMs?: number;
  /** Serve Prometheus metrics at `/metrics` on the HTTP port (behind the API key when one is set). */
  metrics?: boolean;
  /** Failed authentications allowed per remote address before upgrades get 429; see AuthRateLimiter. */
  authRateLimit?: { burst?: number; refillPerSecond?: number; maxAddresses?: number };
  /** Authenticated WebSockets one token may have at once; default 1024. */
  maxConnectionsPerToken?: number;
  /** Channels one WebSocket may hold open; default 16384. */
  maxChannelsPerLink?: number;
  /** SOCKS5 handshake deadline on reverse-token ports; default 10 s. */
  socksHandshakeTimeoutMs?: number;
  /** Persistent token store (beyond Go); memory only when absent. */
  stateFile?: string;
  logger?: Logger;
}
