// A raw HTTP/1.1 client connection for proxy tests: writes exact bytes (pipelined, hostile) and
// reads responses one by one with its own small parser (independent of the code under test).
import net from 'node:net';

import { withTimeout } from './net.js';

export interface WireResponse {
  status: number;
  /** The status line. */
  statusLine: string;
  /** Header names lower-cased; repeated headers joined with ', '. */
  headers: Map<string, string>;
  body: Buffer;
}

export class HttpWire {
  readonly socket: net.Socket;
  /** Received, unparsed bytes, kept as a list so a large body is not copied on every read. */
  private chunks: Buffer[] = [];
  private size = 0;
  private wake: (() => void) | undefined;
  private ended = false;
  /** The error the socket closed with (ECONNRESET for a reset), if any. */
  error: NodeJS.ErrnoException | undefined;
  readonly closed: Promise<void>;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.size += chunk.length;
      this.wake?.();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.error = err;
    });
    socket.on('end', () => {
      this.ended = true;
      this.wake?.();
    });
    this.closed = new Promise<void>((resolve) =>
      socket.once('close', () => {
        this.ended = true;
        this.wake?.();
        resolve();
      }),
    );
  }

  static connect(port: number, host = '127.0.0.1'): Promise<HttpWire> {
    return new Promise<HttpWire>((resolve, reject) => {
      const socket = net.connect({ port, host, noDelay: true });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new HttpWire(socket));
      });
    });
  }

  write(data: string | Buffer): Promise<void> {
    return new Promise<void>((resolve, reject) => this.socket.write(data, (err) => (err ? reject(err) : resolve())));
  }

  /** Bytes received and not yet parsed. */
  get pending(): Buffer {
    return this.flat();
  }

  /** The next response (for a `method` request); rejects if the connection ends first. */
  response(method = 'GET', timeoutMs = 10_000): Promise<WireResponse> {
    return withTimeout(this.readResponse(method), timeoutMs, 'HTTP response');
  }

  /** Everything until the connection closes (after any parsed responses). */
  async rest(timeoutMs = 10_000): Promise<Buffer> {
    await withTimeout(this.closed, timeoutMs, 'connection close');
    return this.take(this.size);
  }

  destroy(): void {
    this.socket.destroy();
  }

  private flat(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  private take(length: number): Buffer {
    const all = this.flat();
    const out = Buffer.from(all.subarray(0, length));
    this.chunks = length < all.length ? [all.subarray(length)] : [];
    this.size -= out.length;
    return out;
  }

  private async readResponse(method: string): Promise<WireResponse> {
    let headEnd = this.flat().indexOf('\r\n\r\n');
    while (headEnd < 0) {
      await this.more('response head');
      headEnd = this.flat().indexOf('\r\n\r\n');
    }
    const lines = this.take(headEnd + 4).toString('latin1', 0, headEnd).split('\r\n');
    const statusLine = lines[0] ?? '';
    const status = Number(statusLine.split(' ')[1]);
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      const key = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers.set(key, headers.has(key) ? `${headers.get(key)}, ${value}` : value);
    }
    const body = await this.readBody(status, headers, method);
    return { status, statusLine, headers, body };
  }

  private async readBody(status: number, headers: Map<string, string>, method: string): Promise<Buffer> {
    if (method === 'HEAD' || status < 200 || status === 204 || status === 304 || (method === 'CONNECT' && status < 300)) return Buffer.alloc(0);
    if (headers.get('transfer-encoding')?.toLowerCase() === 'chunked') {
      const parts: Buffer[] = [];
      for (;;) {
        let lineEnd = this.flat().indexOf('\r\n');
        while (lineEnd < 0) {
          await this.more('chunk size');
          lineEnd = this.flat().indexOf('\r\n');
        }
        const chunkSize = Number.parseInt(this.take(lineEnd + 2).toString('latin1'), 16);
        while (this.size < chunkSize + 2) await this.more('chunk data');
        if (chunkSize === 0) {
          this.take(2); // the empty line after the last chunk (no trailers expected)
          return Buffer.concat(parts);
        }
        parts.push(this.take(chunkSize));
        this.take(2);
      }
    }
    const length = headers.get('content-length');
    if (length !== undefined) {
      while (this.size < Number(length)) await this.more('body');
      return this.take(Number(length));
    }
    while (!this.ended) await this.more('close-delimited body', true);
    return this.take(this.size);
  }

  private more(what: string, endIsFine = false): Promise<void> {
    if (this.ended) {
      return endIsFine ? Promise.resolve() : Promise.reject(new Error(`connection ended while reading ${what} (${this.error?.code ?? 'clean end'})`));
    }
    return new Promise<void>((resolve) => {
      this.wake = () => {
        this.wake = undefined;
        resolve();
      };
    });
  }
}
