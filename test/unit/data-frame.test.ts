// The relay's fast path (relay/data-frame.ts) writes WebSocket frames itself, next to `ws`. These
// tests read what it writes with `ws`'s own Receiver, at the frame-length boundaries, and pin the
// private fields of `ws` that decide whether the fast path may run at all.
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { expect } from 'chai';
import * as wsModule from 'ws';
import { WebSocket } from 'ws';
import { DATA_HEADER_LENGTH, decodeMessage, encodeTcpData } from '../../src/protocol/index.js';
import { canWriteDirect, writeTcpDataFrame } from '../../src/relay/data-frame.js';
import type { DirectFraming } from '../../src/relay/data-frame.js';
import { Link } from '../../src/relay/link.js';
import { flush } from './fakes.js';

const CH = 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d';

/** The parts of ws's Receiver and Sender used here (exported by `ws`, not in its type definitions). */
interface ReceiverLike extends NodeJS.WritableStream {
  on(event: 'message', listener: (data: Buffer, isBinary: boolean) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  cork(): void;
  uncork(): void;
}
interface WsInternals {
  Receiver: new (options: { isServer: boolean; binaryType: string; maxPayload: number }) => ReceiverLike;
  Sender: {
    frame(data: Buffer, options: { fin: boolean; opcode: number; mask: boolean; readOnly: boolean; rsv1: boolean; maskBuffer?: Buffer; generateMask?: (mask: Buffer) => void }): Buffer[];
  };
}
const { Receiver, Sender } = wsModule as unknown as WsInternals;

/** A receiver of the side that gets these frames: a server reads masked frames, a client unmasked ones. */
function receiverFor(framing: DirectFraming): { receiver: ReceiverLike; messages: Buffer[]; errors: Error[] } {
  const receiver = new Receiver({ isServer: framing === 'masked', binaryType: 'nodebuffer', maxPayload: 0 });
  const messages: Buffer[] = [];
  const errors: Error[] = [];
  receiver.on('message', (data, isBinary) => {
    expect(isBinary).to.equal(true);
    messages.push(Buffer.from(data));
  });
  receiver.on('error', (err) => errors.push(err));
  return { receiver, messages, errors };
}

/** Collects what is written to it, like a socket whose peer reads everything. */
class Wire extends Duplex {
  readonly chunks: Buffer[] = [];
  override _read(): void {}
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.chunks.push(Buffer.from(chunk));
    callback();
  }
  written(): Buffer {
    return Buffer.concat(this.chunks.splice(0));
  }
}

function payloadOf(length: number): Buffer {
  const payload = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i += 1) payload[i] = (i * 31 + 7) & 0xff;
  return payload;
}

/** The same message framed by ws's own Sender, masked with `key` when the framing masks. */
function framedByWs(message: Buffer, framing: DirectFraming, key: Buffer): Buffer {
  const masked = framing === 'masked';
  return Buffer.concat(
    Sender.frame(Buffer.from(message), {
      fin: true,
      opcode: 2,
      mask: masked,
      readOnly: false,
      rsv1: false,
      ...(masked ? { maskBuffer: Buffer.alloc(4), generateMask: (mask: Buffer) => key.copy(mask) } : {}),
    }),
  );
}

/** The masking key of a masked frame (after the 2-byte header and its extended length). */
function maskKeyOf(frame: Buffer): Buffer {
  const len7 = frame[1]! & 0x7f;
  const at = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0);
  return Buffer.from(frame.subarray(at, at + 4));
}

const FRAMINGS: DirectFraming[] = ['unmasked', 'masked'];
const MiB = 1024 * 1024;
/** Data payload lengths; the WebSocket payload is 24 bytes more (the Data header). */
const LENGTHS = [
  0,
  125,
  126,
  65535,
  65536,
  MiB,
  // WebSocket payloads of exactly 125 / 126 (7-bit vs 16-bit length) and 65535 / 65536 (16 vs 64 bit).
  125 - DATA_HEADER_LENGTH,
  126 - DATA_HEADER_LENGTH,
  65535 - DATA_HEADER_LENGTH,
  65536 - DATA_HEADER_LENGTH,
];

