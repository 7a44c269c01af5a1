// SOCKS5 client-side helpers for tests: thin wrappers over the `socks` package, curl, and one raw
// CONNECT that exposes the reply code (the package hides it inside an error message).
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';

import { SocksClient } from 'socks';

import { LOCALHOST, withTimeout } from './net.js';
import { collectBytes, writeAll } from './payload.js';

export interface SocksConnectOptions {
  proxyPort: number;
  proxyHost?: string;
  host: string;
  port: number;
  userId?: string;
  password?: string;
  /** Handshake timeout; default 10 s (a Go reverse server may wait up to 10 s for a provider). */
  timeoutMs?: number;
}

/** Opens a SOCKS5 CONNECT tunnel and returns the connected socket (caller destroys it). */
export async function socksConnect(options: SocksConnectOptions): Promise<net.Socket> {
  const { socket } = await SocksClient.createConnection({
    command: 'connect',
    proxy: {
      host: options.proxyHost ?? LOCALHOST,
      port: options.proxyPort,
      type: 5,
      ...(options.userId !== undefined ? { userId: options.userId } : {}),
      ...(options.password !== undefined ? { password: options.password } : {}),
    },
    destination: { host: options.host, port: options.port },
    timeout: options.timeoutMs ?? 10_000,
    set_tcp_nodelay: true,
  });
  return socket;
}

/**
 * Connects through the proxy to an echo server on 127.0.0.1:echoPort, sends `payload` and returns
 * exactly payload.length bytes read back (no EOF wait). The tunnel is destroyed afterwards.
 */
export async function socksEcho(proxyPort: number, echoPort: number, payload: Buffer, timeoutMs = 20_000): Promise<Buffer> {
  const socket = await socksConnect({ proxyPort, host: LOCALHOST, port: echoPort });
  try {
    const received = collectBytes(socket, payload.length, timeoutMs);
    const written = writeAll(socket, payload);
    written.catch(() => undefined);
    const echoed = await received;
    await written;
    return echoed;
  } finally {
    socket.destroy();
  }
}

/** SOCKS5 reply codes (RFC 1928 §6). */
export const SocksReply = {
  succeeded: 0x00,
  generalFailure: 0x01,
  notAllowed: 0x02,
  networkUnreachable: 0x03,
  hostUnreachable: 0x04,
  connectionRefused: 0x05,
  ttlExpired: 0x06,
  commandNotSupported: 0x07,
  addressTypeNotSupported: 0x08,
} as const;

/**
 * Raw no-auth SOCKS5 CONNECT to an IPv4 target; resolves with the reply code (REP byte) and
 * closes the socket. Lets a test assert *which* failure a proxy reports.
 */
export async function socksConnectReply(proxyPort: number, targetHost: string, targetPort: number, timeoutMs = 15_000): Promise<number> {
  const octets = targetHost.split('.').map(Number);
  if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) {
    throw new Error(`socksConnectReply needs an IPv4 literal, got ${targetHost}`);
  }
  const socket = net.connect(proxyPort, LOCALHOST);
  socket.on('error', () => undefined);
  try {
    return await withTimeout(
      (async () => {
        await new Promise<void>((resolve, reject) => {
          socket.once('connect', resolve);
          socket.once('error', reject);
        });
        const greetingReply = collectBytes(socket, 2, timeoutMs);
        socket.write(Buffer.from([0x05, 0x01, 0x00]));
        const method = await greetingReply;
        if (method[0] !== 0x05 || method[1] !== 0x00) throw new Error(`unexpected method reply ${method.toString('hex')}`);
        // Only VER and REP are needed; the address part's length varies and a failing proxy may close.
        const reply = readAtLeast(socket, 2);
        const request = Buffer.alloc(10);
        request.set([0x05, 0x01, 0x00, 0x01, ...octets], 0);
        request.writeUInt16BE(targetPort, 8);
        socket.write(request);
        const head = await reply;
        if (head[0] !== 0x05) throw new Error(`unexpected reply version ${head[0]}`);
        return head[1] as number;
      })(),
      timeoutMs,
      'SOCKS5 CONNECT reply',
    );
  } finally {
    socket.destroy();
  }
}

