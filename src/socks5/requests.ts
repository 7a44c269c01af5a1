/**
 * The request objects handed to the server's onRequest callback. Each can be answered once: the
 * answer writes the protocol-specific reply (SOCKS5 or HTTP) and either hands the socket over or
 * closes it.
 */
import type { Socket } from 'node:net';
import { Socks5Error } from './errors.js';
import { HTTP_CONNECT_ESTABLISHED, httpResponseForReply } from './http-connect.js';
import { endGracefully } from './socket-util.js';
import { Reply, type AddressType, type RejectReason, type ReplyCode, type SocksConnectRequest, type SocksUdpRequest, type UdpAssociation } from './types.js';
import { formatSocksReply } from './wire.js';

/** Which protocol the client spoke, hence which reply format it expects. */
export type RequestProtocol = 'socks5' | 'http-connect';

/** A request plus what the server needs to clean up after a throwing callback. */
export interface PendingRequest<T> {
  request: T;
  answered(): boolean;
}

/** How a request is answered when the default (a reply written to the client socket) won't do. */
export interface ConnectAnswer {
  accept(): Socket;
  reject(code: ReplyCode, reason?: RejectReason): void;
}

interface ConnectRequestFields {
  socket: Socket;
  host: string;
  port: number;
  addressType: AddressType;
  head: Buffer;
  user?: string;
  session?: string;
}

/**
 * SOCKS5 and CONNECT requests are answered with their protocol's reply; a forwarding HTTP proxy
 * request has no reply of its own, so its session says what accepting and refusing mean.
 */
type ConnectRequestInit = ConnectRequestFields &
  ({ protocol: RequestProtocol; answer?: undefined } | { protocol: 'http-proxy'; answer: ConnectAnswer });

export function createConnectRequest(init: ConnectRequestInit): PendingRequest<SocksConnectRequest> {
  const { socket } = init;
  const once = answerOnce();
  const answer = init.answer ?? replyAnswer(socket, init.protocol);
  const request: SocksConnectRequest = {
    command: 'connect',
    protocol: init.protocol,
    host: init.host,
    port: init.port,
    addressType: init.addressType,
    ...(init.user !== undefined && { user: init.user }),
    ...(init.session !== undefined && { session: init.session }),
    socket,
    head: init.head,
    accept(): Socket {
      once.claim();
      return answer.accept();
    },
    reject(code: ReplyCode, reason?: RejectReason): void {
      once.claim();
      answer.reject(code, reason);
    },
  };
  return { request, answered: once.answered };
}

/** The default answer: the protocol's reply on the client socket, which then carries the data. */
function replyAnswer(socket: Socket, protocol: RequestProtocol): ConnectAnswer {
  return {
    accept(): Socket {
      if (!socket.destroyed) {
        socket.write(
          protocol === 'http-connect'
            ? HTTP_CONNECT_ESTABLISHED
            : formatSocksReply(Reply.Succeeded, socket.localAddress ?? '0.0.0.0', socket.localPort ?? 0),
        );
      }
      return socket;
    },
    reject(code: ReplyCode, reason?: RejectReason): void {
      endGracefully(socket, failureReply(protocol, code, reason));
    },
  };
}

interface UdpRequestInit {
  socket: Socket;
  host: string;
  port: number;
  /** Binds the relay socket and starts the association (the server knows where to bind). */
  associate(): Promise<{ association: UdpAssociation; boundHost: string; boundPort: number }>;
}

export function createUdpRequest(init: UdpRequestInit): PendingRequest<SocksUdpRequest> {
  const { socket } = init;
  const once = answerOnce();
  const request: SocksUdpRequest = {
    command: 'udp',
    host: init.host,
    port: init.port,
    socket,
    async accept(): Promise<UdpAssociation> {
      once.claim();
      let bound: Awaited<ReturnType<UdpRequestInit['associate']>>;
      try {
        bound = await init.associate();
      } catch (err) {
        endGracefully(socket, formatSocksReply(Reply.GeneralFailure));
        throw err;
      }
      socket.write(formatSocksReply(Reply.Succeeded, bound.boundHost, bound.boundPort));
      return bound.association;
    },
    reject(code: ReplyCode): void {
      once.claim();
      endGracefully(socket, failureReply('socks5', code));
    },
  };
  return { request, answered: once.answered };
}

/** Lets a request be answered once: a second accept or reject throws instead of writing twice. */
function answerOnce(): { claim(): void; answered(): boolean } {
  let answered = false;
  return {
    claim(): void {
      if (answered) throw new Socks5Error('ERR_SOCKS5_ALREADY_ANSWERED', 'request already answered');
      answered = true;
    },
    answered: () => answered,
  };
}

/** The code a rejection reports: a "success" code there would make the client relay into a closed socket. */
export function failureCode(code: ReplyCode): ReplyCode {
  return code === Reply.Succeeded ? Reply.GeneralFailure : code;
}

function failureReply(protocol: RequestProtocol, code: ReplyCode, reason?: RejectReason): Buffer {
  const failure = failureCode(code);
  return protocol === 'http-connect' ? httpResponseForReply(failure, reason) : formatSocksReply(failure);
}
