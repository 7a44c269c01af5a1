// A hand-written SOCKS5 UDP ASSOCIATE client for end-to-end tests. Unlike the `socks` package it
// lets the test choose the ATYP of every datagram (1, 3 or 4), authenticate with RFC 1929, keep one
// association open for many datagrams, and close the control connection on purpose.
import dgram from 'node:dgram';
import net from 'node:net';

import { ReplyReader } from './reply-reader.js';
import { withTimeout } from './net.js';

export interface UdpAssociateOptions {
  proxyPort: number;
  /** Where the SOCKS server listens; also the family of the local UDP socket. Default 127.0.0.1. */
  proxyHost?: string;
  username?: string;
  password?: string;
  timeoutMs?: number;
}

export interface UdpReply {
  /** Source of the answer as the proxy wrote it in the SOCKS header. */
  host: string;
  port: number;
  atyp: number;
  data: Buffer;
}

/** ATYP the header of an outgoing datagram uses; 'auto' picks it from the host text. */
export type AtypChoice = 'auto' | 1 | 3 | 4;

export class SocksUdpAssociation {
  private readonly replies: UdpReply[] = [];
  private readonly waiters: Array<(reply: UdpReply) => void> = [];
  /** Replies whose SOCKS header could not be parsed (should stay 0). */
  malformedReplies = 0;

  private constructor(
    readonly control: net.Socket,
    private readonly udp: dgram.Socket,
    readonly relayHost: string,
    readonly relayPort: number,
  ) {
    udp.on('message', (msg) => {
      const reply = parseUdpReply(msg);
      if (reply === null) {
        this.malformedReplies += 1;
        return;
      }
      const waiter = this.waiters.shift();
      if (waiter) waiter(reply);
      else this.replies.push(reply);
    });
  }

  /** Greeting (+ auth), UDP ASSOCIATE with DST 0.0.0.0:0, then binds the local UDP socket. */
  static async open(options: UdpAssociateOptions): Promise<SocksUdpAssociation> {
    const proxyHost = options.proxyHost ?? '127.0.0.1';
    const timeoutMs = options.timeoutMs ?? 10_000;
    const control = net.connect(options.proxyPort, proxyHost);
    control.on('error', () => undefined);
    try {
      await withTimeout(
        new Promise<void>((resolve, reject) => {
          control.once('connect', resolve);
          control.once('error', reject);
        }),
        timeoutMs,
        'SOCKS control connection',
      );
      const { host, port } = await negotiateAssociate(control, options, timeoutMs);
      const family = net.isIPv6(proxyHost) ? 'udp6' : 'udp4';
      const udp = dgram.createSocket(family);
      await new Promise<void>((resolve) => udp.bind(0, proxyHost, resolve));
      // A relay address of 0.0.0.0 / :: means "where you reached the SOCKS server".
      const relayHost = host === '0.0.0.0' || host === '::' ? proxyHost : host;
      return new SocksUdpAssociation(control, udp, relayHost, port);
    } catch (err) {
      control.destroy();
      throw err;
    }
  }

  /** Sends `data` for host:port; `atyp` forces the header's address type (3 sends the text as a name). */
  send(host: string, port: number, data: Buffer, atyp: AtypChoice = 'auto'): void {
    this.udp.send(Buffer.concat([Buffer.from([0, 0, 0]), encodeSocksAddress(host, port, atyp), data]), this.relayPort, this.relayHost);
  }

