// A raw SOCKS5 CONNECT with a caller-chosen address encoding (ATYP 1/3/4 bytes as given), for tests
// that must control what goes on the wire. Returns the reply and, on success, the open tunnel.
import net from 'node:net';

import { ReplyReader } from './reply-reader.js';
import { encodeSocksAddress, type AtypChoice } from './socks-udp.js';
import { withTimeout } from './net.js';

export interface RawConnectOptions {
  proxyHost: string;
  proxyPort: number;
  host: string;
  port: number;
  atyp?: AtypChoice;
  username?: string;
  password?: string;
  timeoutMs?: number;
}

export interface RawConnectResult {
  reply: number;
  /** BND.ADDR ATYP of the reply. */
  boundAtyp: number;
  /** Open tunnel when reply is 0 (caller destroys it); destroyed otherwise. */
  socket: net.Socket;
}

export async function rawSocksConnect(options: RawConnectOptions): Promise<RawConnectResult> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const socket = net.connect(options.proxyPort, options.proxyHost);
  socket.on('error', () => undefined);
  const reader = new ReplyReader(socket);
  try {
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      }),
      timeoutMs,
      'SOCKS connection',
    );
    const withAuth = options.username !== undefined;
    socket.write(Buffer.from(withAuth ? [5, 1, 2] : [5, 1, 0]));
    const method = await reader.take(2, timeoutMs);
    if (method[1] !== (withAuth ? 2 : 0)) throw new Error(`unexpected method selection ${method.toString('hex')}`);
    if (withAuth) {
      const user = Buffer.from(options.username ?? '', 'utf8');
      const pass = Buffer.from(options.password ?? '', 'utf8');
      socket.write(Buffer.concat([Buffer.from([1, user.length]), user, Buffer.from([pass.length]), pass]));
      const status = await reader.take(2, timeoutMs);
      if (status[1] !== 0) throw new Error(`SOCKS authentication failed (status ${status[1]})`);
    }
    socket.write(Buffer.concat([Buffer.from([5, 1, 0]), encodeSocksAddress(options.host, options.port, options.atyp)]));
    const fixed = await reader.take(5, timeoutMs);
    const atyp = fixed[3]!;
    const rest = atyp === 1 ? 5 : atyp === 4 ? 17 : fixed[4]! + 2;
    await reader.take(rest, timeoutMs);
    reader.detach();
    if (fixed[1] !== 0) socket.destroy();
    return { reply: fixed[1]!, boundAtyp: atyp, socket };
  } catch (err) {
    reader.detach();
    socket.destroy();
    throw err;
  }
}
