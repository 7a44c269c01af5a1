// Exact-length reads from a socket whose handshake replies may arrive split or merged (the
// payload helpers insist on exact chunks, which a pipelining proxy does not guarantee).
import type net from 'node:net';

import { withTimeout } from './net.js';

/** Reads exact byte counts from a socket whose replies may arrive split or merged. */
export class ReplyReader {
  private buffered = Buffer.alloc(0);
  private wanted: { length: number; resolve: (b: Buffer) => void } | null = null;
  private ended = false;

  constructor(private readonly socket: net.Socket) {
    socket.on('data', this.onData);
    socket.once('close', this.onClose);
  }

  take(length: number, timeoutMs: number): Promise<Buffer> {
    const read = new Promise<Buffer>((resolve, reject) => {
      if (this.ended && this.buffered.length < length) {
        reject(new Error('control connection closed during the handshake'));
        return;
      }
      this.wanted = { length, resolve };
      this.flush();
    });
    return withTimeout(read, timeoutMs, 'SOCKS handshake reply');
  }

  /** Stops watching the socket; bytes after the reply would be a protocol error anyway. */
  detach(): void {
    this.socket.off('data', this.onData);
    this.socket.off('close', this.onClose);
  }

  private readonly onData = (chunk: Buffer): void => {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    this.flush();
  };

  private readonly onClose = (): void => {
    this.ended = true;
  };

  private flush(): void {
    if (this.wanted === null || this.buffered.length < this.wanted.length) return;
    const { length, resolve } = this.wanted;
    this.wanted = null;
    const out = this.buffered.subarray(0, length);
    this.buffered = this.buffered.subarray(length);
    resolve(out);
  }
}
