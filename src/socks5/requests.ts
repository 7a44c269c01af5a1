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

interface ConnectRequestInit {
  protocol: RequestProtocol;
  socket: Socket;
  host: string;
  port: number;
  addressType: AddressType;
  head: Buffer;
  user?: string;
  session?: string;
}

export function createConnectRequest(init: ConnectRequestInit): PendingRequest<SocksConnectRequest> {
  const { socket, protocol } = init;
  let answered = false;
  const claim = (): void => {
    if (answered) throw new Socks5Error('ERR_SOCKS5_ALREADY_ANSWERED', 'request already answered');
    answered = true;
  };
  const request: SocksConnectRequest = {
    command: 'connect',
    protocol,
    host: init.host,
    port: init.port,
    addressType: init.addressType,
    ...(init.user !== undefined && { user: init.user }),
    ...(init.session !== undefined && { session: init.session }),
    socket,
    head: init.head,
    accept(): Socket {
      claim();
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
      claim();
      endGracefully(socket, failureReply(protocol, code, reason));
    },
  };
  return { request, answered: () => answered };
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
  let answered = false;
  const claim = (): void => {
    if (answered) throw new Socks5Error('ERR_SOCKS5_ALREADY_ANSWERED', 'request already answered');
    answered = true;
  };
  const request: SocksUdpRequest = {
    command: 'udp',
    host: init.host,
    port: init.port,
    socket,
    async accept(): Promise<UdpAssociation> {
      claim();
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
      claim();
      endGracefully(socket, failureReply('socks5', code));
    },
  };
  return { request, answered: () => answered };
}

function failureReply(protocol: RequestProtocol, code: ReplyCode, reason?: RejectReason): Buffer {
  // A "success" code in a rejection would make the client start relaying into a closed socket.
  const failure = code === Reply.Succeeded ? Reply.GeneralFailure : code;
  return protocol === 'http-connect' ? httpResponseForReply(failure, reason) : formatSocksReply(failure);
}