describe('unit: direct Data frames', function () {
  for (const framing of FRAMINGS) {
    describe(`${framing} frames`, function () {
      for (const length of LENGTHS) {
        it(`Data of ${length} bytes (WebSocket payload ${length + DATA_HEADER_LENGTH}): one message ws reads back, byte for byte as ws frames it`, async function () {
          const payload = payloadOf(length);
          const message = encodeTcpData(CH, payload);
          const wire = new Wire();
          writeTcpDataFrame(wire as unknown as Socket, framing, CH, payload);
          expect(payload.equals(payloadOf(length))).to.equal(true, "the caller's payload is left as it was");
          const bytes = wire.written();
          expect(bytes.equals(framedByWs(message, framing, maskKeyOf(bytes)))).to.equal(true, 'same bytes as ws.Sender');

          const { receiver, messages, errors } = receiverFor(framing);
          receiver.write(bytes);
          await flush();
          expect(errors).to.deep.equal([]);
          expect(messages).to.have.length(1);
          const decoded = decodeMessage(messages[0]!);
          expect(decoded).to.include({ type: 'data', protocol: 'tcp', channelId: CH, compression: 0 });
          expect(decoded.type === 'data' && decoded.data.equals(payload)).to.equal(true, 'payload intact');
        });
      }

      it('frames written back to back, fed in odd-sized pieces, come out as separate messages in order', async function () {
        const wire = new Wire();
        const payloads = [0, 1, 125, 126, 70_000, 3].map(payloadOf);
        for (const p of payloads) writeTcpDataFrame(wire as unknown as Socket, framing, CH, p);
        const bytes = wire.written();
        const { receiver, messages, errors } = receiverFor(framing);
        for (let offset = 0; offset < bytes.length; offset += 997) receiver.write(bytes.subarray(offset, offset + 997));
        await flush();
        expect(errors).to.deep.equal([]);
        expect(messages.map((m) => decodeMessage(m)).map((m) => (m.type === 'data' ? m.data.length : -1))).to.deep.equal(
          payloads.map((p) => p.length),
        );
      });

      it('the mask bit is what the receiving side demands (the other side refuses the frame)', async function () {
        const wire = new Wire();
        writeTcpDataFrame(wire as unknown as Socket, framing, CH, payloadOf(10));
        const wrong = new Receiver({ isServer: framing !== 'masked', binaryType: 'nodebuffer', maxPayload: 0 });
        const errors: Error[] = [];
        wrong.on('error', (err) => errors.push(err));
        wrong.on('message', () => errors.push(new Error('accepted a frame it must refuse')));
        wrong.write(wire.written());
        await flush();
        expect(errors).to.have.length(1);
        expect(errors[0]!.message).to.match(/MASK must be (set|clear)/);
      });
    });
  }

  it('masks every frame with its own key, so the same upload never shows the same bytes twice', function () {
    const wire = new Wire();
    const keys = new Set<string>();
    for (let i = 0; i < 64; i += 1) {
      writeTcpDataFrame(wire as unknown as Socket, 'masked', CH, Buffer.from('GET / HTTP/1.1'));
      keys.add(maskKeyOf(wire.written()).toString('hex'));
    }
    // 64 draws of 32 random bits: a repeat is a 1-in-10^7 event.
    expect(keys.size).to.equal(64);
  });

  it('does not copy the payload: the very Buffer is written to the socket', function () {
    const payload = payloadOf(4096);
    const wire = new Wire();
    const written: unknown[] = [];
    const write = wire.write.bind(wire);
    wire.write = ((chunk: unknown, ...rest: never[]) => {
      written.push(chunk);
      return write(chunk as Buffer, ...rest);
    }) as typeof wire.write;
    writeTcpDataFrame(wire as unknown as Socket, 'unmasked', CH, payload);
    expect(written).to.have.length(2);
    expect(written[1]).to.equal(payload);
  });
});

