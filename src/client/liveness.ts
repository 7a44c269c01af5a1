import type { LogMessage } from '../protocol/index.js';

/**
 * Liveness probes (NEWEST.md §1.5): a server may send a trace LogMessage `probe:{…}` to see that a
 * client is alive; newer clients answer with a trace LogMessage `pong:{"version":"…"}` on the same
 * WebSocket and do not log the probe.
 */
export function isLivenessProbe(msg: LogMessage): boolean {
  return msg.level === 'trace' && msg.msg.startsWith('probe:');
}

/** The answer to a probe; `version` as the API shows it (`v1.2.3`). */
export function livenessPong(version: string): LogMessage {
  return { type: 'log', level: 'trace', msg: `pong:${JSON.stringify({ version })}` };
}
