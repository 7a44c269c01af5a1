// IPv6 end to end on ::1: WebSocket server and SOCKS listeners bound to ::1, client URL with a
// bracketed literal, SOCKS CONNECT with ATYP 04, and the address text that travels in Connect
// messages is RFC 5952 (the SOCKS server canonicalises ATYP 04 bytes and CONNECT authorities).
import { expect } from 'chai';
import type net from 'node:net';

import { LinkSocksClient } from '../../src/client/client.js';
import type { ConnectResult } from '../../src/relay/observer.js';
import { LinkSocksServer } from '../../src/server/server.js';
import { hasIPv6Loopback, LOCALHOST6, startEchoServer6, startUdpEchoServer6 } from '../helpers/ipv6.js';
import { LOCALHOST, startEchoServer, waitForEvent } from '../helpers/net.js';
import type { EchoServer, UdpEchoServer } from '../helpers/net.js';
import { makePayload, sendAndCollect } from '../helpers/payload.js';
import { rawSocksConnect } from '../helpers/socks-raw.js';
import { SocksUdpAssociation } from '../helpers/socks-udp.js';
import { waitForDefined } from '../helpers/wait.js';
import { connectHttp } from '../helpers/http-connect-client.js';
import { checkNoLeaksAfterSuite } from '../helpers/leaks.js';

type ConnectEvent = ConnectResult & { mode: string };

