import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { LinkSocksClientOptions } from './options.js';

/**
 * LinkSocks client in the forward, connector or provider role.
 * (Skeleton: the implementation lands with the forward-mode work.)
 *
 * Events: 'ready' (first authentication), 'disconnected', 'error' (fatal: auth failure without
 * retry, connection lost without reconnect; the client has stopped).
 */
export class LinkSocksClient extends EventEmitter {
  readonly options: LinkSocksClientOptions;

  constructor(options: LinkSocksClientOptions = {}) {
    super();
    this.options = options;
  }

  /**
   * Connects (and for forward/connector opens the SOCKS5 listener). Resolves once the first
   * WebSocket has authenticated; rejects with the fatal error (e.g. AuthError) otherwise.
   */
  async start(): Promise<void> {
    throw new Error('not implemented');
  }

  /** The local SOCKS5 listener's address (forward/connector role) after start(). */
  socksAddress(): AddressInfo | undefined {
    return undefined;
  }

  /** Provider in autonomy mode: asks the server to add a connector token; resolves to it. */
  async addConnector(token?: string): Promise<string> {
    void token;
    throw new Error('not implemented');
  }

  async removeConnector(token: string): Promise<void> {
    void token;
    throw new Error('not implemented');
  }

  async close(): Promise<void> {
    throw new Error('not implemented');
  }
}
