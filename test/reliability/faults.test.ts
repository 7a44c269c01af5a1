// Faults: the WebSocket cut under a transfer, the server restarted, targets that reset, never
// answer or half-close, and peers that send late, duplicate or unknown channel messages.
import { expect } from 'chai';
import net from 'node:net';
import type { LinkSocksClient } from '../../src/client/client.js';
import type { LinkSocksServer } from '../../src/server/server.js';
import { freePort, LOCALHOST, startEchoServer, waitForEvent, withTimeout } from '../helpers/net.js';
import { collectBytes, makePayload, writeAll } from '../helpers/payload.js';
import { socksConnectReply, socksEcho, SocksReply } from '../helpers/socks.js';
import { closedOf, RawPeer, socksConnectHalfOpen, startBlackHole, waitUntil } from './rig.js';
import { Scene, type SceneDefaults } from './scene.js';

const CLOSE_BOUND_MS = 2000;

// Transport grace off: these tests are about tearing down at once (grace.test.ts covers it on).
const SCENE_DEFAULTS: SceneDefaults = { server: { transportGraceMs: 0 }, client: { transportGraceMs: 0 } };

/** What the current test started, torn down in afterEach whatever happened. */
let scene: Scene;

/** For a describe: a fresh scene with an echo target before each test, closed after it. */
function sceneForEachTest(): void {
  beforeEach(async function () {
    scene = new Scene(SCENE_DEFAULTS);
    scene.echo = await startEchoServer();
  });

  afterEach(async function () {
    await scene.close();
  });
}

/** Starts an endless upload through `socket` and resolves once echoed bytes flow back. */
async function startStreaming(socket: net.Socket): Promise<void> {
  const flowing = new Promise<void>((resolve) => socket.once('data', () => resolve()));
  socket.on('data', () => undefined);
  writeAll(socket, makePayload(64 * 1024 * 1024, 9)).catch(() => undefined);
  await withTimeout(flowing, 5000, 'first echoed bytes');
}

/** Channel records gone on every given side (a failure guard bounds the wait). */
async function expectNoChannels(...sides: Array<{ counters: { channelsOpen: number } }>): Promise<void> {
  await waitUntil(() => sides.every((s) => s.counters.channelsOpen === 0), 3000, 'channel records released');
  for (const side of sides) expect(side.counters.channelsOpen).to.equal(0);
}

