/**
 * The stream the relay carries for one origin of an HTTP proxy connection. To the relay it is the
 * "client socket" of an ordinary CONNECT request: it reads the proxy's rewritten requests from it
 * and writes the origin's bytes into it. The proxy session sits on the other side and sees each
 * write, the relay's end of stream (the origin's FIN) and the teardown.
 */
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';

export interface OriginStreamSink {
  /** Origin bytes from the relay; call `release` once they may count as consumed (backpressure). */
  onOriginData(chunk: Buffer, release: () => void): void;
  /** The relay ended the stream: the origin finished sending. */
  onOriginEnd(): void;
  /** The stream is gone (either side destroyed it). */
  onOriginClose(): void;
  /** The relay wants more request bytes. */
  onRequestWanted(): void;
}

export class OriginStream extends Duplex {
  constructor(
    private readonly sink: OriginStreamSink,
    private readonly client: Socket,
  ) {
    // allowHalfOpen: the relay passes the origin's FIN on while requests may still be sent.
    super({ allowHalfOpen: true, readableHighWaterMark: 64 * 1024, writableHighWaterMark: 64 * 1024 });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.sink.onOriginData(chunk, () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.sink.onOriginEnd();
    callback();
  }

  override _read(): void {
    this.sink.onRequestWanted();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.sink.onOriginClose();
    callback(error);
  }

  // The net.Socket members the relay may use on the streams it is handed.

  resetAndDestroy(): this {
    return this.destroy();
  }

  setNoDelay(): this {
    return this;
  }

  setKeepAlive(): this {
    return this;
  }

  get remoteAddress(): string | undefined {
    return this.client.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.client.remotePort;
  }

  get localAddress(): string | undefined {
    return this.client.localAddress;
  }

  get localPort(): number | undefined {
    return this.client.localPort;
  }

  /** The relay's view: it relays streams typed as sockets; this one has every member it uses. */
  asSocket(): Socket {
    return this as unknown as Socket;
  }
}
