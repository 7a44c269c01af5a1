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
  | 'ERR_LINKSOCKS_INVALID_STRATEGY'
  /** [linksocks-ts] A policy field (max_channels, expires_at, …) has a bad value; `field` names it. */
  | 'ERR_LINKSOCKS_INVALID_POLICY'
  /** [linksocks-ts] A change (PATCH) names a token that does not exist. */
  | 'ERR_LINKSOCKS_TOKEN_UNKNOWN';

/** Go's error texts (server.go `Add*Token`, portpool.go), reproduced exactly for API answers. */
export const TOKEN_ERROR_TEXT = {
  reserved: "'anonymous' is reserved and cannot be used as a token",
  reservedConnector: "'anonymous' is reserved and cannot be used as a connector token",
  exists: 'token already exists',
  connectorExists: 'connector token already exists',
  reverseUnknown: 'reverse token does not exist',
  reverseRequired: 'reverse_token is required for connector token',
  portUnavailable: (port: number): string => `cannot allocate port: ${port}`,
  /** [linksocks-ts] Not Go's: PATCH /api/token/{token} of a token that does not exist. */
  unknown: 'token not found',
} as const;

export class TokenError extends LinkSocksError {
  override readonly name = 'TokenError';
  declare readonly code: TokenErrorCode;

  /** [linksocks-ts] The API field a policy error is about (`max_channels`, …). */
  readonly field: string | undefined;

  constructor(code: TokenErrorCode, message: string, field?: string) {
    super(code, message);
    this.field = field;
  }
}