describe('reliability: WebSocket cut mid-transfer', function () {
  sceneForEachTest();

  it('forward: SOCKS sockets close in < 2 s, the client reconnects, another token keeps transferring', async function () {
    const server = await scene.server();
    server.addForwardToken('fwd-cut');
    server.addForwardToken('fwd-other');
    const proxy = await scene.proxy(server);
    const cutClient = await scene.client({ url: proxy.url, token: 'fwd-cut', reconnect: true, reconnectDelayMs: 50 });
    const otherClient = await scene.client({ url: `ws://${LOCALHOST}:${server.address().port}`, token: 'fwd-other' });
    const cutPort = cutClient.socksAddress()!.port;

    const victims = await Promise.all([scene.socks(cutPort), scene.socks(cutPort)]);
    await Promise.all(victims.map(startStreaming));
    const otherPayload = makePayload(8 * 1024 * 1024, 21);
    const otherTransfer = socksEcho(otherClient.socksAddress()!.port, scene.echo.port, otherPayload);

    const reconnected = waitForEvent(cutClient, 'connected', 5000);
    const started = Date.now();
    proxy.cut();
    await withTimeout(Promise.all(victims.map(closedOf)), CLOSE_BOUND_MS, 'SOCKS sockets of the cut link closed');
    expect(Date.now() - started).to.be.below(CLOSE_BOUND_MS);

    await reconnected;
    const after = makePayload(256 * 1024, 22);
    expect((await socksEcho(cutPort, scene.echo.port, after)).equals(after)).to.equal(true);
    expect((await otherTransfer).equals(otherPayload)).to.equal(true);
    await expectNoChannels(server, cutClient, otherClient);
  });

  it('reverse: SOCKS sockets on the server close in < 2 s, the provider comes back, another token is untouched', async function () {
    const server = await scene.server({ providerWaitMs: 2000 });
    const cutPort = await freePort();
    const otherPort = await freePort();
    server.addReverseToken({ token: 'rev-cut', port: cutPort });
    server.addReverseToken({ token: 'rev-other', port: otherPort });
    const proxy = await scene.proxy(server);
    const provider = await scene.client({ url: proxy.url, token: 'rev-cut', reverse: true, reconnect: true, reconnectDelayMs: 50 });
    const other = await scene.client({ url: `ws://${LOCALHOST}:${server.address().port}`, token: 'rev-other', reverse: true });

    const victims = await Promise.all([scene.socks(cutPort), scene.socks(cutPort)]);
    await Promise.all(victims.map(startStreaming));
    const otherPayload = makePayload(8 * 1024 * 1024, 31);
    const otherTransfer = socksEcho(otherPort, scene.echo.port, otherPayload);

    const reconnected = waitForEvent(provider, 'connected', 5000);
    const started = Date.now();
    proxy.cut();
    await withTimeout(Promise.all(victims.map(closedOf)), CLOSE_BOUND_MS, 'reverse SOCKS sockets closed');
    expect(Date.now() - started).to.be.below(CLOSE_BOUND_MS);

    await reconnected;
    const after = makePayload(256 * 1024, 32);
    expect((await socksEcho(cutPort, scene.echo.port, after)).equals(after)).to.equal(true);
    expect((await otherTransfer).equals(otherPayload)).to.equal(true);
    await expectNoChannels(server, provider, other);
  });

  it('agent: cutting the provider, then the connector, closes the connector\'s SOCKS sockets in < 2 s; both come back', async function () {
    const server = await scene.server({ connectorWaitProviderMs: 2000 });
    server.addReverseToken({ token: 'agent-prov', port: await freePort() });
    server.addConnectorToken('agent-conn', 'agent-prov');
    const providerPipe = await scene.proxy(server);
    const connectorPipe = await scene.proxy(server);
    const provider = await scene.client({ url: providerPipe.url, token: 'agent-prov', reverse: true, reconnect: true, reconnectDelayMs: 50 });
    const connector = await scene.client({ url: connectorPipe.url, token: 'agent-conn', reconnect: true, reconnectDelayMs: 50 });
    const port = connector.socksAddress()!.port;

    for (const [pipe, who] of [[providerPipe, provider], [connectorPipe, connector]] as const) {
      const victims = await Promise.all([scene.socks(port), scene.socks(port)]);
      await Promise.all(victims.map(startStreaming));
      const reconnected = waitForEvent(who, 'connected', 5000);
      const started = Date.now();
      pipe.cut();
      await withTimeout(Promise.all(victims.map(closedOf)), CLOSE_BOUND_MS, 'connector SOCKS sockets closed');
      expect(Date.now() - started).to.be.below(CLOSE_BOUND_MS);
      await reconnected;
      const after = makePayload(128 * 1024, 41);
      expect((await socksEcho(port, scene.echo.port, after)).equals(after)).to.equal(true);
    }
    await expectNoChannels(server, provider, connector);
  });
});

describe('reliability: server restart', function () {
  sceneForEachTest();

  it('forward clients and providers reconnect by themselves; SOCKS requests during the outage are refused, not hung', async function () {
    const reversePort = await freePort();
    const configure = (s: LinkSocksServer): void => {
      s.addForwardToken('restart-fwd');
      s.addReverseToken({ token: 'restart-rev', port: reversePort });
    };
    const first = await scene.server();
    configure(first);
    const port = first.address().port;
    const url = `ws://${LOCALHOST}:${port}`;
    const forward = await scene.client({ url, token: 'restart-fwd', reconnect: true, reconnectDelayMs: 50, linkWaitMs: 300 });
    const provider = await scene.client({ url, token: 'restart-rev', reverse: true, reconnect: true, reconnectDelayMs: 50 });
    const forwardPort = forward.socksAddress()!.port;

    const down = Promise.all([waitForEvent(forward, 'disconnected'), waitForEvent(provider, 'disconnected')]);
    await first.close();
    await down;

    // Forward: the client's SOCKS port stays open and answers 0x03 once its link wait is over.
    expect(await socksConnectReply(forwardPort, LOCALHOST, scene.echo.port, 3000)).to.equal(SocksReply.networkUnreachable);
    // Reverse: the listener went with the server, so the connection is refused at once.
    const refused = net.connect(reversePort, LOCALHOST);
    const error = await withTimeout(
      new Promise<NodeJS.ErrnoException>((resolve) => refused.once('error', resolve)),
      2000,
      'reverse port refusal',
    );
    expect(error.code).to.equal('ECONNREFUSED');

    const back = Promise.all([waitForEvent(forward, 'connected', 10_000), waitForEvent(provider, 'connected', 10_000)]);
    const second = await scene.server({ port });
    configure(second);
    await back;

    const a = makePayload(512 * 1024, 51);
    const b = makePayload(512 * 1024, 52);
    expect((await socksEcho(forwardPort, scene.echo.port, a)).equals(a)).to.equal(true);
    expect((await socksEcho(reversePort, scene.echo.port, b)).equals(b)).to.equal(true);
    await expectNoChannels(second, forward, provider);
  });
});

