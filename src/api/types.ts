/**
 * Contract between the HTTP API (src/api) and whatever owns the tokens (the server). The API never
 * imports the server; the server hands it an object implementing TokenAdmin
 * (../shared/spec/API.md §4–§6).
 */

/** Stable codes of token bookkeeping errors, so callers switch on `code`, not on message text. */
export type TokenErrorCode =
  | 'ERR_LINKSOCKS_TOKEN_RESERVED'
  | 'ERR_LINKSOCKS_TOKEN_EXISTS'
  | 'ERR_LINKSOCKS_CONNECTOR_EXISTS'
  | 'ERR_LINKSOCKS_REVERSE_TOKEN_UNKNOWN'
  | 'ERR_LINKSOCKS_REVERSE_TOKEN_REQUIRED'
  | 'ERR_LINKSOCKS_PORT_UNAVAILABLE';

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

export class TokenError extends Error {
  override readonly name = 'TokenError';
  readonly code: TokenErrorCode;

  constructor(code: TokenErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

export interface AddReverseTokenRequest {
  /** Empty or absent: a 16-hex-digit token is generated. */
  token?: string;
  /** 0 or absent: taken from the port pool. Ignored with allowManageConnector. */
  port?: number;
  username?: string;
  password?: string;
  /** Autonomy mode: no SOCKS port, reported as -1. */
  allowManageConnector?: boolean;
}

/** One `/api/status` entry; key order here is the JSON key order (API.md §5). */
export interface TokenStatusEntry {
  token: string;
  type: 'forward' | 'reverse';
  clients_count: number;
  /** Always present for reverse entries (-1 for autonomy/internal tokens), absent for forward. */
  port?: number;
  /** Absent when the reverse token has no connector tokens. */
  connector_tokens?: string[];
}

export interface TokenAdminStatus {
  /** Go-style version string with a leading `v`, e.g. `v1.8.9`. */
  version: string;
  /** Reverse entries first, then forward entries. */
  tokens: TokenStatusEntry[];
}

/** What the HTTP API needs from the server. Add methods throw TokenError on refusal. */
export interface TokenAdmin {
  addForwardToken(token?: string): string;
  addReverseToken(request: AddReverseTokenRequest): { token: string; port: number };
  addConnectorToken(token: string | undefined, reverseToken: string): string;
  /** Removes any kind of token with its dependants; false when the token was unknown. */
  removeToken(token: string): boolean;
  status(): TokenAdminStatus;
}
