import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { LinkSocksServerOptions, ReverseTokenOptions, ServerStatus } from './options.js';

/**
 * LinkSocks server: one HTTP port for the WebSocket endpoint and the token API.
 * (Skeleton: the implementation lands with the forward-mode work.)
 */
export class LinkSocksServer extends EventEmitter {
  readonly options: LinkSocksServerOptions;

  constructor(options: LinkSocksServerOptions = {}) {
    super();
    this.options = options;
  }

  /** Adds a forward token; generates one when empty. Returns the token. Throws TokenError. */
  addForwardToken(token?: string): string {
    void token;
    throw new Error('not implemented');
  }

  /** Adds a reverse token with its SOCKS5 port (-1 for autonomy). Throws TokenError. */
  addReverseToken(options: ReverseTokenOptions = {}): { token: string; port: number } {
    void options;
    throw new Error('not implemented');
  }

  /** Adds a connector token mapped to a reverse token; generates one when empty. Throws TokenError. */
  addConnectorToken(token: string | undefined, reverseToken: string): string {
    void token;
    void reverseToken;
    throw new Error('not implemented');
  }

  /** Removes any token, closing its connections and listener. Unknown tokens are ignored (as Go). */
  removeToken(token: string): void {
    void token;
    throw new Error('not implemented');
  }

  status(): ServerStatus {
    throw new Error('not implemented');
  }

  /** Starts listening. Resolves once the HTTP port is bound. */
  async start(): Promise<void> {
    throw new Error('not implemented');
  }

  /** The bound HTTP address after start(). */
  address(): AddressInfo {
    throw new Error('not implemented');
  }

  /** Closes listeners, WebSockets and channels. */
  async close(): Promise<void> {
    throw new Error('not implemented');
  }
}
