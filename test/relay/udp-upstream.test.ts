// UDP through a SOCKS5 upstream proxy (../shared/spec/MODES.md §8.4–8.6): the dialing side opens a
// UDP ASSOCIATE on the upstream instead of a local socket. The upstream is the project's own
// Socks5Server with a small UDP relay (test/helpers/udp-upstream-proxy.ts), so every datagram that
// reaches the echo target is counted on its way through.
import { expect } from 'chai';

import { LinkSocksClient } from '../../src/client/client.js';
import { LinkSocksServer } from '../../src/server/server.js';
import { socks5UdpAssociate } from '../../src/socks5/client.js';
import { Socks5Error } from '../../src/socks5/errors.js';
import type { Socks5UdpMessage, Socks5UdpRelay } from '../../src/socks5/udp-client.js';
import { LOCALHOST, startUdpEchoServer, withTimeout, type UdpEchoServer } from '../helpers/net.js';
import { makePayload } from '../helpers/payload.js';
import { socksUdpRoundTrip } from '../helpers/socks.js';
import { SocksUdpAssociation } from '../helpers/socks-udp.js';
import { startUdpUpstreamProxy, type UdpUpstreamProxy, type UdpUpstreamProxyOptions } from '../helpers/udp-upstream-proxy.js';
import { waitForValue } from '../helpers/wait.js';

