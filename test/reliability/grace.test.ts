// Transport grace between linksocks-ts peers: a WebSocket cut (TCP destroyed, no close frame)
// under a hashed 64 MiB echo transfer; the channel waits, is resumed on the reconnected link, and
// every byte arrives once, in order, over the one target connection.
import { expect } from 'chai';
import net from 'node:net';
import { endingOf, freePort, LOCALHOST, startEchoServer, waitForEvent, withTimeout } from '../helpers/net.js';
import { makePayload, sha256, writeAll } from '../helpers/payload.js';
import { Scene } from './scene.js';

const SIZE = 64 * 1024 * 1024;

/**
 * Echoes SIZE bytes through `socket`, calling `cut` once `cutAt` bytes came back; resolves with
 * the SHA-256 of everything that came back (exactly SIZE bytes, or rejects).
 */
async function echoAcrossCut(socket: net.Socket, cutAt: number, cut: () => void | Promise<void>): Promise<string> {
  const payload = makePayload(SIZE, 17);
  const expected = sha256(payload);
  let received = 0;
  let cutDone = false;
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (!cutDone && received >= cutAt) {
        cutDone = true;
        void cut();
      }
      if (received >= SIZE) resolve();
    });
    socket.once('close', () => reject(new Error(`SOCKS socket closed after ${received} of ${SIZE} bytes`)));
  });
  writeAll(socket, payload).catch(() => undefined);
  await withTimeout(done, 60_000, `echo of ${SIZE} bytes across the cut`);
  expect(received, 'no byte duplicated').to.equal(SIZE);
  const actual = sha256(Buffer.concat(chunks));
  expect(actual, 'bytes in order, none lost').to.equal(expected);
  return actual;
}

