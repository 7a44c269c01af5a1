import type { Link } from '../relay/link.js';
import type { ChannelEventMap } from '../relay/observer.js';
import type { LinkSocksClientError } from './errors.js';

/** Why a client stopped for good ('close' event, `client.closed`). */
export interface ClientCloseEvent {
  /**
   * The fatal error (authentication refused without `retryAuth`, connection lost without
   * `reconnect`, the SOCKS5 port unusable, …); undefined when the program called close().
   */
  error: LinkSocksClientError | undefined;
}

/** Events of LinkSocksClient, for `client.on(...)` with typed payloads. */
export interface LinkSocksClientEvents extends ChannelEventMap {
  /** The first WebSocket authenticated (and the SOCKS5 port, if any, is open). */
  ready: [];
  /** A WebSocket authenticated (every thread, every reconnect). */
  connected: [link: Link];
  disconnected: [link: Link];
  /** The server announced a new partner count. */
  partners: [count: number];
  /**
   * Fatal: the client has stopped. Emitted only when listened to (and not when start() is still
   * pending: its promise rejects instead); 'close' follows in every case.
   */
  error: [error: LinkSocksClientError];
  /** The client has stopped for good and released its sockets; emitted once. */
  close: [event: ClientCloseEvent];
}
