import { LinkSocksError } from '../errors.js';

/** Errors the client reports; `retriable` tells the reconnect loop whether to try again. */
export type ClientErrorCode =
  | 'ERR_LINKSOCKS_AUTH'
  | 'ERR_LINKSOCKS_AUTH_TIMEOUT'
  | 'ERR_LINKSOCKS_AUTH_UNEXPECTED'
  | 'ERR_LINKSOCKS_CONNECTION'
  | 'ERR_LINKSOCKS_CONNECTOR'
  | 'ERR_LINKSOCKS_CLOSED';

export class LinkSocksClientError extends LinkSocksError {
  override readonly name: string = 'LinkSocksClientError';
  declare readonly code: ClientErrorCode;
  readonly retriable: boolean;

  constructor(code: ClientErrorCode, message: string, retriable: boolean, options: { cause?: unknown } = {}) {
    super(code, message, options);
    this.retriable = retriable;
  }
}

/** The server refused the token. Not retried unless the client was asked to (`retryAuth`). */
export class AuthError extends LinkSocksClientError {
  override readonly name = 'AuthError';
  /** The server's own reason (`invalid token`, `invalid token format`, …). */
  readonly serverReason: string;

  constructor(message: string, serverReason: string, retriable: boolean) {
    super('ERR_LINKSOCKS_AUTH', message, retriable);
    this.serverReason = serverReason;
  }
}

/** A connector token add/remove failed or timed out. */
export class ConnectorError extends LinkSocksClientError {
  override readonly name = 'ConnectorError';

  constructor(message: string) {
    super('ERR_LINKSOCKS_CONNECTOR', message, false);
  }
}