describe('reliability: misbehaving targets', function () {
  let server: LinkSocksServer;
  let client: LinkSocksClient;
  let socksPort: number;

  sceneForEachTest();

  beforeEach(async function () {
    server = await scene.server({ connectTimeoutMs: 300 });
    server.addForwardToken('targets');
    client = await scene.client({ url: `ws://${LOCALHOST}:${server.address().port}`, token: 'targets' });
    socksPort = client.socksAddress()!.port;
  });

  /** A one-off TCP target whose behaviour the test defines. */
  async function target(onSocket: (socket: net.Socket) => void): Promise<number> {
    const sockets = new Set<net.Socket>();
    const srv = net.createServer({ allowHalfOpen: true }, (socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.once('close', () => sockets.delete(socket));
      onSocket(socket);
    });
    await new Promise<void>((resolve) => srv.listen(0, LOCALHOST, resolve));
    scene.extra.push({
      close: () => {
        for (const s of sockets) s.destroy();
        return new Promise<void>((resolve) => srv.close(() => resolve()));
      },
    });
    return (srv.address() as net.AddressInfo).port;
  }

  it('a target that resets the connection closes the SOCKS socket promptly', async function () {
    const port = await target((socket) => socket.once('data', () => socket.resetAndDestroy()));
    const socket = await scene.socks(socksPort, port);
    const started = Date.now();
    socket.write('trigger');
    await withTimeout(closedOf(socket), CLOSE_BOUND_MS, 'SOCKS socket closed after target reset');
    expect(Date.now() - started).to.be.below(CLOSE_BOUND_MS);
    await expectNoChannels(server, client);
  });

  it('a target that never answers the SYN gets 0x04 after the server\'s connect timeout', async function () {
    const hole = await startBlackHole();
    scene.extra.push(hole);
    const started = Date.now();
    const reply = await socksConnectReply(socksPort, hole.host, hole.port, 5000);
    expect(reply).to.equal(SocksReply.hostUnreachable);
    expect(Date.now() - started).to.be.below(3000);
    await expectNoChannels(server, client);
  });

  it('a target that half-closes: its data and EOF arrive, and the client can still send after it', async function () {
    let fromClient: Promise<Buffer> | undefined;
    const port = await target((socket) => {
      fromClient = collectBytes(socket, 3, 5000);
      socket.end('hello');
    });
    const socket = await socksConnectHalfOpen(socksPort, LOCALHOST, port);
    scene.sockets.push(socket);
    const hello = collectBytes(socket, 5, 5000);
    const ended = new Promise<void>((resolve) => socket.once('end', () => resolve()));
    expect((await hello).toString()).to.equal('hello');
    await withTimeout(ended, 3000, 'EOF from the half-closed target');
    socket.end('bye');
    await waitUntil(() => fromClient !== undefined, 3000, 'target connection');
    expect((await fromClient!).toString()).to.equal('bye');
    await withTimeout(closedOf(socket), 3000, 'SOCKS socket closed once both directions ended');
    await expectNoChannels(server, client);
  });
});

