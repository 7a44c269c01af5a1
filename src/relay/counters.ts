/**
 * Plain counters kept by the relay. Tests assert teardown through them (no sleeping), and the
 * metrics exporter reads them.
 */
export class RelayCounters {
  /** Channels currently registered on any link (TCP pipes, UDP associations, relay routes). */
  channelsOpen = 0;
  channelsOpened = 0;
  channelsFailed = 0;
  /** Bytes read from local sockets and sent over links, and the reverse. */
  bytesToLink = 0;
  bytesFromLink = 0;
  unknownChannelMessages = 0;
  malformedMessages = 0;
  /** Messages of types this implementation does not use (newer peers' 0x0B and up), ignored. */
  unsupportedMessages = 0;
  /** Data messages that arrived before their Connect and were handed to the channel once it opened. */
  earlyDataFlushed = 0;
  /** Data messages that arrived before their Connect and were dropped (bound, timeout, refused Connect). */
  earlyDataDropped = 0;
  /** Connects with the Resume byte answered "channel expired" (the channel was not held here). */
  resumesRefused = 0;
  /** Times a local socket made its link stop reading (slow reader). */
  inboundPauses = 0;
  /** Times a link made local sockets stop reading (slow WebSocket, or a grace replay window not yet acknowledged). */
  producerPauses = 0;
  /** SOCKS-side UDP associations currently bound to a link. */
  udpAssociationsOpen = 0;
  /** Dialing-side UDP sockets currently open. */
  udpSocketsOpen = 0;
  /** UDP datagrams sent over a link as Data, and received from one and delivered. */
  udpDatagramsToLink = 0;
  udpDatagramsFromLink = 0;
  /** UDP datagrams dropped (congested link, unresolvable target, bad port, send error, cap, grace queue). */
  udpDatagramsDropped = 0;
}
