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
  private buffered = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  private ended = false;
  /** The error the socket closed with (ECONNRESET for a reset), if any. */
  error: NodeJS.ErrnoException | undefined;
  readonly closed: Promise<void>;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
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
    return this.buffered;
  }

  /** The next response (for a `method` request); rejects if the connection ends first. */
  response(method = 'GET', timeoutMs = 10_000): Promise<WireResponse> {
    return withTimeout(this.readResponse(method), timeoutMs, 'HTTP response');
  }

  /** Everything until the connection closes (after any parsed responses). */
  async rest(timeoutMs = 10_000): Promise<Buffer> {
    await withTimeout(this.closed, timeoutMs, 'connection close');
    const rest = this.buffered;
    this.buffered = Buffer.alloc(0);
    return rest;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private async readResponse(method: string): Promise<WireResponse> {
    for (;;) {
      const headEnd = this.buffered.indexOf('\r\n\r\n');
      if (headEnd >= 0) {
        const lines = this.buffered.toString('latin1', 0, headEnd).split('\r\n');
        const statusLine = lines[0] ?? '';
        const status = Number(statusLine.split(' ')[1]);
        const headers = new Map<string, string>();
        for (const line of lines.slice(1)) {
          const colon = line.indexOf(':');
          const key = line.slice(0, colon).toLowerCase();
          const value = line.slice(colon + 1).trim();
          headers.set(key, headers.has(key) ? `${headers.get(key)}, ${value}` : value);
        }
        const bodyStart = headEnd + 4;
        const body = await this.readBody(bodyStart, status, headers, method);
        if (status >= 100 && status < 200) {
          return { status, statusLine, headers, body: Buffer.alloc(0) };
        }
        return { status, statusLine, headers, body };
      }
      await this.more('response head');
    }
  }

  private async readBody(start: number, status: number, headers: Map<string, string>, method: string): Promise<Buffer> {
    const take = (end: number, next: number): Buffer => {
      const body = Buffer.from(this.buffered.subarray(start, end));
      this.buffered = this.buffered.subarray(next);
      return body;
    };
    if (method === 'HEAD' || status < 200 || status === 204 || status === 304 || (method === 'CONNECT' && status < 300)) return take(start, start);
    if (headers.get('transfer-encoding')?.toLowerCase() === 'chunked') {
      const parts: Buffer[] = [];
      let at = start;
      for (;;) {
        const lineEnd = this.buffered.indexOf('\r\n', at);
        if (lineEnd < 0) {
          await this.more('chunk size');
          continue;
        }
        const size = Number.parseInt(this.buffered.toString('latin1', at, lineEnd), 16);
        if (size === 0) {
          while (this.buffered.indexOf('\r\n', lineEnd + 2) !== lineEnd + 2) await this.more('last chunk');
          this.buffered = this.buffered.subarray(lineEnd + 4);
          return Buffer.concat(parts);
        }
        while (this.buffered.length < lineEnd + 2 + size + 2) await this.more('chunk data');
        parts.push(Buffer.from(this.buffered.subarray(lineEnd + 2, lineEnd + 2 + size)));
        at = lineEnd + 2 + size + 2;
      }
    }
    const length = headers.get('content-length');
    if (length !== undefined) {
      const end = start + Number(length);
      while (this.buffered.length < end) await this.more('body');
      return take(end, end);
    }
    while (!this.ended) await this.more('close-delimited body', true);
    return take(this.buffered.length, this.buffered.length);
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
