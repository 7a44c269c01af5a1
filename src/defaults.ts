/** Defaults both sides share; each side's complete set is in server/options.ts and client/options.ts. */

/** Port of the WebSocket/API listener (Go `-P`), and so of the default client URL. */
export const DEFAULT_SERVER_PORT = 8765;

/** Largest Data payload a side sends (Go's `-b` read buffer): 1 MiB. */
export const DEFAULT_BUFFER_SIZE = 1024 * 1024;

/** Listeners a user can reach bind to loopback unless asked otherwise. */
export const LOOPBACK_HOST = '127.0.0.1';

/** Port of a forward client's SOCKS5 listener, and of a reverse token's in the CLI (Go `-p`). */
export const DEFAULT_SOCKS_PORT = 9870;

/** SOCKS5 handshake deadline of our SOCKS5 listeners. */
export const DEFAULT_SOCKS_HANDSHAKE_TIMEOUT_MS = 10_000;

/** Target dial timeout, DNS included (Go: 10 s). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
