import net from 'node:net';
import { LinkSocksError } from '../errors.js';
import type { Socket } from 'node:net';

/** Joins host and port the way Go's net.JoinHostPort does (brackets around IPv6 literals). */
export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Error texts in the style of Go's net package, which peers show to users (informational only). */
export function goDialError(err: NodeJS.ErrnoException, host: string, port: number): string {
  const addr = joinHostPort(host, port);
  switch (err.code) {
    case 'ECONNREFUSED':
      return `dial tcp ${addr}: connect: connection refused`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
    case 'EAI_NONAME':
      return `dial tcp: lookup ${host}: no such host`;
    case 'ETIMEDOUT':
      return `dial tcp ${addr}: i/o timeout`;
    case 'EHOSTUNREACH':
      return `dial tcp ${addr}: connect: no route to host`;
    case 'ENETUNREACH':
      return `dial tcp ${addr}: connect: network is unreachable`;
    case 'ECONNRESET':
      return `dial tcp ${addr}: connect: connection reset by peer`;
    case 'EADDRNOTAVAIL':
      return `dial tcp ${addr}: connect: cannot assign requested address`;
    default:
      return `dial tcp ${addr}: ${err.message}`;
  }
}

export class DialError extends LinkSocksError {
  override readonly name = 'DialError';
  declare readonly code: 'ERR_LINKSOCKS_DIAL';

  constructor(message: string, options: { cause?: unknown } = {}) {
    super('ERR_LINKSOCKS_DIAL', message, options);
  }
}

/**
 * Opens a TCP connection with one deadline covering DNS and the handshake (Go: 10 s).
 * The socket is half-open capable (a channel passes each direction's end separately).
 */
export function dialTcp(host: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    // An empty host dials the local machine, as Go does for ":port".
    const socket = net.connect({ host: host || 'localhost', port, allowHalfOpen: true, noDelay: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new DialError(`dial tcp ${joinHostPort(host, port)}: i/o timeout`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeListener('error', onError);
      resolve(socket);
    });
    const onError = (err: NodeJS.ErrnoException): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(new DialError(goDialError(err, host, port), { cause: err }));
    };
    socket.once('error', onError);
  });
}
