import { expect } from 'chai';
import net from 'node:net';
import { checkNoLeaksAfterSuite } from '../helpers/leaks.js';
import { endingOf, freePort, LOCALHOST, startEchoServer, startSourceServer, waitForPort, withTimeout } from '../helpers/net.js';
import type { EchoServer } from '../helpers/net.js';
import { collectBytes, makePayload, sha256, writeAll } from '../helpers/payload.js';
import { socksConnect } from '../helpers/socks.js';
import { waitForValue } from '../helpers/wait.js';
import { LinkSocksServer } from '../../src/server/server.js';
import { CLUSTER_SECRET, startCluster, type ClusterRig } from './cluster-rig.js';

const MiB = 1024 * 1024;

/** Sends `payload` through the SOCKS port at host:port to the echo server and checks the hash of what comes back. */
async function echoThrough(host: string, port: number, echoPort: number, payload: Buffer, timeoutMs = 60_000): Promise<void> {
  const socket = await socksConnect({ proxyHost: host, proxyPort: port, host: LOCALHOST, port: echoPort });
  try {
    const received = collectBytes(socket, payload.length, timeoutMs);
    const written = writeAll(socket, payload);
    written.catch(() => undefined);
    const echoed = await received;
    await written;
    expect(sha256(echoed)).to.equal(sha256(payload));
  } finally {
    socket.destroy();
  }
}

/**
 * A no-auth SOCKS5 CONNECT to 127.0.0.1:targetPort that leaves the tunnel unread: the socket stays
 * in paused mode (client libraries keep reading in the background).
 */
async function pausedSocksConnect(proxyHost: string, proxyPort: number, targetPort: number): Promise<net.Socket> {
  const socket = net.connect({ host: proxyHost, port: proxyPort });
  socket.on('error', () => undefined);
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(Buffer.from([5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, targetPort >> 8, targetPort & 0xff]));
  const replies = await withTimeout(
    new Promise<Buffer>((resolve) => {
      const tryRead = (): void => {
        const chunk = socket.read(12) as Buffer | null;
        if (!chunk) return;
        socket.off('readable', tryRead);
        resolve(chunk);
      };
      socket.on('readable', tryRead);
    }),
    5000,
    'SOCKS replies',
  );
  expect([...replies.subarray(0, 4)]).to.deep.equal([5, 0, 5, 0]);
  return socket;
}