/** Resolves with everything read once at least `length` bytes arrived (for variable-length replies). */
function readAtLeast(socket: net.Socket, length: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const cleanup = (): void => {
      socket.off('data', onData);
      socket.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      received += chunk.length;
      if (received >= length) {
        cleanup();
        resolve(Buffer.concat(chunks));
      }
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error(`connection closed after ${received} of ${length} reply bytes`));
    };
    socket.on('data', onData);
    socket.on('close', onClose);
  });
}

export interface CurlResult {
  stdout: string;
  stderr: string;
}

/** Fetches `url` with `curl --socks5-hostname` through the proxy; rejects on a non-zero exit. */
export function curlViaSocks(proxyPort: number, url: string, extraArgs: string[] = [], timeoutMs = 20_000): Promise<CurlResult> {
  const args = ['--silent', '--show-error', '--max-time', String(Math.ceil(timeoutMs / 1000)), '--socks5-hostname', `${LOCALHOST}:${proxyPort}`, ...extraArgs, url];
  return new Promise<CurlResult>((resolve, reject) => {
    execFile('curl', args, { timeout: timeoutMs + 2000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`curl failed: ${err.message}\n${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
}

/**
 * A UDP ASSOCIATE through the `socks` package: the control connection (errors ignored: the test
 * closes it) and the relay address the proxy answered, if any.
 */
export async function socksAssociate(
  proxyPort: number,
  timeoutMs?: number,
): Promise<{ control: net.Socket; remoteHost?: { host: string; port: number } }> {
  // createConnection() only accepts CONNECT; ASSOCIATE goes through the event API.
  const client = new SocksClient({
    command: 'associate',
    proxy: { host: LOCALHOST, port: proxyPort, type: 5 },
    destination: { host: '0.0.0.0', port: 0 },
    ...(timeoutMs !== undefined && { timeout: timeoutMs }),
  });
  const established = new Promise<{ socket: net.Socket; remoteHost?: { host: string; port: number } }>((resolve, reject) => {
    client.once('established', resolve);
    client.once('error', reject);
  });
  client.connect();
  const { socket: control, remoteHost } = await established;
  control.on('error', () => undefined);
  return { control, ...(remoteHost !== undefined && { remoteHost }) };
}

/**
 * One UDP ASSOCIATE round trip: sends `data` to 127.0.0.1:targetPort through the proxy's UDP relay
 * and resolves with the first datagram payload that comes back.
 */
export async function socksUdpRoundTrip(proxyPort: number, targetPort: number, data: Buffer, timeoutMs = 10_000): Promise<Buffer> {
  const { control, remoteHost } = await socksAssociate(proxyPort, timeoutMs);
  const udp = dgram.createSocket('udp4');
  try {
    if (!remoteHost) throw new Error('proxy returned no UDP relay address');
    // Proxies often answer 0.0.0.0 as the relay address: that means "the proxy's address".
    const relayHost = remoteHost.host === '0.0.0.0' || remoteHost.host === '::' ? LOCALHOST : remoteHost.host;
    await new Promise<void>((resolve) => udp.bind(0, LOCALHOST, resolve));
    const answer = withTimeout(
      new Promise<Buffer>((resolve) => {
        udp.on('message', (msg) => resolve(SocksClient.parseUDPFrame(msg).data));
      }),
      timeoutMs,
      'SOCKS5 UDP answer',
    );
    udp.send(SocksClient.createUDPFrame({ remoteHost: { host: LOCALHOST, port: targetPort }, data }), remoteHost.port, relayHost);
    return await answer;
  } finally {
    udp.close();
    control.destroy();
  }
}
