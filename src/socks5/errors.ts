import { LinkSocksError } from '../errors.js';

/**
 * Stable codes of SOCKS5 / HTTP CONNECT errors. One class with a `code`, like undici's errors, so
 * callers switch on `code` and logs stay greppable; messages may change, codes do not.
 */
export type Socks5ErrorCode =
  // Handshake parsing (server side, also used for malformed replies on the client side).
  | 'ERR_SOCKS5_VERSION'
  | 'ERR_SOCKS5_NO_METHODS'
  | 'ERR_SOCKS5_NO_ACCEPTABLE_METHOD'
  | 'ERR_SOCKS5_AUTH_VERSION'
  | 'ERR_SOCKS5_AUTH_FAILED'
  | 'ERR_SOCKS5_ADDRESS_TYPE'
  | 'ERR_SOCKS5_TRUNCATED'
  | 'ERR_SOCKS5_COMMAND_NOT_SUPPORTED'
  | 'ERR_SOCKS5_HANDSHAKE_TIMEOUT'
  | 'ERR_SOCKS5_SOCKET'
  | 'ERR_SOCKS5_HANDLER'
  // HTTP CONNECT on the SOCKS port.
  | 'ERR_SOCKS5_HTTP_MALFORMED'
  | 'ERR_SOCKS5_HTTP_HEADERS_TOO_LARGE'
  | 'ERR_SOCKS5_HTTP_METHOD'
  // Forwarding HTTP proxy: the origin could not be reached, or answered unusably.
  | 'ERR_SOCKS5_HTTP_REFUSED'
  | 'ERR_SOCKS5_HTTP_ORIGIN'
  // Answering a request.
  | 'ERR_SOCKS5_ALREADY_ANSWERED'
  | 'ERR_SOCKS5_SOCKET_CLOSED'
  | 'ERR_SOCKS5_UDP_BIND'
  // UDP datagram headers and address encoding.
  | 'ERR_SOCKS5_UDP_FRAGMENTED'
  | 'ERR_SOCKS5_UDP_FOREIGN'
  | 'ERR_SOCKS5_BAD_ADDRESS'
  // Upstream client.
  | 'ERR_SOCKS5_PROXY_CONNECT'
  | 'ERR_SOCKS5_PROXY_CLOSED'
  | 'ERR_SOCKS5_TIMEOUT'
  | 'ERR_SOCKS5_ABORTED'
  | 'ERR_SOCKS5_UNSUPPORTED_METHOD'
  | 'ERR_SOCKS5_CONNECT_FAILED'
  | 'ERR_SOCKS5_INVALID_ARGUMENT';

export interface Socks5ErrorOptions {
  cause?: unknown;
  /** REP byte of a failed SOCKS reply (client side, ERR_SOCKS5_CONNECT_FAILED). */
  reply?: number;
}

export class Socks5Error extends LinkSocksError {
  override readonly name = 'Socks5Error';
  declare readonly code: Socks5ErrorCode;
  readonly reply: number | undefined;

  constructor(code: Socks5ErrorCode, message: string, options: Socks5ErrorOptions = {}) {
    super(code, message, options);
    this.reply = options.reply;
  }
}
