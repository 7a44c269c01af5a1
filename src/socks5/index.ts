// The SOCKS5 layer: protocol only, no knowledge of tokens or WebSockets.
export { Socks5Server, DEFAULT_HANDSHAKE_TIMEOUT_MS, DEFAULT_SOCKS_HOST, DEFAULT_UDP_IDLE_TIMEOUT_MS } from './server.js';
export type { HandshakeErrorInfo, Socks5ServerEvents } from './server.js';
export { socks5Connect, socks5UdpAssociate, describeReply } from './client.js';
export type { Socks5ConnectOptions, Socks5Connection, Socks5ProxyOptions } from './client.js';
export { Socks5UdpRelay } from './udp-client.js';
export type { Socks5UdpMessage } from './udp-client.js';
export { Socks5Error } from './errors.js';
export type { Socks5ErrorCode } from './errors.js';
export { encodeAddress, canonicalHost } from './address.js';
export { buildUdpDatagram, parseUdpDatagram } from './udp-datagram.js';
export * from './types.js';
