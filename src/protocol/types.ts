/**
 * LinkSocks binary messages (protocol version 0x01) as typed objects.
 * Layouts: PROTOCOL.md §3. Channel and request ids are canonical lower-case UUID strings.
 */

export const PROTOCOL_VERSION = 0x01;

/** Wire type bytes of LinkSocks v1.7.15. */
export const MessageType = {
  Auth: 0x01,
  AuthResponse: 0x02,
  Connect: 0x03,
  Data: 0x04,
  ConnectResponse: 0x05,
  Disconnect: 0x06,
  Connector: 0x07,
  ConnectorResponse: 0x08,
  Log: 0x09,
  Partners: 0x0a,
} as const;
export type MessageTypeByte = (typeof MessageType)[keyof typeof MessageType];

/**
 * Type bytes newer LinkSocks versions send (NEWEST.md §1.2). This codec decodes them as
 * `unsupported` and receivers ignore them; the names are for logs and tests. Every body is
 * `DataLen u32be` + JSON.
 */
export const NewestMessageType = {
  DirectCapabilities: 0x0b,
  DirectRendezvous: 0x0c,
  DirectStatus: 0x0d,
  ChannelBind: 0x0e,
  ChannelMigrate: 0x0f,
  ChannelMigrateAck: 0x10,
  ChannelDataAck: 0x11,
} as const;

/** Transport of a channel; `unknown` is a protocol byte other than 1/2 (Go parses it, then ignores it). */
export type ChannelProtocol = 'tcp' | 'udp';
export type WireProtocol = ChannelProtocol | 'unknown';

export const Compression = { None: 0, Gzip: 1 } as const;

/** Go compresses a Data payload iff it is at least this long (relay.go DefaultCompressionThreshold). */
export const COMPRESSION_THRESHOLD = 512 * 1024;

export interface AuthMessage {
  type: 'auth';
  token: string;
  reverse: boolean;
  instance: string;
}

export interface AuthResponseMessage {
  type: 'authResponse';
  success: boolean;
  error: string;
  /**
   * Token a server assigned (linksocks.js, for anonymous providers), sent as `TL token` after the
   * success byte; newer Go clients use it instead of the configured token when they reconnect.
   */
  assignedToken?: string;
}

export interface ConnectMessage {
  type: 'connect';
  protocol: WireProtocol;
  channelId: string;
  /** TCP only: host name, dotted IPv4 or IPv6 literal without brackets. */
  address: string;
  port: number;
  /**
   * Newer peers re-send a Connect with a trailing non-zero byte after a reconnect to re-bind an
   * existing channel (NEWEST.md §1.3, §3.4): it must never make the receiver dial. Decoded only
   * when set; the encoder writes the byte (0x01) only when true, as newer peers do.
   */
  resume?: boolean;
}

export interface DataMessage {
  type: 'data';
  protocol: WireProtocol;
  channelId: string;
  /** Wire compression byte: 0 none, 1 gzip, other values are carried raw (as Go does). */
  compression: number;
  /** Decompressed payload. On decode this is a view into the input buffer when uncompressed. */
  data: Buffer;
  /** UDP only: source of a reply datagram (dialing side -> SOCKS side). */
  address: string;
  port: number;
  /** UDP only: destination of a datagram (SOCKS side -> dialing side). */
  targetAddr: string;
  targetPort: number;
  /**
   * Decoded only: the optional 8-byte sequence newer peers append on channels that use their
   * direct path (NEWEST.md §1.3); absent when missing or 0. The encoder never writes it.
   */
  sequence?: bigint;
}

export interface ConnectResponseMessage {
  type: 'connectResponse';
  success: boolean;
  channelId: string;
  error: string;
}

export interface DisconnectMessage {
  type: 'disconnect';
  channelId: string;
  error: string;
}

export type ConnectorOperation = 'add' | 'remove';

export interface ConnectorMessage {
  type: 'connector';
  /** Request id, echoed by the ConnectorResponse; not a data channel. */
  channelId: string;
  connectorToken: string;
  operation: ConnectorOperation;
}

export interface ConnectorResponseMessage {
  type: 'connectorResponse';
  success: boolean;
  channelId: string;
  error: string;
  connectorToken: string;
}

export interface LogMessage {
  type: 'log';
  level: string;
  msg: string;
}

export interface PartnersMessage {
  type: 'partners';
  count: number;
}

/** A type byte this codec does not know (HEAD's 0x0B–0x0D direct-mode messages, future types). */
export interface UnsupportedMessage {
  type: 'unsupported';
  messageType: number;
  body: Buffer;
}

export type Message =
  | AuthMessage
  | AuthResponseMessage
  | ConnectMessage
  | DataMessage
  | ConnectResponseMessage
  | DisconnectMessage
  | ConnectorMessage
  | ConnectorResponseMessage
  | LogMessage
  | PartnersMessage
  | UnsupportedMessage;

/** Messages this implementation may send (never `unsupported`). */
export type OutgoingMessage = Exclude<Message, UnsupportedMessage>;
