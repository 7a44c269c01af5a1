/** Validation of `-x/--upstream-proxy` (../shared/spec/CLI.md §5); the library does the dialing. */
import { CliError } from './errors.js';

export type UpstreamProxyKind = 'socks5' | 'http';

/** The warning Go prints on stderr for an HTTP proxy. */
export const HTTP_PROXY_UDP_WARNING = 'Warning: HTTP proxy does not support UDP forwarding';

/** Returns the proxy kind, or undefined for an empty value; throws CliError as Go's parseProxy. */
export function checkUpstreamProxy(value: string | undefined): UpstreamProxyKind | undefined {
  if (value === undefined || value === '') return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new CliError('ERR_CLI_PROXY', `invalid proxy URL: ${JSON.stringify(value)}`);
  }
  const scheme = url.protocol.replace(/:$/, '');
  if (scheme === 'socks5') return 'socks5';
  if (scheme === 'http' || scheme === 'https') return 'http';
  throw new CliError('ERR_CLI_PROXY', `unsupported proxy scheme: ${scheme} (supported: socks5, http)`);
}