describe('IPv6 end to end on ::1', function () {
  checkNoLeaksAfterSuite();
  let echo6: EchoServer;
  let udpEcho6: UdpEchoServer;
  let server: LinkSocksServer;
  const clients: LinkSocksClient[] = [];
  const sockets: net.Socket[] = [];
  const closers: Array<() => Promise<void>> = [];

  before(async function () {
    if (!(await hasIPv6Loopback())) {
      console.log('      skipped: cannot bind a socket to ::1 on this machine');
      this.skip();
    }
  });

  beforeEach(async function () {
    echo6 = await startEchoServer6();
    udpEcho6 = await startUdpEchoServer6();
    server = new LinkSocksServer({ host: LOCALHOST6, port: 0, socksHost: LOCALHOST6 });
    await server.start();
  });

  afterEach(async function () {
    for (const s of sockets.splice(0)) s.destroy();
    for (const close of closers.splice(0).reverse()) await close();
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await server?.close();
    await echo6?.close();
    await udpEcho6?.close();
  });

  async function startClient(options: ConstructorParameters<typeof LinkSocksClient>[0]): Promise<LinkSocksClient> {
    const client = new LinkSocksClient({ url: `ws://[::1]:${server.address().port}`, socksPort: 0, ...options });
    clients.push(client);
    await client.start();
    return client;
  }

  /** Forward mode on ::1: an ATYP 04 CONNECT to `host`, answered with success; the server's connect event. */
  async function forwardAtyp4Connect(host: string, port: number): Promise<{ socket: net.Socket; event: ConnectEvent }> {
    server.addForwardToken('v6');
    const client = await startClient({ token: 'v6', socksHost: LOCALHOST6 });
    const dialed = waitForEvent<[ConnectEvent]>(server, 'connect');
    const { reply, socket } = await rawSocksConnect({ proxyHost: LOCALHOST6, proxyPort: client.socksAddress()!.port, host, port, atyp: 4 });
    sockets.push(socket);
    expect(reply).to.equal(0);
    const [event] = await dialed;
    return { socket, event };
  }

  it('listens on ::1: server address and the client\'s SOCKS listener are IPv6', async function () {
    server.addForwardToken('v6');
    const client = await startClient({ token: 'v6', socksHost: LOCALHOST6 });
    expect(server.address()).to.include({ address: '::1', family: 'IPv6' });
    expect(client.socksAddress()).to.include({ address: '::1', family: 'IPv6' });
  });

  it('forward: ATYP 04 CONNECT written as 0:0:0:0:0:0:0:1 reaches the IPv6 target; the Connect says ::1', async function () {
    const { socket, event } = await forwardAtyp4Connect('0:0:0:0:0:0:0:1', echo6.port);
    // The server is the dialing side here: its target text is the Connect message's address.
    expect(event).to.include({ ok: true, target: `[::1]:${echo6.port}` });
    const payload = makePayload(256 * 1024, 61);
    expect((await sendAndCollect(socket, payload)).equals(payload)).to.equal(true);
  });

  it('forward: an IPv4-mapped ATYP 04 address (::ffff:127.0.0.1) travels as 127.0.0.1, as Go prints it', async function () {
    const echo4 = await startEchoServer();
    closers.push(() => echo4.close());
    const { event } = await forwardAtyp4Connect('0:0:0:0:0:ffff:7f00:1', echo4.port);
    expect(event).to.include({ ok: true, target: `${LOCALHOST}:${echo4.port}` });
  });

  it('reverse: the server\'s SOCKS listener on ::1 (socksHost) relays to the IPv6 target via the provider', async function () {
    server.addReverseToken({ token: 'v6-rev', port: 0 });
    const provider = await startClient({ token: 'v6-rev', reverse: true });
    const address = await waitForDefined(() => server.socksAddress('v6-rev'), 'reverse SOCKS listener');
    expect(address).to.include({ address: '::1', family: 'IPv6' });
    const socksSide = waitForEvent<[ConnectEvent]>(server, 'connect');
    const dialingSide = waitForEvent<[ConnectEvent]>(provider, 'connect');
    const { reply, socket } = await rawSocksConnect({
      proxyHost: LOCALHOST6,
      proxyPort: address.port,
      host: '0:0:0:0:0:0:0:1',
      port: echo6.port,
      atyp: 4,
    });
    sockets.push(socket);
    expect(reply).to.equal(0);
    expect((await socksSide)[0]).to.include({ ok: true, target: `[::1]:${echo6.port}` });
    expect((await dialingSide)[0]).to.include({ ok: true, target: `[::1]:${echo6.port}` });
    const payload = makePayload(128 * 1024, 62);
    expect((await sendAndCollect(socket, payload)).equals(payload)).to.equal(true);
  });

  it('HTTP CONNECT [0:0:0:0:0:0:0:1]:port on the ::1 listener arrives as [::1]:port', async function () {
    server.addForwardToken('v6');
    const client = await startClient({ token: 'v6', socksHost: LOCALHOST6 });
    const dialed = waitForEvent<[ConnectEvent]>(server, 'connect');
    const { status, socket } = await connectHttp(LOCALHOST6, client.socksAddress()!.port, `[0:0:0:0:0:0:0:1]:${echo6.port}`);
    sockets.push(socket);
    expect(status).to.match(/^HTTP\/1\.1 200 /);
    expect((await dialed)[0]).to.include({ ok: true, target: `[::1]:${echo6.port}` });
    expect((await sendAndCollect(socket, Buffer.from('over http connect v6'))).toString()).to.equal('over http connect v6');
  });

  it('UDP ASSOCIATE on the ::1 listener: the relay is IPv6 and reaches an IPv6 target', async function () {
    server.addForwardToken('v6');
    const client = await startClient({ token: 'v6', socksHost: LOCALHOST6 });
    const assoc = await SocksUdpAssociation.open({ proxyHost: LOCALHOST6, proxyPort: client.socksAddress()!.port });
    closers.push(() => assoc.close());
    expect(assoc.relayHost).to.equal('::1');
    assoc.send('0:0:0:0:0:0:0:1', udpEcho6.port, Buffer.from('udp over v6'), 4);
    const reply = await assoc.next();
    expect(reply).to.include({ host: '::1', port: udpEcho6.port, atyp: 4 });
    expect(reply.data.toString()).to.equal('udp over v6');
  });
});
