import { expect } from 'chai';
import net from 'node:net';
import { LinkSocksClient } from '../../src/client/client.js';
import { LinkSocksServer } from '../../src/server/server.js';
import { freePort, startEchoServer, LOCALHOST, withTimeout } from '../helpers/net.js';
import type { EchoServer } from '../helpers/net.js';
import { collectBytes, makePayload, sha256 } from '../helpers/payload.js';
import { socksConnect, socksEcho } from '../helpers/socks.js';
import { checkNoLeaksAfterSuite } from '../helpers/leaks.js';

/**
 * A hand-made no-auth SOCKS5 CONNECT to 127.0.0.1:port that returns the socket paused, reading
 * nothing beyond the 12 reply bytes (client libraries keep reading in the background).
 */
async function rawSocksConnect(proxyPort: number, port: number): Promise<net.Socket> {
  const socket = net.connect({ host: LOCALHOST, port: proxyPort });
  socket.on('error', () => undefined);
  await new Promise((resolve) => socket.once('connect', resolve));
  const request = Buffer.from([5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, port >> 8, port & 0xff]);
  socket.write(request);
  // read(12) in paused mode takes exactly the replies and leaves the tunnel's bytes unread.
  const bytes = await withTimeout(
    new Promise<Buffer>((resolve) => {
      const tryRead = (): void => {
        const chunk = socket.read(12) as Buffer | null;
        if (chunk) {
          socket.off('readable', tryRead);
          resolve(chunk);
        }
      };
      socket.on('readable', tryRead);
    }),
    5000,
    'SOCKS replies',
  );
  expect([...bytes.subarray(0, 4)]).to.deep.equal([5, 0, 5, 0]);
  return socket;
}

describe('large transfers, many channels, slow readers', function () {
  checkNoLeaksAfterSuite();
  this.timeout(60_000);
  let echo: EchoServer;
  let server: LinkSocksServer;
  const clients: LinkSocksClient[] = [];
  const closers: Array<() => void> = [];

  async function client(options: ConstructorParameters<typeof LinkSocksClient>[0]): Promise<LinkSocksClient> {
    const c = new LinkSocksClient({ url: `ws://${LOCALHOST}:${server.address().port}`, socksPort: 0, ...options });
    clients.push(c);
    await c.start();
    return c;
  }

  beforeEach(async function () {
    echo = await startEchoServer();
    server = new LinkSocksServer({ host: LOCALHOST, port: 0 });
    await server.start();
  });

  afterEach(async function () {
    for (const close of closers.splice(0)) close();
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await server.close();
    await echo.close();
  });

  it('forward: 64 MiB each way with matching hashes', async function () {
    server.addForwardToken('f');
    const c = await client({ token: 'f' });
    const payload = makePayload(64 * 1024 * 1024, 64);
    const echoed = await socksEcho(c.socksAddress()!.port, echo.port, payload, 60_000);
    expect(sha256(echoed)).to.equal(sha256(payload));
  });

  it('forward: 200 concurrent channels, each with its own hashed payload', async function () {
    server.addForwardToken('f');
    const c = await client({ token: 'f' });
    const port = c.socksAddress()!.port;
    const payloads = Array.from({ length: 200 }, (_, i) => makePayload(32 * 1024 + i * 97, 1000 + i));
    const echoed = await Promise.all(payloads.map((p) => socksEcho(port, echo.port, p, 30_000)));
    echoed.forEach((e, i) => expect(sha256(e)).to.equal(sha256(payloads[i]!)));
    expect(server.counters.channelsOpened).to.equal(200);
  });

  it('forward: the client SOCKS port checks username and password', async function () {
    server.addForwardToken('f');
    const c = await client({ token: 'f', socksUsername: 'alice', socksPassword: 's3cret' });
    const port = c.socksAddress()!.port;
    const ok = await socksConnect({ proxyPort: port, host: LOCALHOST, port: echo.port, userId: 'alice', password: 's3cret' });
    ok.destroy();
    const refused = await socksConnect({ proxyPort: port, host: LOCALHOST, port: echo.port, userId: 'alice', password: 'nope' }).then(
      (s) => {
        s.destroy();
        return undefined;
      },
      (e: Error) => e,
    );
    expect(refused?.message).to.match(/auth/i);
  });

  it('forward: a SOCKS client that stops reading holds the target back instead of filling memory', async function () {
    server.addForwardToken('f');
    const c = await client({ token: 'f' });
    const total = 64 * 1024 * 1024;
    const payload = makePayload(total, 9);
    // A target that writes with backpressure and counts what the proxy has taken from it.
    let taken = 0;
    let stalledResolve: () => void = () => undefined;
    const stalled = new Promise<void>((resolve) => (stalledResolve = resolve));
    const target = net.createServer((socket) => {
      let offset = 0;
      let stallTimer: NodeJS.Timeout | undefined;
      const pump = (): void => {
        while (offset < total) {
          const chunk = payload.subarray(offset, offset + 64 * 1024);
          offset += chunk.length;
          const more = socket.write(chunk, () => {
            taken += chunk.length;
          });
          if (!more) {
            // No drain for a while with the client not reading: the proxy has stopped pulling.
            clearTimeout(stallTimer);
            stallTimer = setTimeout(stalledResolve, 500);
            socket.once('drain', () => {
              clearTimeout(stallTimer);
              pump();
            });
            return;
          }
        }
        socket.end();
      };
      socket.on('error', () => undefined);
      pump();
    });
    await new Promise<void>((resolve) => target.listen(0, LOCALHOST, resolve));
    closers.push(() => target.close());
    const socket = await rawSocksConnect(c.socksAddress()!.port, (target.address() as net.AddressInfo).port);
    closers.push(() => socket.destroy());
    await withTimeout(stalled, 20_000, 'target stalled by backpressure');
    // Link high-water marks (4 MiB each side), socket bounds (1 MiB) and kernel buffers; far below 64 MiB.
    expect(taken).to.be.below(24 * 1024 * 1024);
    expect(server.counters.producerPauses + c.counters.inboundPauses).to.be.greaterThan(0);
    // readable mode left a buffered chunk; switch to flowing mode for the rest.
    const received = collectBytes(socket, total, 30_000);
    expect(sha256(await received)).to.equal(sha256(payload));
  });

  it('reverse: 64 MiB each way with matching hashes', async function () {
    const port = await freePort();
    server.addReverseToken({ token: 'r', port });
    await client({ token: 'r', reverse: true });
    const payload = makePayload(64 * 1024 * 1024, 65);
    expect(sha256(await socksEcho(port, echo.port, payload, 60_000))).to.equal(sha256(payload));
  });

  it('agent: 64 MiB each way with matching hashes', async function () {
    server.addReverseToken({ token: 'r', port: await freePort() });
    server.addConnectorToken('c', 'r');
    await client({ token: 'r', reverse: true });
    const connector = await client({ token: 'c' });
    const payload = makePayload(64 * 1024 * 1024, 66);
    expect(sha256(await socksEcho(connector.socksAddress()!.port, echo.port, payload, 60_000))).to.equal(sha256(payload));
  });
});