describe('UDP through a SOCKS5 upstream proxy', function () {
  let echo: UdpEchoServer | undefined;
  let proxy: UdpUpstreamProxy | undefined;
  let server: LinkSocksServer | undefined;
  let client: LinkSocksClient | undefined;
  let association: SocksUdpAssociation | undefined;
  let relay: Socks5UdpRelay | undefined;

  afterEach(async function () {
    relay?.close();
    await association?.close();
    await client?.close();
    await server?.close();
    await proxy?.close();
    await echo?.close();
    relay = association = client = server = proxy = echo = undefined;
  });

  /** Echo target, upstream proxy, LinkSocks server (forward mode, via the proxy) and client. */
  async function startRig(proxyOptions: UdpUpstreamProxyOptions = {}, auth = '', fastOpen = false): Promise<number> {
    echo = await startUdpEchoServer();
    proxy = await startUdpUpstreamProxy(proxyOptions);
    server = new LinkSocksServer({ host: LOCALHOST, port: 0, upstreamProxy: `socks5://${auth}${LOCALHOST}:${proxy.port}` });
    await server.start();
    server.addForwardToken('udp-upstream');
    client = new LinkSocksClient({ url: `ws://${LOCALHOST}:${server.address().port}`, token: 'udp-upstream', socksPort: 0, fastOpen });
    await client.start();
    return client.socksAddress()!.port;
  }

  function datagram(i: number): Buffer {
    const out = makePayload(8 + ((i * 37) % 1200), i + 1);
    out.writeUInt32BE(i, 0);
    return out;
  }

  it('carries 200 datagrams end to end through the upstream, all answered with matching content', async function () {
    const socksPort = await startRig();
    association = await SocksUdpAssociation.open({ proxyPort: socksPort });
    const count = 200;
    // Windows of 32: a 200-datagram burst would overflow loopback socket buffers (and the
    // dialing side keeps only 64 datagrams while the upstream association is being opened).
    const window = 32;
    const expected = new Set<string>();
    let matched = 0;
    for (let start = 0; start < count; start += window) {
      const end = Math.min(count, start + window);
      for (let i = start; i < end; i += 1) {
        const data = datagram(i);
        expected.add(data.toString('hex'));
        association.send(LOCALHOST, echo!.port, data);
      }
      for (const reply of await association.collect(end - start, 5000)) {
        expect(reply.host).to.equal(LOCALHOST);
        expect(reply.port).to.equal(echo!.port);
        if (expected.delete(reply.data.toString('hex'))) matched += 1;
      }
    }
    expect(matched).to.equal(count);
    expect(proxy!.datagramsOut).to.equal(count);
    expect(proxy!.datagramsBack).to.equal(count);
    expect(proxy!.associationsOpened).to.equal(1);
    expect(server!.counters.udpDatagramsFromLink).to.equal(count);
    expect(server!.counters.udpDatagramsToLink).to.equal(count);
  });

  it('sends names to the proxy unresolved', async function () {
    const socksPort = await startRig();
    association = await SocksUdpAssociation.open({ proxyPort: socksPort });
    // No local DNS: the test proxy maps every name to the loopback echo target.
    association.send('echo.invalid', echo!.port, Buffer.from('by name'), 3);
    const reply = await association.next(10_000);
    expect(reply.data.toString()).to.equal('by name');
    expect(proxy!.datagramsOut).to.equal(1);
  });

  it('logs in to an upstream that requires credentials', async function () {
    const socksPort = await startRig({ credentials: { username: 'alice', password: 's3cret' } }, 'alice:s3cret@');
    const answer = await socksUdpRoundTrip(socksPort, echo!.port, Buffer.from('with credentials'));
    expect(answer.toString()).to.equal('with credentials');
    expect(proxy!.datagramsOut).to.equal(1);
  });

  it('fails the dialing-side channel when the upstream refuses UDP ASSOCIATE', async function () {
    // Fast open, so the SOCKS client holds an association while the dialing side fails.
    const socksPort = await startRig({ refuseUdp: true }, '', true);
    association = await SocksUdpAssociation.open({ proxyPort: socksPort });
    const controlClosed = new Promise<void>((resolve) => association!.control.once('close', () => resolve()));
    association.send(LOCALHOST, echo!.port, Buffer.from('refused'));
    await waitForValue(() => server!.counters.channelsFailed, 1, 'server channelsFailed', 10_000);
    expect(proxy!.udpRequests).to.equal(1);
    expect(proxy!.associationsOpened).to.equal(0);
    expect(server!.counters.udpSocketsOpen).to.equal(0);
    expect(server!.counters.channelsOpened).to.equal(0);
    // The failed ConnectResponse tears the fast-opened association down on the SOCKS side.
    await withTimeout(controlClosed, 10_000, 'SOCKS control connection closed');
    await waitForValue(() => client!.counters.channelsFailed, 1, 'client channelsFailed', 10_000);
    await waitForValue(() => client!.counters.udpAssociationsOpen, 0, 'client udpAssociationsOpen', 10_000);
    expect(association.malformedReplies).to.equal(0);
    expect(await association.collect(1, 200)).to.have.length(0);
    expect(echo!.datagrams).to.equal(0);
  });

  it('tears everything down when the SOCKS client closes its control connection', async function () {
    const socksPort = await startRig();
    association = await SocksUdpAssociation.open({ proxyPort: socksPort });
    association.send(LOCALHOST, echo!.port, Buffer.from('before close'));
    expect((await association.next(10_000)).data.toString()).to.equal('before close');
    expect(server!.counters.udpSocketsOpen).to.equal(1);
    expect(proxy!.associationsOpen).to.equal(1);
    association.control.destroy();
    await waitForValue(() => client!.counters.udpAssociationsOpen, 0, 'client udpAssociationsOpen', 10_000);
    await waitForValue(() => server!.counters.udpSocketsOpen, 0, 'server udpSocketsOpen', 10_000);
    await waitForValue(() => proxy!.associationsOpen, 0, 'upstream associations open', 10_000);
  });

  it('ends the channel with a Disconnect when the upstream association dies', async function () {
    const socksPort = await startRig();
    association = await SocksUdpAssociation.open({ proxyPort: socksPort });
    association.send(LOCALHOST, echo!.port, Buffer.from('before'));
    expect((await association.next(10_000)).data.toString()).to.equal('before');
    const controlClosed = new Promise<void>((resolve) => association!.control.once('close', () => resolve()));
    await proxy!.close(); // closes the upstream association's control connection
    await waitForValue(() => server!.counters.udpSocketsOpen, 0, 'server udpSocketsOpen', 10_000);
    await withTimeout(controlClosed, 10_000, 'SOCKS control connection closed');
    await waitForValue(() => client!.counters.udpAssociationsOpen, 0, 'client udpAssociationsOpen', 10_000);
  });

  it('keeps UDP direct with an HTTP upstream', async function () {
    echo = await startUdpEchoServer();
    // Nothing listens there: any attempt to use it for UDP would fail the round trip.
    server = new LinkSocksServer({ host: LOCALHOST, port: 0, upstreamProxy: `http://${LOCALHOST}:9` });
    await server.start();
    server.addForwardToken('udp-http-upstream');
    client = new LinkSocksClient({ url: `ws://${LOCALHOST}:${server.address().port}`, token: 'udp-http-upstream', socksPort: 0 });
    await client.start();
    const answer = await socksUdpRoundTrip(client.socksAddress()!.port, echo.port, Buffer.from('direct'));
    expect(answer.toString()).to.equal('direct');
    expect(echo.datagrams).to.equal(1);
  });

  describe('socks5UdpAssociate', function () {
    it('relays datagrams and reports the source from the SOCKS header', async function () {
      echo = await startUdpEchoServer();
      proxy = await startUdpUpstreamProxy();
      relay = await socks5UdpAssociate({ proxyHost: LOCALHOST, proxyPort: proxy.port, timeoutMs: 5000 });
      const message = withTimeout(
        new Promise<Socks5UdpMessage>((resolve) => relay!.once('message', resolve)),
        10_000,
        'relay message',
      );
      expect(relay.send(LOCALHOST, echo.port, Buffer.from('direct'))).to.equal(true);
      const got = await message;
      expect(got).to.include({ host: LOCALHOST, port: echo.port });
      expect(got.data.toString()).to.equal('direct');
      // Port 0 cannot be addressed: refused locally, nothing sent.
      expect(relay.send(LOCALHOST, 0, Buffer.from('x'))).to.equal(false);
    });

    it("emits 'close' when the proxy ends the association", async function () {
      proxy = await startUdpUpstreamProxy();
      relay = await socks5UdpAssociate({ proxyHost: LOCALHOST, proxyPort: proxy.port, timeoutMs: 5000 });
      await waitForValue(() => proxy!.associationsOpen, 1, 'upstream associations open');
      const closed = withTimeout(new Promise<void>((resolve) => relay!.once('close', () => resolve())), 10_000, 'relay close');
      await proxy.close();
      await closed;
      expect(relay.isClosed).to.equal(true);
    });

    it('rejects with the reply code when UDP ASSOCIATE is refused', async function () {
      proxy = await startUdpUpstreamProxy({ refuseUdp: true });
      const err = await socks5UdpAssociate({ proxyHost: LOCALHOST, proxyPort: proxy.port, timeoutMs: 5000 }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(Socks5Error);
      expect((err as Socks5Error).code).to.equal('ERR_SOCKS5_CONNECT_FAILED');
      expect((err as Socks5Error).reply).to.equal(0x07);
      expect((err as Socks5Error).message).to.match(/^socks5 udp associate failed: command not supported/);
    });
  });
});
