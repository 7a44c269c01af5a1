// In-memory stand-ins for the unit tests: a real Link over a fake WebSocket (every frame the link
// sends is recorded and decoded; the test plays the peer), a local socket made of a Duplex, and
// fake timers that leave the event loop's own ticks (setImmediate, nextTick) alone.
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import FakeTimers from '@sinonjs/fake-timers';
import type { WebSocket } from 'ws';
import { decodeMessage, encodeMessage } from '../../src/protocol/index.js';
import type { Message, OutgoingMessage } from '../../src/protocol/index.js';
import { RelayCounters } from '../../src/relay/counters.js';
import { Link } from '../../src/relay/link.js';
import type { ChannelMessage, LinkOptions } from '../../src/relay/link.js';

const realSetImmediate = setImmediate;

/** Lets pending stream callbacks and promise reactions run (real ticks, never faked). */
export async function flush(rounds = 3): Promise<void> {
  for (let i = 0; i < rounds; i += 1) await new Promise<void>((resolve) => realSetImmediate(resolve));
}

/** Fakes timers and Date only; streams keep their real nextTick/setImmediate. */
export function installClock(): FakeTimers.Clock {
  return FakeTimers.install({
    now: 1_700_000_000_000,
    toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'],
  });
}

/** The WebSocket surface Link uses, with the wire replaced by arrays. */
class FakeWebSocket extends EventEmitter {
  binaryType = 'nodebuffer';
  bufferedAmount = 0;
  paused = false;
  terminated = false;
  readonly frames: Buffer[] = [];

  send(data: Buffer): void {
    this.frames.push(Buffer.from(data));
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  ping(): void {}
  pong(): void {}
  close(): void {
    this.terminate();
  }
  terminate(): void {
    if (this.terminated) return;
    this.terminated = true;
    this.emit('close');
  }
}

export interface FakeLink {
  link: Link;
  counters: RelayCounters;
  /** Every message the link sent, decoded, in order. */
  readonly sent: Message[];
  /** The raw frames the link sent. */
  readonly frames: Buffer[];
  /** The peer sends `msg` (encoded, so the link decodes it as it would off the wire). */
  deliver(msg: OutgoingMessage): Buffer;
  /** Sets the WebSocket's unsent bytes (above the high-water mark = congested). */
  setBuffered(bytes: number): void;
  /** The socket under the WebSocket drained (call setBuffered first). */
  drain(): void;
  /** True while the link does not read its WebSocket. */
  readonly inboundPaused: boolean;
  /** The WebSocket closes. */
  close(): void;
  /** Messages sent on `channelId`, of `type` when given. */
  sentOn(channelId: string, type?: Message['type']): Message[];
}

export function fakeLink(options: LinkOptions = {}): FakeLink {
  const ws = new FakeWebSocket();
  const socket = new EventEmitter();
  const counters = new RelayCounters();
  const link = new Link(ws as unknown as WebSocket, socket as unknown as Socket, {
    highWaterMark: 1000,
    channelIdleTimeoutMs: 0,
    ...options,
    counters,
  });
  return {
    link,
    counters,
    get sent() {
      return ws.frames.map((frame) => decodeMessage(frame));
    },
    frames: ws.frames,
    deliver(msg) {
      const raw = encodeMessage(msg);
      ws.emit('message', raw);
      return raw;
    },
    setBuffered(bytes) {
      ws.bufferedAmount = bytes;
    },
    drain() {
      socket.emit('drain');
    },
    get inboundPaused() {
      return ws.paused;
    },
    close() {
      ws.terminate();
    },
    sentOn(channelId, type) {
      return this.sent.filter((m) => 'channelId' in m && m.channelId === channelId && (type === undefined || m.type === type));
    },
  };
}

/**
 * A local TCP socket without a network: `fromLocal` is what the local application writes to us,
 * `written` what we wrote to it. With `holdWrites`, writes stay pending (a reader that does not
 * read) until `releaseWrites`.
 */
export class FakeSocket extends Duplex {
  readonly written: Buffer[] = [];
  /** We sent FIN (end() finished). */
  finSent = false;
  /** We reset the connection (RST: resetAndDestroy), as a broken channel must. */
  resetSent = false;
  holdWrites = false;
  private held: Array<() => void> = [];

  constructor(options: { writableHighWaterMark?: number } = {}) {
    super({ allowHalfOpen: true, writableHighWaterMark: options.writableHighWaterMark });
  }

  fromLocal(data: Buffer | string): void {
    this.push(typeof data === 'string' ? Buffer.from(data) : data);
  }

  /** The local application finished sending (FIN from it). */
  endLocal(): void {
    this.push(null);
  }

  releaseWrites(): void {
    this.holdWrites = false;
    for (const done of this.held.splice(0)) done();
  }

  get writtenText(): string {
    return Buffer.concat(this.written).toString();
  }

  override _read(): void {}

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.written.push(chunk);
    if (this.holdWrites) this.held.push(() => callback());
    else callback();
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.finSent = true;
    callback();
  }

  resetAndDestroy(): this {
    this.resetSent = true;
    return this.destroy();
  }

  asSocket(): Socket {
    return this as unknown as Socket;
  }
}

/** A Data message as the peer would send it. */
export function tcpData(channelId: string, data: Buffer | string): ChannelMessage & OutgoingMessage {
  return {
    type: 'data',
    protocol: 'tcp',
    channelId,
    compression: 0,
    data: typeof data === 'string' ? Buffer.from(data) : data,
    address: '',
    port: 0,
    targetAddr: '',
    targetPort: 0,
  };
}
