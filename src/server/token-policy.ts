/**
 * [linksocks-ts] What a token may do beyond who it is: limits, quota, expiry, the disabled switch.
 * Kept on the token record (`record.policy`), set by POST/PATCH /api/token, the `token` command
 * and the library, persisted with the token (state file, cluster store), and read live: a change
 * applies to open connections at once.
 *
 * Absent fields mean "no limit" / "not disabled". The provider strategy stays where it was, on
 * reverse records (`record.strategy`).
 */
export interface TokenPolicy {
  /** Concurrent channels (SOCKS connections, UDP associations) of the whole token. */
  readonly maxChannels?: number;
  /** Bytes per second in each direction, shared by every channel of the token. */
  readonly rateLimit?: number;
  /** Bytes (both directions together) the token may move per quota period (or ever, without one). */
  readonly quotaBytes?: number;
  /** Length of a quota period in ms, after which usage resets. */
  readonly quotaPeriodMs?: number;
  /** When the token is removed as by DELETE (ms since the epoch). */
  readonly expiresAt?: number;
  /** Refuse new clients and channels, disconnect existing ones; the token and its port stay. */
  readonly disabled?: boolean;
}