describe('cluster: channels across instances', function () {
  this.timeout(120_000);
  checkNoLeaksAfterSuite();
  let rig: ClusterRig;
  let echo: EchoServer;
  let port: number;
  const sockets: net.Socket[] = [];

  beforeEach(async function () {
    echo = await startEchoServer();
    port = await freePort();
  });

  afterEach(async function () {
    for (const s of sockets.splice(0)) s.destroy();
    await rig?.stop();
    await echo.close();
  });

  it('reverse mode: SOCKS on A, provider on B, 16 MiB each way hash-exact (and the same on one instance)', async function () {
    rig = await startCluster(2);
    rig.everywhere((s) => s.addReverseToken({ token: 'rev', port }));
    await rig.client(1, { token: 'rev', reverse: true });
    await waitForPort(port, 5000, rig.socksHost(0));
    const payload = makePayload(16 * MiB, 7);
    let started = Date.now();
    await echoThrough(rig.socksHost(0), port, echo.port, payload);
    const crossMs = Date.now() - started;
    started = Date.now();
    await echoThrough(rig.socksHost(1), port, echo.port, payload);
    const localMs = Date.now() - started;
    console.log(`      16 MiB each way: across instances ${crossMs} ms, on the provider's instance ${localMs} ms`);
    expect(rig.servers[0]!.clusterCounters!.channelsOutgoing).to.equal(1);
    expect(rig.servers[1]!.clusterCounters!.channelsIncoming).to.equal(1);
    expect(rig.servers[0]!.clusterCounters!.bytesSent).to.be.greaterThan(16 * MiB);
  });

  it('agent mode: connector on A, provider on B, 16 MiB each way hash-exact', async function () {
    rig = await startCluster(2);
    rig.everywhere((s) => {
      s.addReverseToken({ token: 'prov', port });
      s.addConnectorToken('conn', 'prov');
    });
    await rig.client(1, { token: 'prov', reverse: true });
    const connector = await rig.client(0, { token: 'conn' });
    await waitForValue(() => rig.servers[0]!.clusterCounters !== undefined, true, 'cluster on');
    const payload = makePayload(16 * MiB, 9);
    await echoThrough(LOCALHOST, connector.socksAddress()!.port, echo.port, payload);
    expect(rig.servers[0]!.clusterCounters!.channelsOutgoing).to.equal(1);
    expect(rig.servers[1]!.clusterCounters!.channelsIncoming).to.equal(1);
  });

  it('every ordered pair of 3 instances carries reverse and agent channels', async function () {
    rig = await startCluster(3);
    rig.everywhere((s) => {
      for (let p = 0; p < 3; p += 1) {
        s.addReverseToken({ token: `rev-${p}`, port: port + p });
        s.addConnectorToken(`conn-${p}`, `rev-${p}`);
      }
    });
    // Provider of token rev-p only on instance p.
    for (let p = 0; p < 3; p += 1) await rig.client(p, { token: `rev-${p}`, reverse: true });
    const payload = makePayload(MiB, 3);
    for (let entry = 0; entry < 3; entry += 1) {
      for (let p = 0; p < 3; p += 1) {
        if (p === entry) continue;
        await waitForPort(port + p, 5000, rig.socksHost(entry));
        await echoThrough(rig.socksHost(entry), port + p, echo.port, payload);
        const connector = await rig.client(entry, { token: `conn-${p}` });
        await echoThrough(LOCALHOST, connector.socksAddress()!.port, echo.port, payload);
      }
    }
    for (const server of rig.servers) {
      expect(server.clusterCounters!.channelsOutgoing).to.equal(4);
      expect(server.clusterCounters!.channelsIncoming).to.equal(4);
    }
  });

  it('50 concurrent channels share one instance link, 1 MiB each way each, hash-exact', async function () {
    rig = await startCluster(2);
    rig.everywhere((s) => s.addReverseToken({ token: 'rev', port }));
    await rig.client(1, { token: 'rev', reverse: true });
    await waitForPort(port, 5000, rig.socksHost(0));
    await Promise.all(Array.from({ length: 50 }, (_, i) => echoThrough(rig.socksHost(0), port, echo.port, makePayload(MiB, 100 + i))));
    expect(rig.servers[0]!.clusterCounters!.channelsOutgoing).to.equal(50);
    expect(rig.servers[0]!.clusterLinks().outgoing).to.have.length(1);
  });

  it('a slow SOCKS reader on A holds back the provider on B (backpressure over both hops), nothing lost', async function () {
    rig = await startCluster(2);
    rig.everywhere((s) => s.addReverseToken({ token: 'rev', port }));
    const provider = await rig.client(1, { token: 'rev', reverse: true });
    await waitForPort(port, 5000, rig.socksHost(0));
    const source = await startSourceServer(48 * MiB);
    try {
      const socket = await pausedSocksConnect(rig.socksHost(0), port, source.port);
      sockets.push(socket);
      // The SOCKS socket stops taking data: A stops reading the link, B's route stops reading the provider.
      await waitForValue(() => rig.servers[0]!.counters.inboundPauses > 0, true, 'A paused its instance link', 20_000);
      await waitForValue(() => rig.servers[1]!.counters.producerPauses > 0 || provider.counters.producerPauses > 0, true, 'the far side held back', 20_000);
      const received = collectBytes(socket, source.payload.length, 60_000);
      expect(sha256(await received)).to.equal(sha256(source.payload));
    } finally {
      await source.close();
    }
  });

  it('round robin is fair across the cluster: 3 providers on 3 instances, 300 connections through A', async function () {
    rig = await startCluster(3);
    rig.everywhere((s) => s.addReverseToken({ token: 'rev', port }));
    const providers = [];
    for (let i = 0; i < 3; i += 1) providers.push(await rig.client(i, { token: 'rev', reverse: true }));
    await waitForPort(port, 5000, rig.socksHost(0));
    for (let batch = 0; batch < 10; batch += 1) {
      await Promise.all(Array.from({ length: 30 }, () => echoThrough(rig.socksHost(0), port, echo.port, Buffer.from('x'))));
    }
    const counts = providers.map((p) => p.counters.channelsOpened);
    console.log(`      channels per provider (A, B, C): ${counts.join(', ')}`);
    expect(counts.reduce((a, b) => a + b, 0)).to.equal(300);
    for (const count of counts) expect(count).to.be.within(95, 105);
  });

  it('weights nodes by their provider count: 1 on A, 2 on B, 300 connections → 100 per provider', async function () {
    rig = await startCluster(2);
    rig.everywhere((s) => s.addReverseToken({ token: 'rev', port }));
    const providers = [await rig.client(0, { token: 'rev', reverse: true })];
    for (let i = 0; i < 2; i += 1) providers.push(await rig.client(1, { token: 'rev', reverse: true }));
    await waitForPort(port, 5000, rig.socksHost(0));
    for (let batch = 0; batch < 10; batch += 1) {
      await Promise.all(Array.from({ length: 30 }, () => echoThrough(rig.socksHost(0), port, echo.port, Buffer.from('x'))));
    }
    const counts = providers.map((p) => p.counters.channelsOpened);
    expect(counts.reduce((a, b) => a + b, 0)).to.equal(300);
    for (const count of counts) expect(count).to.be.within(95, 105);
  });

  it('an instance link cut mid-transfer fails its channels at once on both sides; the next channel opens a new link', async function () {
    rig = await startCluster(2);
    rig.everywhere((s) => s.addReverseToken({ token: 'rev', port }));
    const provider = await rig.client(1, { token: 'rev', reverse: true });
    await waitForPort(port, 5000, rig.socksHost(0));
    // Ten channels on the one link, each streaming when the link is cut.
    const open = await Promise.all(
      Array.from({ length: 10 }, () => socksConnect({ proxyHost: rig.socksHost(0), proxyPort: port, host: LOCALHOST, port: echo.port })),
    );
    sockets.push(...open);
    const endings = open.map((socket) => endingOf(socket));
    for (const socket of open) socket.write(makePayload(MiB, 1));
    const [link] = rig.servers[0]!.clusterLinks().outgoing;
    expect(link).to.not.equal(undefined);
    expect(link!.channels.size).to.equal(10);
    const started = Date.now();
    (link as unknown as { socket: net.Socket }).socket.destroy();
    const how = await withTimeout(Promise.all(endings), 5000, 'SOCKS sockets on the cut link ended');
    for (const ending of how) expect(['ECONNRESET', 'end', 'close']).to.include(ending);
    expect(Date.now() - started).to.be.below(3000);
    // The provider was told too: its half of every channel is gone.
    await waitForValue(() => provider.counters.channelsOpen, 0, 'channels open on the provider');
    await echoThrough(rig.socksHost(0), port, echo.port, makePayload(MiB, 2));
    expect(rig.servers[0]!.clusterLinks().outgoing).to.have.length(1);
    await waitForValue(() => rig.servers[1]!.clusterLinks().incoming.filter((l) => !l.isClosed).length, 1, 'links on B');
  });

  it('agent mode: a cut instance link ends the connector\'s channels at once too', async function () {
    rig = await startCluster(2);
    rig.everywhere((s) => {
      s.addReverseToken({ token: 'prov', port });
      s.addConnectorToken('conn', 'prov');
    });
    const provider = await rig.client(1, { token: 'prov', reverse: true });
    const connector = await rig.client(0, { token: 'conn' });
    const open = await Promise.all(
      Array.from({ length: 3 }, () => socksConnect({ proxyPort: connector.socksAddress()!.port, host: LOCALHOST, port: echo.port })),
    );
    sockets.push(...open);
    // Each channel carries data end to end before the cut.
    for (const socket of open) {
      const back = collectBytes(socket, 4, 5000);
      socket.write('ping');
      expect((await back).toString()).to.equal('ping');
    }
    const endings = open.map((socket) => endingOf(socket));
    const [link] = rig.servers[0]!.clusterLinks().outgoing;
    (link as unknown as { socket: net.Socket }).socket.destroy();
    await withTimeout(Promise.all(endings), 5000, 'connector channels ended');
    await waitForValue(() => provider.counters.channelsOpen, 0, 'channels open on the provider');
    await echoThrough(LOCALHOST, connector.socksAddress()!.port, echo.port, Buffer.from('again'));
  });

  it('closing instance B: A stops routing to it and serves from its own provider', async function () {
    rig = await startCluster(2);
    rig.everywhere((s) => s.addReverseToken({ token: 'rev', port }));
    const local = await rig.client(0, { token: 'rev', reverse: true });
    await rig.client(1, { token: 'rev', reverse: true });
    await waitForPort(port, 5000, rig.socksHost(0));
    // One channel held open through B.
    let held: net.Socket | undefined;
    for (let i = 0; i < 2 && held === undefined; i += 1) {
      const socket = await socksConnect({ proxyHost: rig.socksHost(0), proxyPort: port, host: LOCALHOST, port: echo.port });
      sockets.push(socket);
      if (rig.servers[0]!.clusterLinks().outgoing.some((l) => l.channels.size > 0)) held = socket;
    }
    expect(held).to.not.equal(undefined);
    const ending = endingOf(held!);
    await rig.servers[1]!.close();
    expect(await withTimeout(ending, 5000, 'channel through B ended')).to.be.a('string');
    const before = local.counters.channelsOpened;
    for (let i = 0; i < 6; i += 1) await echoThrough(rig.socksHost(0), port, echo.port, Buffer.from('after'));
    expect(local.counters.channelsOpened - before).to.equal(6);
    expect(rig.servers[0]!.clusterLinks().outgoing).to.have.length(0);
  });

  it('draining instance B: no new channels go to it, the ones it carries finish, then it leaves', async function () {
    rig = await startCluster(2);
    rig.everywhere((s) => s.addReverseToken({ token: 'rev', port }));
    const local = await rig.client(0, { token: 'rev', reverse: true });
    await rig.client(1, { token: 'rev', reverse: true });
    await waitForPort(port, 5000, rig.socksHost(0));
    let held: net.Socket | undefined;
    for (let i = 0; i < 2 && held === undefined; i += 1) {
      const socket = await socksConnect({ proxyHost: rig.socksHost(0), proxyPort: port, host: LOCALHOST, port: echo.port });
      sockets.push(socket);
      if (rig.servers[0]!.clusterLinks().outgoing.some((l) => l.channels.size > 0)) held = socket;
    }
    expect(held).to.not.equal(undefined);
    const drained = rig.servers[1]!.drain(20_000);
    const before = local.counters.channelsOpened;
    for (let i = 0; i < 4; i += 1) await echoThrough(rig.socksHost(0), port, echo.port, Buffer.from('new'));
    expect(local.counters.channelsOpened - before).to.equal(4);
    // The channel through B still carries data both ways.
    const reply = collectBytes(held!, 5, 5000);
    held!.write('still');
    expect((await reply).toString()).to.equal('still');
    held!.destroy();
    await withTimeout(drained, 10_000, 'drain of B');
    await waitForValue(() => rig.servers[0]!.clusterLinks().outgoing.length, 0, 'links to B gone');
  });

  it('counts cross-instance channels and link bytes in the metrics of each instance', async function () {
    rig = await startCluster(2, { metrics: true });
    rig.everywhere((s) => s.addReverseToken({ token: 'rev', port }));
    await rig.client(1, { token: 'rev', reverse: true });
    await waitForPort(port, 5000, rig.socksHost(0));
    await echoThrough(rig.socksHost(0), port, echo.port, makePayload(MiB, 5));
    const a = await rig.servers[0]!.metricsRegistry!.metrics();
    const b = await rig.servers[1]!.metricsRegistry!.metrics();
    expect(a).to.match(/linksocks_cluster_channels_total\{direction="outgoing"\} 1\b/);
    expect(b).to.match(/linksocks_cluster_channels_total\{direction="incoming"\} 1\b/);
    const sent = Number(/linksocks_cluster_link_bytes_total\{direction="sent"\} (\d+)/.exec(a)?.[1]);
    expect(sent).to.be.greaterThan(MiB);
    expect(a).to.match(/linksocks_cluster_links_open 1\b/);
  });

  it('autonomy mode: a connector on A reaches the private pool of a provider on B (tokens synced by hand here)', async function () {
    rig = await startCluster(2);
    rig.everywhere((s) => s.addReverseToken({ token: 'auto', allowManageConnector: true }));
    const provider = await rig.client(1, { token: 'auto', reverse: true });
    expect(await provider.addConnector('auto-conn')).to.equal('auto-conn');
    const B = rig.servers[1]!;
    const record = B.store.get('auto-conn');
    const internal = record?.kind === 'connector' ? record.reverseToken : '';
    // What the cluster's token sync does: the internal and connector tokens reach A.
    rig.servers[0]!.store.addInternal('auto', internal);
    rig.servers[0]!.addConnectorToken('auto-conn', internal);
    const connector = await rig.client(0, { token: 'auto-conn' });
    await echoThrough(LOCALHOST, connector.socksAddress()!.port, echo.port, makePayload(MiB, 13));
    expect(B.clusterCounters!.channelsIncoming).to.equal(1);
  });

  it('preferLocal: an instance with a provider of its own keeps its channels; without one it uses the others', async function () {
    rig = await startCluster(2);
    // A third instance that prefers its own providers, in the same cluster.
    const c = new LinkSocksServer({ host: LOCALHOST, port: 0, socksHost: '127.0.0.9', cluster: { directory: rig.memory.join('node-c'), secret: CLUSTER_SECRET, preferLocal: true } });
    await c.start();
    rig.servers.push(c);
    rig.everywhere((s) => s.addReverseToken({ token: 'rev', port }));
    const remoteProvider = await rig.client(1, { token: 'rev', reverse: true });
    const own = await rig.client(2, { token: 'rev', reverse: true });
    await waitForPort(port, 5000, '127.0.0.9');
    for (let i = 0; i < 6; i += 1) await echoThrough('127.0.0.9', port, echo.port, Buffer.from('mine'));
    expect(own.counters.channelsOpened).to.equal(6);
    expect(remoteProvider.counters.channelsOpened).to.equal(0);
    await own.close();
    await waitForValue(() => c.clients().length, 0, 'own provider gone');
    await echoThrough('127.0.0.9', port, echo.port, Buffer.from('theirs'));
    expect(remoteProvider.counters.channelsOpened).to.equal(1);
  });

  it('a reverse token removed and added again on A opens its port again while B holds a provider', async function () {
    rig = await startCluster(2);
    rig.everywhere((s) => s.addReverseToken({ token: 'rev', port }));
    await rig.client(1, { token: 'rev', reverse: true });
    await waitForPort(port, 5000, rig.socksHost(0));
    expect(rig.servers[0]!.removeToken('rev')).to.equal(true);
    await waitForValue(() => rig.servers[0]!.socksAddress('rev'), undefined, 'port closed with the token');
    rig.servers[0]!.addReverseToken({ token: 'rev', port });
    await waitForPort(port, 5000, rig.socksHost(0));
    await echoThrough(rig.socksHost(0), port, echo.port, Buffer.from('back'));
  });
});
