// A raw TCP client for SOCKS tests that need exact bytes: it records everything received, lets a
// test wait for the next N bytes, and reports when the server closed the connection.
import net from 'node:net';

export class RawClient {
  readonly socket: net.Socket;
  private buffered = Buffer.alloc(0);
  private waiter: { length: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  /** Resolves once the socket closed; with the bytes that were never taken by next(). */
  readonly closed: Promise<Buffer>;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      this.serve();
    });
    this.closed = new Promise<Buffer>((resolve) => {
      socket.once('close', () => {
        this.waiter?.reject(new Error(`closed with ${this.buffered.length} of ${this.waiter.length} bytes`));
        this.waiter = undefined;
        resolve(this.buffered);
      });
    });
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RawClient> {
    return new Promise<RawClient>((resolve, reject) => {
      const socket = net.connect({ port, host, noDelay: true });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawClient(socket));
      });
    });
  }

  /** The next `length` bytes (failure guard: 5 s, or the socket closing first). */
  next(length: number, timeoutMs = 5000): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${length} bytes`)), timeoutMs);
      this.waiter = {
        length,
        resolve: (b) => {
          clearTimeout(timer);
          resolve(b);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.serve();
      if (this.socket.destroyed && this.waiter !== undefined) this.waiter.reject(new Error('socket already closed'));
    });
  }

  write(bytes: Uint8Array | number[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.socket.write(Buffer.from(bytes), (err) => (err ? reject(err) : resolve()));
    });
  }

  destroy(): void {
    this.socket.destroy();
  }

  private serve(): void {
    const waiter = this.waiter;
    if (waiter === undefined || this.buffered.length < waiter.length) return;
    this.waiter = undefined;
    const out = this.buffered.subarray(0, waiter.length);
    this.buffered = this.buffered.subarray(waiter.length);
    waiter.resolve(out);
  }
}

/** Resolves with the close result, or rejects after `ms` (failure guard). */
export function closedWithin(client: RawClient, ms = 5000): Promise<Buffer> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    client.closed,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`socket not closed within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