/** A server-side WebSocket on an in-memory wire, the way WebSocketServer sets one up. */
function openServerWebSocket(): { ws: WebSocket; wire: Wire } {
  const wire = new Wire();
  // As WebSocketServer creates one: no address, its options as the third argument.
  const ws = new (WebSocket as unknown as new (address: null, protocols: undefined, options: object) => WebSocket)(null, undefined, { autoPong: true });
  (ws as unknown as { setSocket(socket: Duplex, head: Buffer, options: { maxPayload: number }): void }).setSocket(wire, Buffer.alloc(0), {
    maxPayload: 0,
  });
  return { ws, wire };
}

describe('unit: the installed ws still lets the fast path run', function () {
  // canWriteDirect() reads ws internals (`_sender._state`, `_sender._queue`). If a ws upgrade
  // renames them, the fast path silently turns itself off: these tests make that loud.

  it('an open WebSocket has `_sender` with a numeric `_state` of 0 and an empty `_queue` array', function () {
    const { ws } = openServerWebSocket();
    const sender = (ws as unknown as { _sender?: { _state?: unknown; _queue?: unknown } })._sender;
    expect(sender, 'ws._sender').to.be.an('object');
    expect(sender!._state, 'ws._sender._state').to.be.a('number').and.to.equal(0);
    expect(Array.isArray(sender!._queue), 'ws._sender._queue is an array').to.equal(true);
    expect(sender!._queue).to.have.length(0);
    expect(canWriteDirect(ws)).to.equal(true);
    ws.terminate();
  });

  it('while ws holds frames back (a Blob being read), `_state`/`_queue` show it and the fast path stands aside', async function () {
    const { ws } = openServerWebSocket();
    const sender = (ws as unknown as { _sender: { _state: number; _queue: unknown[] } })._sender;
    ws.send(new Blob([Buffer.from('blob')]));
    expect(sender._state).to.not.equal(0);
    expect(canWriteDirect(ws)).to.equal(false);
    ws.send(Buffer.from('queued behind the blob'));
    expect(sender._queue).to.have.length(1);
    for (let i = 0; i < 20 && !canWriteDirect(ws); i += 1) await flush();
    expect(sender._state).to.equal(0);
    expect(sender._queue).to.have.length(0);
    expect(canWriteDirect(ws)).to.equal(true);
    ws.terminate();
  });

  it('a WebSocket that is not open never takes the fast path', function () {
    const { ws } = openServerWebSocket();
    ws.close(1000);
    expect(canWriteDirect(ws)).to.equal(false);
    ws.terminate();
  });

  it('a Link with direct framing interleaves its direct frames with ws frames in send order', async function () {
    const { ws, wire } = openServerWebSocket();
    const link = new Link(ws, wire as unknown as Socket, { directFraming: 'unmasked', channelIdleTimeoutMs: 0 });
    const bigPayload = payloadOf(MiB);
    link.send({ type: 'connectResponse', success: true, channelId: CH, error: '' });
    link.sendTcpData(CH, Buffer.from('first'));
    ws.send(new Blob([Buffer.from('x')])); // holds ws's sender: the next Data must go through ws, after the blob
    link.sendTcpData(CH, Buffer.from('second'));
    for (let i = 0; i < 20 && !canWriteDirect(ws); i += 1) await flush();
    link.sendTcpData(CH, bigPayload);
    link.send({ type: 'disconnect', channelId: CH, error: 'EOF' });
    const { receiver, messages, errors } = receiverFor('unmasked');
    receiver.write(wire.written());
    await flush();
    expect(errors).to.deep.equal([]);
    const seen = messages.map((m) => (m.length === 1 ? 'blob' : decodeMessage(m))).map((m) =>
      typeof m === 'string' ? m : m.type === 'data' ? (m.data.length === MiB && m.data.equals(bigPayload) ? 'data:1MiB' : `data:${m.data.toString()}`) : m.type,
    );
    expect(seen).to.deep.equal(['connectResponse', 'data:first', 'blob', 'data:second', 'data:1MiB', 'disconnect']);
    link.terminate();
  });
});