describe('reverse-mode resilience', function () {
  checkNoLeaksAfterSuite();
  let echo: EchoServer;
  const servers: LinkSocksServer[] = [];
  const clients: LinkSocksClient[] = [];

  beforeEach(async function () {
    echo = await startEchoServer();
  });

  afterEach(async function () {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await Promise.all(servers.splice(0).map((s) => s.close()));
    await echo.close();
  });

  async function startServer(port: number): Promise<LinkSocksServer> {
    const server = new LinkSocksServer({ host: LOCALHOST, port, connectorWaitProviderMs: 2000 });
    servers.push(server);
    server.addReverseToken({ token: 'auto', allowManageConnector: true });
    await server.start();
    return server;
  }

  it('autonomy: a provider re-adds its connector token after the server restarts', async function () {
    const port = await freePort();
    const first = await startServer(port);
    const url = `ws://${LOCALHOST}:${port}`;
    const provider = new LinkSocksClient({ url, token: 'auto', reverse: true, reconnect: true, reconnectDelayMs: 50 });
    clients.push(provider);
    await provider.start();
    await provider.addConnector('mine');
    const connector = new LinkSocksClient({ url, token: 'mine', socksPort: 0, reconnect: true, reconnectDelayMs: 50, retryAuth: true });
    clients.push(connector);
    await connector.start();
    expect((await socksEcho(connector.socksAddress()!.port, echo.port, Buffer.from('before'))).toString()).to.equal('before');
    await first.close();
    const second = await startServer(port);
    // The connector authenticates again once the provider has re-added its token.
    await withTimeout(new Promise((resolve) => connector.once('connected', resolve)), 15_000, 'connector back');
    expect(second.store.get('mine')?.kind).to.equal('connector');
    expect((await socksEcho(connector.socksAddress()!.port, echo.port, Buffer.from('after'))).toString()).to.equal('after');
  });

  it('reports a reverse port that the OS will not give (busy) instead of failing silently', async function () {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, LOCALHOST, resolve));
    try {
      const busy = (blocker.address() as net.AddressInfo).port;
      const server = await startServer(0);
      server.addReverseToken({ token: 'r', port: busy });
      const failed = new Promise<[string, Error]>((resolve) => server.once('listener-error', (t: string, e: Error) => resolve([t, e])));
      // The deprecated name the README documented still fires, with the same arguments.
      const failedOldName = new Promise<[string, Error]>((resolve) => server.once('listenerError', (t: string, e: Error) => resolve([t, e])));
      const provider = new LinkSocksClient({ url: `ws://${LOCALHOST}:${server.address().port}`, token: 'r', reverse: true });
      clients.push(provider);
      await provider.start();
      const [token, err] = await withTimeout(failed, 5000, 'listener-error');
      expect(token).to.equal('r');
      expect(err.message).to.match(/EADDRINUSE|in use/);
      expect(await withTimeout(failedOldName, 5000, 'listenerError')).to.deep.equal([token, err]);
    } finally {
      blocker.close();
    }
  });
});
