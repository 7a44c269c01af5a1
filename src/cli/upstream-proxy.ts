/**
 * Validation of `-x/--upstream-proxy` (../shared/spec/CLI.md §5) at flag-parsing time, with the
 * library's own parser so the CLI and the dialer accept exactly the same URLs.
 */
import { parseUpstreamProxy, UpstreamProxyError, type UpstreamProxyKind } from '../relay/upstream.js';
import { CliError } from './errors.js';

export type { UpstreamProxyKind };

/** The warning Go prints on stderr for an HTTP proxy. */
export const HTTP_PROXY_UDP_WARNING = 'Warning: HTTP proxy does not support UDP forwarding';

/** Returns the proxy kind, or undefined for an empty value; throws CliError with Go's wording. */
export function checkUpstreamProxy(value: string | undefined): UpstreamProxyKind | undefined {
  if (value === undefined || value === '') return undefined;
  try {
    return parseUpstreamProxy(value).kind;
  } catch (err) {
    if (err instanceof UpstreamProxyError) throw new CliError('ERR_CLI_PROXY', err.message, { cause: err });
    throw err;
  }
}