describe('reliability: late, duplicate and unknown channel messages', function () {
  let server: LinkSocksServer;

  sceneForEachTest();

  beforeEach(async function () {
    server = await scene.server();
    server.addForwardToken('raw-peer');
  });

  it('ignores them, counts them, and keeps the WebSocket serving', async function () {
    const peer = await RawPeer.connect(server.address().port, 'raw-peer', false);
    scene.peers.push(peer);
    const counters = server.counters;
    const base = counters.unknownChannelMessages;
    const stranger = '11111111-2222-4333-8444-555555555555';
    // Data (and a Disconnect behind it) for a channel never opened may be early: held, not counted.
    peer.send(dataFor(stranger, Buffer.from('nobody')));
    peer.send({ type: 'disconnect', channelId: stranger, error: '' });
    peer.send({ type: 'connectResponse', success: true, channelId: stranger, error: '' });
    peer.send({ type: 'disconnect', channelId: '11111111-2222-4333-8444-666666666666', error: '' });
    await waitUntil(() => counters.unknownChannelMessages === base + 2, 3000, 'unknown messages counted');

    const channelId = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
    peer.send({ type: 'connect', protocol: 'tcp', channelId, address: LOCALHOST, port: scene.echo.port });
    const response = await peer.next((m) => m.type === 'connectResponse' && m.channelId === channelId, 3000, 'ConnectResponse');
    expect(response).to.include({ success: true });
    peer.send(dataFor(channelId, Buffer.from('abc')));
    await peer.next((m) => m.type === 'data' && m.channelId === channelId, 3000, 'echoed Data');
    peer.send({ type: 'disconnect', channelId, error: '' });
    peer.send({ type: 'disconnect', channelId, error: '' });
    peer.send(dataFor(channelId, Buffer.from('late')));
    await waitUntil(() => counters.unknownChannelMessages === base + 4, 3000, 'late messages counted');
    expect(counters.earlyDataDropped, 'late Data is not early data').to.equal(0);
    await expectNoChannels(server);

    // The link is still good for new channels.
    const second = 'aaaaaaaa-bbbb-4ccc-8ddd-ffffffffffff';
    peer.send({ type: 'connect', protocol: 'tcp', channelId: second, address: LOCALHOST, port: scene.echo.port });
    const ok = await peer.next((m) => m.type === 'connectResponse' && m.channelId === second, 3000, 'second ConnectResponse');
    expect(ok).to.include({ success: true });
    expect(peer.isOpen).to.equal(true);
    peer.send({ type: 'disconnect', channelId: second, error: '' });
    await expectNoChannels(server);
  });
});

describe('reliability: a provider that stops reading', function () {
  sceneForEachTest();

  /**
   * Bound on what the server takes in for a provider that never reads: the Link stops its
   * producers once the WebSocket buffers more than its 4 MiB high-water mark (plus the one read
   * chunk in flight, ≤ 64 KiB); the rest of the accepted bytes sit in kernel socket buffers
   * (loopback send + receive, up to ~10 MiB with Linux autotuning), not in the process.
   */
  const ACCEPTED_BOUND = 4 * 1024 * 1024 + 64 * 1024 + 10 * 1024 * 1024;

  it('bounds what the server accepts for it and keeps other providers working', async function () {
    const server = await scene.server();
    const slowPort = await freePort();
    const fastPort = await freePort();
    server.addReverseToken({ token: 'stalled', port: slowPort });
    server.addReverseToken({ token: 'healthy', port: fastPort });
    const stalled = await RawPeer.connect(server.address().port, 'stalled', true);
    scene.peers.push(stalled);
    await scene.client({ url: `ws://${LOCALHOST}:${server.address().port}`, token: 'healthy', reverse: true });

    // The stalled provider accepts the channel, then stops reading its WebSocket for good.
    const socksPending = scene.socks(slowPort);
    const connect = await stalled.next((m) => m.type === 'connect', 5000, 'Connect at the stalled provider');
    if (connect.type !== 'connect') throw new Error('unreachable');
    stalled.send({ type: 'connectResponse', success: true, channelId: connect.channelId, error: '' });
    const socket = await socksPending;
    stalled.ws.pause();

    const offered = 64 * 1024 * 1024;
    writeAll(socket, makePayload(offered, 61)).catch(() => undefined);
    await waitUntil(() => server.counters.producerPauses > 0, 10_000, 'server paused the SOCKS reader');

    const healthy = makePayload(4 * 1024 * 1024, 62);
    const bytesBefore = server.counters.bytesToLink;
    expect((await socksEcho(fastPort, scene.echo.port, healthy)).equals(healthy)).to.equal(true);
    const stalledAccepted = server.counters.bytesToLink - healthy.length;
    expect(bytesBefore).to.be.below(ACCEPTED_BOUND);
    expect(stalledAccepted).to.be.below(ACCEPTED_BOUND);

    socket.destroy();
    await stalled.terminate();
    await expectNoChannels(server);
  });
});

function dataFor(channelId: string, data: Buffer): Parameters<RawPeer['send']>[0] {
  return { type: 'data', protocol: 'tcp', channelId, compression: 0, data, address: '', port: 0, targetAddr: '', targetPort: 0 };
}

