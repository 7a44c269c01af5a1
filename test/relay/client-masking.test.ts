import { expect } from 'chai';
import net from 'node:net';
import { LinkSocksClient } from '../../src/client/client.js';
import { LinkSocksServer } from '../../src/server/server.js';
import { decodeMessage } from '../../src/protocol/index.js';
import { LOCALHOST, startEchoServer, type EchoServer } from '../helpers/net.js';
import { socksEcho } from '../helpers/socks.js';
import { checkNoLeaksAfterSuite } from '../helpers/leaks.js';

/** A TCP forwarder that records what the client sends: what an intermediary on a ws:// path sees. */
async function startRecorder(targetPort: number): Promise<{ port: number; clientBytes(): Buffer; close(): Promise<void> }> {
  const recorded: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: LOCALHOST, port: targetPort });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.on('data', (chunk: Buffer) => recorded.push(Buffer.from(chunk)));
    client.pipe(upstream);
    upstream.pipe(client);
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, LOCALHOST, resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    clientBytes: () => Buffer.concat(recorded),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface ClientFrame {
  opcode: number;
  masked: boolean;
  key: Buffer;
  /** Unmasked payload. */
  payload: Buffer;
}

/** Parses the client→server byte stream: the HTTP upgrade request, then WebSocket frames. */
function parseClientFrames(stream: Buffer): ClientFrame[] {
  let offset = stream.indexOf('\r\n\r\n') + 4;
  expect(offset).to.be.greaterThan(3);
  const frames: ClientFrame[] = [];
  while (offset + 2 <= stream.length) {
    const opcode = stream[offset]! & 0x0f;
    const masked = (stream[offset + 1]! & 0x80) !== 0;
    let length = stream[offset + 1]! & 0x7f;
    let at = offset + 2;
    if (length === 126) {
      length = stream.readUInt16BE(at);
      at += 2;
    } else if (length === 127) {
      length = Number(stream.readBigUInt64BE(at));
      at += 8;
    }
    const key = masked ? stream.subarray(at, at + 4) : Buffer.alloc(4);
    if (masked) at += 4;
    if (at + length > stream.length) break; // A frame cut by the end of the recording.
    const payload = Buffer.from(stream.subarray(at, at + length));
    for (let i = 0; i < payload.length; i += 1) payload[i]! ^= key[i & 3]!;
    frames.push({ opcode, masked, key: Buffer.from(key), payload });
    offset = at + length;
  }
  return frames;
}

describe('client WebSocket masking on ws://', function () {
  checkNoLeaksAfterSuite();
  let server: LinkSocksServer;
  let client: LinkSocksClient;
  let echo: EchoServer;
  let recorder: Awaited<ReturnType<typeof startRecorder>>;

  beforeEach(async function () {
    echo = await startEchoServer();
    server = new LinkSocksServer({ host: LOCALHOST, port: 0 });
    server.addForwardToken('mask-token');
    await server.start();
    recorder = await startRecorder(server.address().port);
    client = new LinkSocksClient({ url: `ws://${LOCALHOST}:${recorder.port}`, token: 'mask-token', socksPort: 0 });
    await client.start();
  });

  afterEach(async function () {
    await client.close();
    await server.close();
    await recorder.close();
    await echo.close();
  });

  it('masks every frame with a fresh random key, so uploaded bytes never cross the wire as they are', async function () {
    // Bytes a transparent HTTP proxy on the path could take for a request of its own.
    const line = Buffer.from('GET /poisoned HTTP/1.1\r\nHost: victim.example\r\n\r\n');
    const payload = Buffer.concat(Array.from({ length: Math.ceil((300 * 1024) / line.length) }, () => line));
    const echoed = await socksEcho(client.socksAddress()!.port, echo.port, payload);
    expect(echoed.equals(payload)).to.equal(true);

    const wire = recorder.clientBytes();
    const frames = parseClientFrames(wire);
    const dataFrames = frames.filter((f) => f.opcode === 2 && decodeMessage(f.payload).type === 'data');
    // Auth and Connect go through `ws`, Data through the relay's own frame writer: both are here.
    expect(frames.length).to.be.greaterThan(dataFrames.length);
    expect(dataFrames.length).to.be.greaterThan(2);
    for (const frame of frames) {
      expect(frame.masked, `opcode ${frame.opcode} masked`).to.equal(true);
      expect(frame.key.equals(Buffer.alloc(4)), 'all-zero masking key').to.equal(false);
    }
    const keys = new Set(frames.map((f) => f.key.toString('hex')));
    expect(keys.size, 'distinct masking keys').to.equal(frames.length);

    // The parse is right (the unmasked frames hold the upload) and the wire does not.
    const unmasked = Buffer.concat(dataFrames.map((f) => f.payload));
    expect(unmasked.includes('Host: victim.example')).to.equal(true);
    expect(wire.includes('Host: victim.example')).to.equal(false);
  });
});
