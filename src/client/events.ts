import type { Link } from '../relay/link.js';
import type { ChannelEventMap } from '../relay/observer.js';
import type { LinkSocksClientError } from './errors.js';

/** Events of LinkSocksClient, for `client.on(...)` with typed payloads. */
export interface LinkSocksClientEvents extends ChannelEventMap {
  /** The first WebSocket authenticated (and the SOCKS5 port, if any, is open). */
  ready: [];
  /** A WebSocket authenticated (every thread, every reconnect). */
  connected: [link: Link];
  disconnected: [link: Link];
  /** The server announced a new partner count. */
  partners: [count: number];
  /** Fatal: the client has stopped. */
  error: [error: LinkSocksClientError];
}
