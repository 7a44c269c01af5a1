import type { ConnectMessage } from '../protocol/index.js';
import type { Link } from './link.js';

/** Disconnect text for a Resume of a channel this side does not hold (newer peers' wording). */
export const CHANNEL_EXPIRED_ERROR = 'channel expired';

/**
 * Re-binds a channel this side still holds to the link a Resume arrived on; returns false when
 * the channel is unknown or expired. Without one, every Resume is for an unknown channel.
 */
export type ResumeChannel = (link: Link, msg: ConnectMessage) => boolean;

/**
 * A Connect carrying the Resume byte (NEWEST.md §3.4) asks to re-bind an existing channel after a
 * reconnect. It never dials: dialing again would splice the peer's stream onto a second
 * connection to the target. A channel already on this link stays as it is (newer peers repeat
 * Resumes); a known channel is re-bound by `resume`, without a ConnectResponse; anything else
 * gets Disconnect "channel expired".
 */
export function answerResume(link: Link, msg: ConnectMessage, resume?: ResumeChannel): void {
  const { channelId } = msg;
  if (link.channels.has(channelId)) {
    // Already here: left as it is, unless the holder wants it (a relay re-bound the far side and
    // the channel exchanges byte counts again, relay/grace.ts).
    resume?.(link, msg);
    return;
  }
  if (resume?.(link, msg)) return;
  link.counters.resumesRefused += 1;
  link.logger.debug({ link: link.id, channel: channelId }, 'Resume for an unknown channel refused');
  link.send({ type: 'disconnect', channelId, error: CHANNEL_EXPIRED_ERROR });
}
