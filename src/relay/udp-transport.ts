/**
 * Where the datagrams of one dialing-side UDP channel go out and where the replies come from: a
 * local UDP socket (udp-direct-transport.ts) or a UDP association on a SOCKS5 upstream proxy
 * (udp-socks5-transport.ts). The channel (udp-dialing-side.ts) does the protocol and the
 * bookkeeping and does not know which one it has.
 */

/** What a transport reports to its channel. Nothing is reported after `close()`. */
export interface UdpTransportHandlers {
  /** A datagram arrived from `host:port` (as the socket or the proxy reports its source). */
  onDatagram(data: Buffer, host: string, port: number): void;
  /** One datagram could not be sent (unresolvable name, wrong address family, send error). */
  onDrop(): void;
  /** The transport is dead; `reason` is the text of the Disconnect the channel sends. */
  onFailure(reason: string): void;
}

export interface UdpTransport {
  /**
   * Sends one datagram to `host:port`. `host` is an IP literal or a name (resolved locally or by
   * the proxy); `port` is already checked to be 1..65535. Failures are reported to `onDrop`.
   */
  send(host: string, port: number, data: Buffer): void;
  /** Releases the socket(s) at once. */
  close(): void;
}

/**
 * Opens a transport for one channel. Rejects with an Error whose message is the text of the
 * failed ConnectResponse (what Go would write for the same failure).
 */
export type UdpTransportOpener = (handlers: UdpTransportHandlers) => Promise<UdpTransport>;
