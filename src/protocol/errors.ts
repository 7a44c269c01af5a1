import { LinkSocksError } from '../errors.js';

/** Stable codes of codec errors; one class, like undici's errors, so callers can switch on `code`. */
export type ProtocolErrorCode =
  | 'ERR_LINKSOCKS_TRUNCATED'
  | 'ERR_LINKSOCKS_VERSION'
  | 'ERR_LINKSOCKS_BAD_FIELD'
  | 'ERR_LINKSOCKS_STRING_TOO_LONG'
  | 'ERR_LINKSOCKS_GZIP'
  | 'ERR_LINKSOCKS_TOO_LARGE'
  | 'ERR_LINKSOCKS_JSON';

export class ProtocolError extends LinkSocksError {
  override readonly name = 'ProtocolError';
  declare readonly code: ProtocolErrorCode;
  /** Channel id of the offending message when it could be read, so the relay can close just that channel. */
  readonly channelId: string | undefined;

  constructor(code: ProtocolErrorCode, message: string, channelId?: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
    this.channelId = channelId;
  }
}
