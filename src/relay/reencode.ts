import { Compression } from '../protocol/index.js';
import type { ConnectMessage } from '../protocol/index.js';
import type { ChannelMessage, Link } from './link.js';

/**
 * Passes a channel message received from one peer on to another in this implementation's own
 * encoding, never as the bytes received: the sender may be a newer peer (version byte 0x02, a
 * sequence after Data, NEWEST.md §1) and the receiver a v1.7.15 peer that refuses any version
 * byte but 0x01. Uncompressed TCP Data costs no copy on links with direct framing.
 *
 * Returns what Link.send returns: false when the receiving link is congested. Data of an unknown
 * protocol cannot be written (and no peer could use it): it is dropped and counted as malformed.
 */
export function relayChannelMessage(to: Link, msg: ChannelMessage): boolean {
  if (msg.type === 'data') {
    if (msg.protocol === 'tcp' && msg.compression === Compression.None) return to.sendTcpData(msg.channelId, msg.data);
    if (msg.protocol === 'unknown') {
      to.counters.malformedMessages += 1;
      return !to.congested;
    }
  }
  return to.send(msg);
}

/** A Connect passed on to a provider: the same target, our encoding, never a Resume byte. */
export function relayConnect(to: Link, msg: ConnectMessage): boolean {
  return to.send({ type: 'connect', protocol: msg.protocol, channelId: msg.channelId, address: msg.address, port: msg.port });
}
