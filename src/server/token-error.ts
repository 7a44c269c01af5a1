/** Refusals of token bookkeeping (adding a token that exists, a port that is taken, …). */
import { LinkSocksError } from '../errors.js';

/** Stable codes of token bookkeeping errors, so callers switch on `code`, not on message text. */
export type TokenErrorCode =
  | 'ERR_LINKSOCKS_TOKEN_RESERVED'
  | 'ERR_LINKSOCKS_TOKEN_EXISTS'
  | 'ERR_LINKSOCKS_CONNECTOR_EXISTS'
  | 'ERR_LINKSOCKS_REVERSE_TOKEN_UNKNOWN'
  | 'ERR_LINKSOCKS_REVERSE_TOKEN_REQUIRED'
  | 'ERR_LINKSOCKS_PORT_UNAVAILABLE'
  | 'ERR_LINKSOCKS_INVALID_STRATEGY';

/** Go's error texts (server.go `Add*Token`, portpool.go), reproduced exactly for API answers. */
export const TOKEN_ERROR_TEXT = {
  reserved: "'anonymous' is reserved and cannot be used as a token",
  reservedConnector: "'anonymous' is reserved and cannot be used as a connector token",
  exists: 'token already exists',
  connectorExists: 'connector token already exists',
  reverseUnknown: 'reverse token does not exist',
  reverseRequired: 'reverse_token is required for connector token',
  portUnavailable: (port: number): string => `cannot allocate port: ${port}`,
} as const;

export class TokenError extends LinkSocksError {
  override readonly name = 'TokenError';
  declare readonly code: TokenErrorCode;

  constructor(code: TokenErrorCode, message: string) {
    super(code, message);
  }
}
