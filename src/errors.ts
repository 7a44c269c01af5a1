/**
 * The one error family of linksocks-ts. Every error the library or the CLI throws or emits extends
 * LinkSocksError, so a caller can tell ours from anything else with one `instanceof`, switch on a
 * stable `code`, and follow `cause` down to the system error (`ECONNREFUSED`, …) that started it.
 *
 * Code scheme: `ERR_<AREA>_<WHAT>`, upper case. AREA is LINKSOCKS for the tunnel itself (protocol,
 * client, server, tokens, state file, API), and the name of a self-contained part otherwise: SOCKS5
 * (the SOCKS5 server and client), UPSTREAM (dialing through an upstream proxy), CLUSTER (Redis and
 * instance-to-instance links), CLI (flags and
 * environment). Codes are stable; messages may change.
 */

/** The areas a code may name; see the scheme above. */
export type ErrorArea = 'LINKSOCKS' | 'SOCKS5' | 'UPSTREAM' | 'CLI' | 'CLUSTER';

/** A code in the scheme above; the template type rejects codes that leave it at compile time. */
export type LinkSocksErrorCode = `ERR_${ErrorArea}_${string}`;

export interface LinkSocksErrorOptions {
  /** The error this one was made from; kept as `cause`, never flattened into the message only. */
  cause?: unknown;
}

export class LinkSocksError extends Error {
  override readonly name: string = 'LinkSocksError';
  readonly code: LinkSocksErrorCode;

  constructor(code: LinkSocksErrorCode, message: string, options: LinkSocksErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}

/**
 * An option of LinkSocksServer / LinkSocksClient (or of another public function) has the wrong
 * type or is out of range. Thrown by the constructor, so a bad value never reaches a socket.
 */
export class InvalidArgumentError extends LinkSocksError {
  override readonly name = 'InvalidArgumentError';
  declare readonly code: 'ERR_LINKSOCKS_INVALID_ARGUMENT';
  /** The option's name as the caller spelled it (`port`, `authRateLimit.burst`, …). */
  readonly option: string;

  constructor(option: string, message: string) {
    super('ERR_LINKSOCKS_INVALID_ARGUMENT', `invalid option ${option}: ${message}`);
    this.option = option;
  }
}