  /** The next reply (or one received earlier and not yet taken). */
  next(timeoutMs = 5000): Promise<UdpReply> {
    const ready = this.replies.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise<UdpReply>((resolve, reject) => {
      const onReply = (reply: UdpReply): void => {
        clearTimeout(timer);
        resolve(reply);
      };
      const timer = setTimeout(() => {
        const index = this.waiters.indexOf(onReply);
        if (index >= 0) this.waiters.splice(index, 1);
        reject(new Error(`no UDP reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(onReply);
    });
  }

  /**
   * Replies arriving until `count` have been gathered or none came for `quietMs` (lost datagrams
   * must not hang the test; the caller asserts on how many arrived).
   */
  async collect(count: number, quietMs = 2000): Promise<UdpReply[]> {
    const out: UdpReply[] = [];
    while (out.length < count) {
      try {
        out.push(await this.next(quietMs));
      } catch {
        break;
      }
    }
    return out;
  }

  /** Ends the association from the client side: the control connection goes, the UDP socket too. */
  async close(): Promise<void> {
    this.control.destroy();
    await new Promise<void>((resolve) => {
      try {
        this.udp.close(() => resolve());
      } catch {
        resolve(); // already closed
      }
    });
  }
}

async function negotiateAssociate(control: net.Socket, options: UdpAssociateOptions, timeoutMs: number): Promise<{ host: string; port: number }> {
  const reader = new ReplyReader(control);
  try {
    const withAuth = options.username !== undefined;
    control.write(Buffer.from(withAuth ? [5, 1, 2] : [5, 1, 0]));
    const method = await reader.take(2, timeoutMs);
    if (method[0] !== 5 || method[1] !== (withAuth ? 2 : 0)) throw new Error(`unexpected method selection ${method.toString('hex')}`);
    if (withAuth) {
      const user = Buffer.from(options.username ?? '', 'utf8');
      const pass = Buffer.from(options.password ?? '', 'utf8');
      control.write(Buffer.concat([Buffer.from([1, user.length]), user, Buffer.from([pass.length]), pass]));
      const status = await reader.take(2, timeoutMs);
      if (status[1] !== 0) throw new Error(`SOCKS authentication failed (status ${status[1]})`);
    }
    control.write(Buffer.from([5, 3, 0, 1, 0, 0, 0, 0, 0, 0]));
    // Fixed part of the reply first, then the address part whose length depends on ATYP.
    const fixed = await reader.take(5, timeoutMs);
    if (fixed[0] !== 5 || fixed[1] !== 0) throw new Error(`UDP ASSOCIATE refused with reply ${fixed[1]}`);
    const atyp = fixed[3]!;
    const rest = atyp === 1 ? 4 + 2 - 1 : atyp === 4 ? 16 + 2 - 1 : fixed[4]! + 2;
    const tail = await reader.take(rest, timeoutMs);
    const parsed = parseAddress(Buffer.concat([fixed.subarray(3), tail]), 0);
    if (parsed === null) throw new Error('unparsable UDP ASSOCIATE reply');
    return { host: parsed.host, port: parsed.port };
  } finally {
    reader.detach();
  }
}

/** `ATYP ADDR PORT` with the requested type. */
export function encodeSocksAddress(host: string, port: number, atyp: AtypChoice = 'auto'): Buffer {
  const type = atyp !== 'auto' ? atyp : net.isIPv4(host) ? 1 : net.isIPv6(host) ? 4 : 3;
  let address: Buffer;
  if (type === 1) {
    if (!net.isIPv4(host)) throw new Error(`ATYP 1 needs an IPv4 literal, got ${host}`);
    address = Buffer.from([1, ...host.split('.').map(Number)]);
  } else if (type === 4) {
    if (!net.isIPv6(host)) throw new Error(`ATYP 4 needs an IPv6 literal, got ${host}`);
    address = Buffer.concat([Buffer.from([4]), ipv6Bytes(host)]);
  } else {
    const name = Buffer.from(host, 'utf8');
    address = Buffer.concat([Buffer.from([3, name.length]), name]);
  }
  const portBytes = Buffer.alloc(2);
  portBytes.writeUInt16BE(port);
  return Buffer.concat([address, portBytes]);
}

/** IPv6 text (hex groups, optional `::`) → 16 bytes. */
export function ipv6Bytes(text: string): Buffer {
  const [left = '', right] = text.split('::');
  const groups = (part: string): string[] => (part === '' ? [] : part.split(':'));
  const head = groups(left);
  const tail = right === undefined ? [] : groups(right);
  const all = right === undefined ? head : [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail];
  if (all.length !== 8 || all.some((g) => !/^[0-9a-f]{1,4}$/i.test(g))) throw new Error(`unsupported IPv6 text ${text}`);
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

function parseAddress(buf: Buffer, offset: number): { host: string; port: number; atyp: number; end: number } | null {
  const atyp = buf[offset];
  let host: string;
  let portAt: number;
  if (atyp === 1) {
    portAt = offset + 5;
    if (buf.length < portAt + 2) return null;
    host = [...buf.subarray(offset + 1, portAt)].join('.');
  } else if (atyp === 4) {
    portAt = offset + 17;
    if (buf.length < portAt + 2) return null;
    const groups: string[] = [];
    for (let i = offset + 1; i < portAt; i += 2) groups.push(buf.readUInt16BE(i).toString(16));
    host = compressIPv6(groups.join(':'));
  } else if (atyp === 3) {
    const length = buf[offset + 1];
    if (length === undefined) return null;
    portAt = offset + 2 + length;
    if (buf.length < portAt + 2) return null;
    host = buf.toString('utf8', offset + 2, portAt);
  } else {
    return null;
  }
  return { host, port: buf.readUInt16BE(portAt), atyp, end: portAt + 2 };
}

/** RFC 5952 text of an IPv6 address; the WHATWG URL parser canonicalises it independently of src/. */
export function compressIPv6(text: string): string {
  return new URL(`http://[${text}]/`).hostname.slice(1, -1);
}

function parseUdpReply(msg: Buffer): UdpReply | null {
  if (msg.length < 4 || msg[2] !== 0) return null;
  const address = parseAddress(msg, 3);
  if (address === null) return null;
  return { host: address.host, port: address.port, atyp: address.atyp, data: msg.subarray(address.end) };
}
