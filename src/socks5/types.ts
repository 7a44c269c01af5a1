import type { Socket } from 'node:net';

/** SOCKS5 reply codes (RFC 1928 §6). */
export const Reply = {
  Succeeded: 0x00,
  GeneralFailure: 0x01,
  NotAllowed: 0x02,
  NetworkUnreachable: 0x03,
  HostUnreachable: 0x04,
  ConnectionRefused: 0x05,
  TtlExpired: 0x06,
  CommandNotSupported: 0x07,
  AddressTypeNotSupported: 0x08,
} as const;
export type ReplyCode = (typeof Reply)[keyof typeof Reply];

/**
 * Why a request is refused, where the SOCKS reply code alone does not tell an HTTP client: `limit`
 * (too many connections for whoever the client is) is HTTP 429 instead of 403. SOCKS5 clients get
 * the reply code only.
 */
export type RejectReason = 'limit';

export type AddressType = 'ipv4' | 'ipv6' | 'domain';

export interface Socks5Credentials {
  username: string;
  password: string;
}

export interface Socks5ServerOptions {
  /** Listen host; default 127.0.0.1. */
  host?: string;
  /** Listen port; 0 picks a free one. */
  port: number;
  /** When set, RFC 1929 username/password is required (no-auth is refused). */
  credentials?: Socks5Credentials;
  /** Greeting + auth + request must complete within this time; default 30 s. */
  handshakeTimeoutMs?: number;
  /**
   * Serve HTTP on the same port (the first byte tells them apart): CONNECT tunnels and forwarded
   * absolute-form requests (`GET http://…`); default true. The name predates the forwarding proxy.
   */
  httpConnect?: boolean;
  /** How long an HTTP proxy connection may wait for its next request; default 60 s. */
  httpKeepAliveTimeoutMs?: number;
  /** Idle timeout of UDP associations; default 5 min. */
  udpIdleTimeoutMs?: number;
  /** Accept `NAME-session-TAG` as user NAME and pass TAG on as the request's `session`. */
  sessionTags?: boolean;
}

/** A parsed, authenticated CONNECT request waiting for the proxy's decision. */
export interface SocksConnectRequest {
  command: 'connect';
  /**
   * How the client asked: SOCKS5 CONNECT, HTTP CONNECT, or a forwarded HTTP request (one request
   * per origin of an HTTP proxy connection) on the same port (informational).
   */
  protocol?: 'socks5' | 'http-connect' | 'http-proxy';
  host: string;
  port: number;
  addressType: AddressType;
  /** The authenticated user name (SOCKS5 and HTTP CONNECT with credentials), without a session tag. */
  user?: string;
  /** The session tag of a `NAME-session-TAG` user name (when the server accepts session tags). */
  session?: string;
  /** The client's TCP socket; paused until accept() or reject(). */
  socket: Socket;
  /** Bytes the client sent after its request (pipelined data); forward them first. */
  head: Buffer;
  /**
   * Send the success reply; the caller then owns the returned stream and relays it (it resumes
   * it). That is `socket` itself, except for `http-proxy` requests: there it is the stream of
   * this origin's requests (the proxy keeps the client socket and rewrites requests into it).
   */
  accept(): Socket;
  /** Send a failure reply with this code (an HTTP status for HTTP clients) and close the socket. */
  reject(code: ReplyCode, reason?: RejectReason): void;
}

export interface UdpDatagram {
  host: string;
  port: number;
  addressType: AddressType;
  data: Buffer;
}

/** The SOCKS-side UDP relay of one UDP ASSOCIATE. */
export interface UdpAssociation {
  /** Datagrams from the SOCKS client, header stripped. */
  on(event: 'datagram', listener: (d: UdpDatagram) => void): this;
  /** The control connection closed or the association idled out; sockets are closed already. */
  on(event: 'close', listener: () => void): this;
  /** Send a reply datagram to the SOCKS client, with `fromHost:fromPort` in the SOCKS header. */
  send(fromHost: string, fromPort: number, data: Buffer): void;
  close(): void;
  /** Client datagrams dropped so far (foreign sender, fragmented, truncated, bad ATYP). */
  readonly dropped?: number;
}

export interface SocksUdpRequest {
  command: 'udp';
  /** DST.ADDR/DST.PORT of the request (usually 0.0.0.0:0; informational). */
  host: string;
  port: number;
  socket: Socket;
  /** Bind the UDP relay socket on the listener's host and send the success reply. */
  accept(): Promise<UdpAssociation>;
  reject(code: ReplyCode, reason?: RejectReason): void;
}

export type SocksRequest = SocksConnectRequest | SocksUdpRequest;
