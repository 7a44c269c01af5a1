import { LinkSocksError } from '../errors.js';

/** Stable codes of command-line errors; every one of them ends the program with status 1. */
export type CliErrorCode =
  | 'ERR_CLI_INVALID_FLAG' // a flag value that does not parse or is out of range
  | 'ERR_CLI_INVALID_ENV' // a LINKSOCKS_* variable that does not parse
  | 'ERR_CLI_PROXY' // an upstream proxy URL that cannot be used
  | 'ERR_CLI_UNSUPPORTED'; // a Go flag value this implementation cannot honour

/** A configuration error found before any library object is created. */
export class CliError extends LinkSocksError {
  override readonly name = 'CliError';
  declare readonly code: CliErrorCode;

  constructor(code: CliErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
  }
}
