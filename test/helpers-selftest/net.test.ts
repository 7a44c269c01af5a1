import net from 'node:net';

import { expect } from 'chai';

import { freePort, startEchoServer, startHttpServer, startSinkServer, startSourceServer, startUdpEchoServer, waitForEvent, withTimeout } from '../helpers/net.js';
import { collectBytes, makePayload, sendAndCollect, sha256 } from '../helpers/payload.js';
import dgram from 'node:dgram';

async function connect(port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  await waitForEvent(socket, 'connect');
  return socket;
}

describe('helpers: net', () => {
  it('echo server returns 1 MiB byte for byte', async () => {
    const echo = await startEchoServer();
    const socket = await connect(echo.port);
    try {
      const payload = makePayload(1024 * 1024, 7);
      const back = await sendAndCollect(socket, payload);
      expect(sha256(back)).to.equal(sha256(payload));
      expect(echo.connections).to.equal(1);
    } finally {
      socket.destroy();
      await echo.close();
    }
  });

  it('echo server ends its side after the client half-closes', async () => {
    const echo = await startEchoServer();
    const socket = net.connect({ port: echo.port, host: '127.0.0.1', allowHalfOpen: true });
    try {
      await waitForEvent(socket, 'connect');
      const ended = waitForEvent(socket, 'end');
      const back = collectBytes(socket, 5);
      socket.end('hello');
      expect((await back).toString()).to.equal('hello');
      await ended;
    } finally {
      socket.destroy();
      await echo.close();
    }
  });

  it('sink server reports size and hash', async () => {
    const sink = await startSinkServer();
    const socket = await connect(sink.port);
    try {
      const payload = makePayload(300_000, 3);
      socket.end(payload);
      const report = await sink.nextReport();
      expect(report).to.deep.equal({ bytes: payload.length, sha256: sha256(payload) });
    } finally {
      socket.destroy();
      await sink.close();
    }
  });

  it('source server sends its payload then ends', async () => {
    const source = await startSourceServer(200_000);
    const socket = await connect(source.port);
    try {
      const received = await collectBytes(socket, source.payload.length);
      expect(received.equals(source.payload)).to.equal(true);
      await waitForEvent(socket, 'end');
    } finally {
      socket.destroy();
      await source.close();
    }
  });

  it('http server answers with its body', async () => {
    const server = await startHttpServer('hello http\n');
    try {
      const res = await fetch(server.url);
      expect(await res.text()).to.equal('hello http\n');
      expect(server.requests).to.equal(1);
    } finally {
      await server.close();
    }
  });

  it('udp echo server returns a datagram', async () => {
    const server = await startUdpEchoServer();
    const socket = dgram.createSocket('udp4');
    try {
      const answer = waitForEvent<[Buffer]>(socket, 'message');
      socket.send(Buffer.from('ping'), server.port, '127.0.0.1');
      const [msg] = await answer;
      expect(msg.toString()).to.equal('ping');
    } finally {
      socket.close();
      await server.close();
    }
  });

  it('freePort returns a bindable port', async () => {
    const port = await freePort();
    expect(port).to.be.within(1, 65535);
    const server = net.createServer();
    server.listen(port, '127.0.0.1');
    await waitForEvent(server, 'listening');
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('withTimeout rejects with its label', async () => {
    const never = new Promise<void>(() => undefined);
    let error: unknown;
    try {
      await withTimeout(never, 20, 'nothing');
    } catch (err) {
      error = err;
    }
    expect(String(error)).to.match(/nothing: timed out/);
  });

  it('makePayload is deterministic and seed dependent', () => {
    expect(makePayload(1001, 5).equals(makePayload(1001, 5))).to.equal(true);
    expect(makePayload(1001, 5).equals(makePayload(1001, 6))).to.equal(false);
    expect(makePayload(1001, 5).length).to.equal(1001);
  });
});
