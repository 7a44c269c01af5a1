/**
 * A dialing-side UDP channel's own socket (what Go always does, MODES.md §8.6): bound dual stack
 * on `[::]:0`, or `0.0.0.0:0` where the host has no IPv6. Names are resolved here, boundedly.
 */
import dgram from 'node:dgram';
import dns from 'node:dns';
import net from 'node:net';
import type { UdpTransport, UdpTransportHandlers, UdpTransportOpener } from './udp-transport.js';

/** Host name resolution: the first address, any family. */
export type UdpLookup = (host: string) => Promise<string>;

/** Distinct names being resolved at once per channel; a flood of fresh names must not fill the thread pool. */
const MAX_PENDING_LOOKUPS = 16;
/**
 * Datagrams waiting for one name's lookup. Datagrams for a name already being resolved join that
 * lookup instead of counting against MAX_PENDING_LOOKUPS: a client sending a burst to one host
 * name (the common case) must not lose everything past the 16th datagram.
 */
const MAX_WAITING_PER_LOOKUP = 64;

/** Opens direct transports; `lookup` defaults to dns.lookup (first address, any family, like Go). */
export function directUdpTransport(lookup: UdpLookup = defaultLookup): UdpTransportOpener {
  return async (handlers) => {
    let bound: { socket: dgram.Socket; family: 4 | 6 };
    try {
      bound = await bindDualStack();
    } catch (err) {
      throw new Error(`listen udp 0.0.0.0:0: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    return new DirectUdpTransport(bound.socket, bound.family, lookup, handlers);
  };
}

class DirectUdpTransport implements UdpTransport {
  /** Name → datagrams (data, port) waiting for its lookup. */
  private readonly pendingLookups = new Map<string, Array<{ data: Buffer; port: number }>>();
  private closed = false;

  constructor(
    private readonly socket: dgram.Socket,
    private readonly family: 4 | 6,
    private readonly lookup: UdpLookup,
    private readonly handlers: UdpTransportHandlers,
  ) {
    socket.on('message', (data, rinfo) => {
      if (!this.closed) handlers.onDatagram(data, rinfo.address, rinfo.port);
    });
    socket.on('error', (err) => {
      if (!this.closed) handlers.onFailure(err.message);
    });
  }

  send(host: string, port: number, data: Buffer): void {
    if (this.closed) return;
    if (net.isIP(host) !== 0) {
      this.sendTo(data, host, port);
      return;
    }
    const waiting = this.pendingLookups.get(host);
    if (waiting !== undefined) {
      if (waiting.length >= MAX_WAITING_PER_LOOKUP) this.handlers.onDrop();
      else waiting.push({ data, port });
      return;
    }
    if (this.pendingLookups.size >= MAX_PENDING_LOOKUPS) {
      this.handlers.onDrop();
      return;
    }
    const queue = [{ data, port }];
    this.pendingLookups.set(host, queue);
    this.lookup(host).then(
      (address) => {
        if (this.closed) return;
        this.pendingLookups.delete(host);
        for (const d of queue) this.sendTo(d.data, address, d.port);
      },
      () => {
        if (this.closed) return;
        this.pendingLookups.delete(host);
        for (let i = 0; i < queue.length; i += 1) this.handlers.onDrop(); // Go drops silently on lookup failure
      },
    );
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pendingLookups.clear();
    closeQuietly(this.socket);
  }

  private sendTo(data: Buffer, address: string, port: number): void {
    let destination = address;
    if (net.isIPv4(address) && this.family === 6) destination = `::ffff:${address}`;
    else if (net.isIPv6(address) && this.family === 4) {
      this.handlers.onDrop(); // an IPv4-only socket cannot reach it
      return;
    }
    // With a callback, send errors (EMSGSIZE, unreachable) concern this datagram only.
    this.socket.send(data, port, destination, (err) => {
      if (err && !this.closed) this.handlers.onDrop();
    });
  }
}

/** `[::]:0` dual stack first, `0.0.0.0:0` when the host has no IPv6. */
async function bindDualStack(): Promise<{ socket: dgram.Socket; family: 4 | 6 }> {
  try {
    return { socket: await bindUdp(dgram.createSocket({ type: 'udp6', ipv6Only: false }), '::'), family: 6 };
  } catch {
    return { socket: await bindUdp(dgram.createSocket('udp4'), '0.0.0.0'), family: 4 };
  }
}

function bindUdp(socket: dgram.Socket, address: string): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      closeQuietly(socket);
      reject(err);
    };
    socket.once('error', onError);
    socket.bind(0, address, () => {
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

async function defaultLookup(host: string): Promise<string> {
  const { address } = await dns.promises.lookup(host);
  return address;
}

/** close() throws when the socket is already closed; either way it ends up closed. */
function closeQuietly(socket: dgram.Socket): void {
  try {
    socket.close();
  } catch {
    // already closed
  }
}
