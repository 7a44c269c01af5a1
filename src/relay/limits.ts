import type { ConnectMessage } from '../protocol/index.js';
import type { Link } from './link.js';

/** Default cap on channels one WebSocket may hold open at the same time. */
export const DEFAULT_MAX_CHANNELS_PER_LINK = 16_384;

export const TOO_MANY_CHANNELS_ERROR = 'too many channels';

/**
 * Admission check for a Connect arriving on `link`: a peer must not be able to make this side hold
 * unbounded channel records, sockets and buffers through one WebSocket. Beyond `maxChannels`
 * (channels already registered on the link, pending dials and routes included) the Connect is
 * answered with a failed ConnectResponse and a warning is logged; the link stays up.
 *
 * Returns true when the caller may go on with the Connect. A duplicate Connect for a channel id
 * already open is let through: the dialing side ignores it, and refusing it would tear the
 * existing channel down on the peer.
 */
export function admitChannel(link: Link, msg: ConnectMessage, maxChannels = DEFAULT_MAX_CHANNELS_PER_LINK): boolean {
  // A Resume opens nothing new here (resume.ts), and must never get a ConnectResponse.
  if (msg.resume || link.channels.has(msg.channelId) || link.channels.size < maxChannels) return true;
  link.counters.channelsFailed += 1;
  link.logger.warn({ link: link.id, channels: link.channels.size, max: maxChannels }, 'channel limit reached, Connect refused');
  link.send({ type: 'connectResponse', success: false, channelId: msg.channelId, error: TOO_MANY_CHANNELS_ERROR });
  return false;
}