describe('reliability: transport grace (linksocks-ts on both sides)', function () {
  this.timeout(120_000);
  let scene: Scene;

  beforeEach(async function () {
    scene = new Scene({ client: { reconnect: true, reconnectDelayMs: 50 } });
    scene.echo = await startEchoServer();
  });

  afterEach(async function () {
    await scene.close();
  });

  it('forward: a 64 MiB echo survives a cut WebSocket, hash intact, one target connection', async function () {
    const server = await scene.server();
    server.addForwardToken('grace-fwd');
    const proxy = await scene.proxy(server);
    const client = await scene.client({ url: proxy.url, token: 'grace-fwd' });
    const socket = await scene.socks(client.socksAddress()!.port);
    const reconnected = waitForEvent(client, 'connected', 10_000);
    await echoAcrossCut(socket, 16 * 1024 * 1024, () => proxy.cut());
    await reconnected;
    expect(scene.echo.connections).to.equal(1);
  });

  it('reverse: a 64 MiB echo through the server\'s SOCKS port survives a cut provider link', async function () {
    const server = await scene.server();
    const port = await freePort();
    server.addReverseToken({ token: 'grace-rev', port });
    const proxy = await scene.proxy(server);
    const provider = await scene.client({ url: proxy.url, token: 'grace-rev', reverse: true });
    const socket = await scene.socks(port);
    const reconnected = waitForEvent(provider, 'connected', 10_000);
    await echoAcrossCut(socket, 16 * 1024 * 1024, () => proxy.cut());
    await reconnected;
    expect(scene.echo.connections).to.equal(1);
  });

  it('reverse: another provider of the token does not take the channel; it waits for its own', async function () {
    const server = await scene.server();
    const port = await freePort();
    server.addReverseToken({ token: 'grace-rev2', port });
    const proxy = await scene.proxy(server);
    const provider = await scene.client({ url: proxy.url, token: 'grace-rev2', reverse: true, reconnectDelayMs: 300 });
    const socket = await scene.socks(port);
    // A second provider arrives after the channel opened; the channel still resumes through the first.
    await scene.client({ url: `ws://${LOCALHOST}:${server.address().port}`, token: 'grace-rev2', reverse: true });
    const reconnected = waitForEvent(provider, 'connected', 10_000);
    await echoAcrossCut(socket, 8 * 1024 * 1024, () => proxy.cut());
    await reconnected;
    expect(scene.echo.connections).to.equal(1);
  });

  for (const cutWhich of ['connector', 'provider', 'both'] as const) {
    it(`agent: a 64 MiB echo survives a cut ${cutWhich === 'both' ? 'connector and provider' : cutWhich} link (the server keeps the route)`, async function () {
      const server = await scene.server();
      server.addReverseToken({ token: 'grace-prov', port: await freePort() });
      server.addConnectorToken('grace-conn', 'grace-prov');
      const providerPipe = await scene.proxy(server);
      const connectorPipe = await scene.proxy(server);
      const provider = await scene.client({ url: providerPipe.url, token: 'grace-prov', reverse: true });
      const connector = await scene.client({ url: connectorPipe.url, token: 'grace-conn' });
      const socket = await scene.socks(connector.socksAddress()!.port);
      const back: Array<Promise<unknown>> = [];
      await echoAcrossCut(socket, 16 * 1024 * 1024, () => {
        if (cutWhich !== 'provider') {
          back.push(waitForEvent(connector, 'connected', 10_000));
          connectorPipe.cut();
        }
        if (cutWhich !== 'connector') {
          back.push(waitForEvent(provider, 'connected', 10_000));
          providerPipe.cut();
        }
      });
      await Promise.all(back);
      expect(scene.echo.connections).to.equal(1);
    });
  }

  it('forward: two cuts in one transfer', async function () {
    const server = await scene.server();
    server.addForwardToken('grace-fwd2');
    const proxy = await scene.proxy(server);
    const client = await scene.client({ url: proxy.url, token: 'grace-fwd2' });
    const socket = await scene.socks(client.socksAddress()!.port);
    let cuts = 0;
    await echoAcrossCut(socket, 8 * 1024 * 1024, async () => {
      proxy.cut();
      cuts += 1;
      await waitForEvent(client, 'connected', 10_000);
      // Cut again once the resumed channel has moved another 4 MiB.
      let more = 0;
      const onData = (chunk: Buffer): void => {
        more += chunk.length;
        if (more < 4 * 1024 * 1024) return;
        socket.off('data', onData);
        proxy.cut();
        cuts += 1;
      };
      socket.on('data', onData);
    });
    expect(cuts).to.equal(2);
    expect(scene.echo.connections).to.equal(1);
  });

  it('forward: grace expiry resets the SOCKS socket, and the server drops its side', async function () {
    const server = await scene.server({ transportGraceMs: 300 });
    server.addForwardToken('grace-exp');
    const proxy = await scene.proxy(server);
    const client = await scene.client({ url: proxy.url, token: 'grace-exp', transportGraceMs: 300, reconnectDelayMs: 5000 });
    const socket = await scene.socks(client.socksAddress()!.port);
    socket.write('ping');
    await new Promise((resolve) => socket.once('data', resolve));
    const ending = endingOf(socket);
    const started = Date.now();
    proxy.cut();
    expect(await withTimeout(ending, 5000, 'SOCKS socket ended after the grace')).to.equal('ECONNRESET');
    expect(Date.now() - started).to.be.at.least(250);
    expect(client.counters.channelsOpen).to.equal(0);
  });

  it('grace 0: a cut resets at once, as before', async function () {
    const server = await scene.server({ transportGraceMs: 0 });
    server.addForwardToken('grace-0');
    const proxy = await scene.proxy(server);
    const client = await scene.client({ url: proxy.url, token: 'grace-0' });
    const socket = await scene.socks(client.socksAddress()!.port);
    socket.write('ping');
    await new Promise((resolve) => socket.once('data', resolve));
    const ending = endingOf(socket);
    proxy.cut();
    expect(await withTimeout(ending, 2000, 'SOCKS socket reset')).to.equal('ECONNRESET');
  });
});
