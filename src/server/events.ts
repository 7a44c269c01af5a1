import type { ChannelEventMap } from '../relay/observer.js';
import type { Role } from './tokens.js';

export interface ClientConnectionEvent {
  role: Role;
  /** The plain token: the embedding program owns it; never put it in logs or metric labels. */
  token: string;
  linkId: number;
  /** `address:port` of the client's TCP connection. */
  remoteAddress: string;
}

export interface ClientDisconnectedEvent extends ClientConnectionEvent {
  /** Bytes received from / sent to the client on its connection (WebSocket framing included). */
  bytesIn: number;
  bytesOut: number;
}

export interface AuthFailedEvent {
  /** The server's reason, as sent in the AuthResponse (`invalid token`, …). */
  reason: string;
  remoteAddress: string;
}

/** A provider left (ejected) or re-entered the rotation of its token (passive health). */
export interface ProviderHealthEvent {
  /** The plain token (see ClientConnectionEvent). */
  token: string;
  linkId: number;
  ejected: boolean;
  /** How long it stays out; 0 when it comes back. */
  backoffMs: number;
}

/** [linksocks-ts] A new channel (or its request) was refused by its token's policy. */
export interface PolicyRefusedEvent {
  /** The plain token (see ClientConnectionEvent). */
  token: string;
  /** `disabled`, `max_channels`, or `quota` (the data-path meter's). */
  reason: 'disabled' | 'max_channels' | 'quota';
}

/** [linksocks-ts] A token's quota became used up: its channels are closed, new ones refused. */
export interface QuotaExhaustedEvent {
  /** The plain token (see ClientConnectionEvent). */
  token: string;
  quotaBytes: number;
  /** RFC 3339 time the usage resets, for a quota with a period. */
  resetsAt?: string;
}

/** Events of LinkSocksServer, for `server.on(...)` with typed payloads. */
export interface LinkSocksServerEvents extends ChannelEventMap {
  'client-connected': [ClientConnectionEvent];
  'client-disconnected': [ClientDisconnectedEvent];
  /** [linksocks-ts] kickClient() is closing this client's connection ('client-disconnected' follows). */
  'client-kicked': [ClientConnectionEvent];
  'auth-failed': [AuthFailedEvent];
  'provider-health': [ProviderHealthEvent];
  'policy-refused': [PolicyRefusedEvent];
  'quota-exhausted': [QuotaExhaustedEvent];
  /** A reverse token's SOCKS5 port could not be bound. */
  'listener-error': [token: string, error: Error];
  /**
   * @deprecated The same event under its old name (emitted too, for programs written against
   * it); use `listener-error`.
   */
  listenerError: [token: string, error: Error];
  /** drain() was called: no new connections or channels from now on. */
  draining: [{ timeoutMs: number }];
  /**
   * The HTTP(S) server the LinkSocksServer created failed after it started listening (accept
   * failing, …). As for any EventEmitter, without an 'error' listener this is thrown.
   */
  error: [error: Error];
}
