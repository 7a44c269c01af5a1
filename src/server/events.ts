import type { ChannelEventMap } from '../relay/observer.js';
import type { Role } from './tokens.js';

export interface ClientConnectionEvent {
  role: Role;
  /** The plain token: the embedding program owns it; never put it in logs or metric labels. */
  token: string;
  linkId: number;
}

export interface AuthFailedEvent {
  /** The server's reason, as sent in the AuthResponse (`invalid token`, …). */
  reason: string;
  remoteAddress: string;
}

/** Events of LinkSocksServer, for `server.on(...)` with typed payloads. */
export interface LinkSocksServerEvents extends ChannelEventMap {
  'client-connected': [ClientConnectionEvent];
  'client-disconnected': [ClientConnectionEvent];
  'auth-failed': [AuthFailedEvent];
  /** A reverse token's SOCKS5 port could not be bound. */
  listenerError: [token: string, error: Error];
  /**
   * The HTTP(S) server the LinkSocksServer created failed after it started listening (accept
   * failing, …). As for any EventEmitter, without an 'error' listener this is thrown.
   */
  error: [error: Error];
}
