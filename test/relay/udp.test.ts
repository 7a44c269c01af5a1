// UDP over a real Link pair: SOCKS client → Socks5Server → openUdpSocksSide (client link end) →
// WebSocket → handleConnect + udpChannelOpener (server link end) → UDP echo server.
import dgram from 'node:dgram';
import dns from 'node:dns';
import net from 'node:net';

import { expect } from 'chai';
import type { RawData } from 'ws';

import { decodeMessage, type Message } from '../../src/protocol/index.js';
import { handleConnect } from '../../src/relay/dialing-side.js';
import type { Link } from '../../src/relay/link.js';
import { udpChannelOpener, unmapIPv4, type UdpDialingSideOptions } from '../../src/relay/udp-dialing-side.js';
import { openUdpSocksSide } from '../../src/relay/udp-socks-side.js';
import { createTcpDialer } from '../../src/relay/upstream.js';
import { Socks5Server } from '../../src/socks5/server.js';
import { Reply } from '../../src/socks5/types.js';
import { startUdpEchoServer, type UdpEchoServer } from '../helpers/net.js';
import { socksUdpRoundTrip } from '../helpers/socks.js';
import { createLinkPair, type LinkPair } from './link-pair.js';
import { UdpAssociateClient } from './udp-client.js';
import { checkNoLeaksAfterSuite } from '../helpers/leaks.js';

interface Setup {
  fastOpen?: boolean;
  connectTimeoutMs?: number;
  dialing?: UdpDialingSideOptions;
  /** Do not answer Connects at all (to exercise the SOCKS side's timeout). */
  silentDialingSide?: boolean;
}

/** Resolves with the first message of `type` the link's WebSocket receives (after the Link saw it). */
function nextWireMessage(pair: LinkPair, side: 'server' | 'client', type: Message['type'], timeoutMs = 5000): Promise<Message> {
  const ws = side === 'server' ? pair.serverWs : pair.clientWs;
  return new Promise<Message>((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.off('message', onMessage);
      reject(new Error(`no ${type} message within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (data: RawData): void => {
      const msg = decodeMessage(data as Buffer);
      if (msg.type !== type) return;
      clearTimeout(timer);
      ws.off('message', onMessage);
      resolve(msg);
    };
    ws.on('message', onMessage);
  });
}

describe('relay/udp', function () {
  checkNoLeaksAfterSuite();
  this.timeout(10_000);

  let pair: LinkPair;
  let socks: Socks5Server;
  let socksPort: number;
  let echo: UdpEchoServer;
  const cleanups: Array<() => unknown> = [];

  async function setup(options: Setup = {}): Promise<void> {
    pair = await createLinkPair();
    cleanups.push(() => pair.close());
    const link: Link = pair.client;
    socks = new Socks5Server({ port: 0 }, (req) => {
      if (req.command !== 'udp') {
        req.reject(Reply.CommandNotSupported);
        return;
      }
      openUdpSocksSide(link, req, { fastOpen: options.fastOpen ?? false, connectTimeoutMs: options.connectTimeoutMs ?? 5000 });
    });
    socksPort = (await socks.listen()).port;
    cleanups.push(() => socks.close());
    if (!options.silentDialingSide) {
      const openUdp = udpChannelOpener(options.dialing);
      pair.server.on('message', (msg) => {
        if (msg.type === 'connect') handleConnect(pair.server, msg, { dialTcp: createTcpDialer(undefined, 5000), openUdp, maxPayload: 1 << 20 });
      });
    }
  }

  async function associate(): Promise<UdpAssociateClient> {
    const client = await UdpAssociateClient.open(socksPort);
    cleanups.push(() => client.close());
    return client;
  }

  beforeEach(async () => {
    echo = await startUdpEchoServer();
    cleanups.push(() => echo.close());
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('relays a datagram to an IPv4 target and back (helper client)', async () => {
    await setup();
    const payload = Buffer.from('ping over linksocks');
    const answer = await socksUdpRoundTrip(socksPort, echo.port, payload);
    expect(answer.equals(payload)).to.equal(true);
    expect(echo.datagrams).to.equal(1);
    expect(pair.clientCounters.udpDatagramsToLink).to.equal(1);
    expect(pair.serverCounters.udpDatagramsToLink).to.equal(1);
  });

  it('reports the source address of replies in the SOCKS header and keeps the association for many datagrams', async () => {
    await setup();
    const client = await associate();
    for (let i = 0; i < 5; i += 1) {
      client.send('127.0.0.1', echo.port, Buffer.from(`datagram ${i}`));
      const reply = await client.next();
      expect(reply.data.toString()).to.equal(`datagram ${i}`);
      expect(reply.host).to.equal('127.0.0.1');
      expect(reply.port).to.equal(echo.port);
    }
    expect(pair.clientCounters.udpAssociationsOpen).to.equal(1);
    expect(pair.serverCounters.udpSocketsOpen).to.equal(1);
  });

  it('resolves a domain target (localhost) on the dialing side', async () => {
    await setup();
    const { address } = await dns.promises.lookup('localhost');
    // The echo must listen where `localhost` resolves first (usually 127.0.0.1, maybe ::1).
    const target = address === '127.0.0.1' ? echo : await startEchoOn(address);
    if (target !== echo) cleanups.push(() => target.close());
    const client = await associate();
    client.send('localhost', target.port, Buffer.from('by name'));
    const reply = await client.next();
    expect(reply.data.toString()).to.equal('by name');
    expect(reply.host).to.equal(address);
  });

  it('works in fast-open mode (reply before the ConnectResponse)', async () => {
    await setup({ fastOpen: true });
    const payload = Buffer.from('fast');
    const answer = await socksUdpRoundTrip(socksPort, echo.port, payload);
    expect(answer.equals(payload)).to.equal(true);
  });

  it('closing the control connection sends Disconnect and closes both UDP sockets', async () => {
    await setup();
    const client = await associate();
    client.send('127.0.0.1', echo.port, Buffer.from('x'));
    await client.next();
    expect(pair.clientCounters.udpAssociationsOpen).to.equal(1);
    expect(pair.serverCounters.udpSocketsOpen).to.equal(1);

    const disconnect = nextWireMessage(pair, 'server', 'disconnect');
    client.control.destroy();
    const msg = await disconnect;
    expect(msg).to.include({ type: 'disconnect', error: '' });
    // The Link handled the message before our listener saw it: the dialing side is gone.
    expect(pair.serverCounters.udpSocketsOpen).to.equal(0);
    expect(pair.clientCounters.udpAssociationsOpen).to.equal(0);
    expect(pair.serverCounters.channelsOpen).to.equal(0);
    expect(pair.clientCounters.channelsOpen).to.equal(0);
  });

  it('drops malformed client datagrams and datagrams for port 0, and keeps relaying', async () => {
    await setup();
    const client = await associate();
    client.sendRaw(Buffer.from([0x00, 0x00, 0x00, 0x01, 0x7f, 0x00])); // truncated IPv4 address
    client.sendRaw(Buffer.from([0x00, 0x00, 0x00, 0x09, 1, 2, 3, 4, 0, 80, 0x41])); // unknown ATYP
    client.sendRaw(Buffer.from([0x00])); // too short for a header
    client.send('127.0.0.1', 0, Buffer.from('to port 0')); // valid SOCKS, no usable target
    client.send('127.0.0.1', echo.port, Buffer.from('good'));
    const reply = await client.next();
    expect(reply.data.toString()).to.equal('good');
    expect(echo.datagrams).to.equal(1);
    // Data messages are handled in order, so the port-0 one was dropped before 'good' was sent.
    expect(pair.serverCounters.udpDatagramsDropped).to.equal(1);
    expect(pair.clientCounters.udpDatagramsToLink).to.equal(2);
  });

  it('a failed ConnectResponse (association cap) closes the control connection without a SOCKS reply', async () => {
    await setup({ dialing: { maxAssociationsPerLink: 0 } });
    const bytes = await rawUdpAssociate(socksPort);
    // Only the method selection came back; no 05 xx reply to the UDP ASSOCIATE.
    expect(bytes).to.deep.equal(Buffer.from([0x05, 0x00]));
    expect(pair.serverCounters.channelsFailed).to.equal(1);
    expect(pair.clientCounters.channelsOpen).to.equal(0);
  });

  it('a missing ConnectResponse times out: no SOCKS reply, Disconnect to the peer', async () => {
    await setup({ silentDialingSide: true, connectTimeoutMs: 200 });
    const connect = nextWireMessage(pair, 'server', 'connect');
    const disconnect = nextWireMessage(pair, 'server', 'disconnect');
    const bytes = await rawUdpAssociate(socksPort);
    expect(bytes).to.deep.equal(Buffer.from([0x05, 0x00]));
    const connectMsg = await connect;
    expect(connectMsg).to.include({ type: 'connect', protocol: 'udp', address: '', port: 0 });
    const disconnectMsg = await disconnect;
    expect(disconnectMsg).to.include({ channelId: (connectMsg as { channelId: string }).channelId });
    expect(pair.clientCounters.channelsFailed).to.equal(1);
  });

  it('closing the link closes the association and its control connection', async () => {
    await setup();
    const client = await associate();
    client.send('127.0.0.1', echo.port, Buffer.from('x'));
    await client.next();
    const controlClosed = new Promise<void>((resolve) => client.control.once('close', () => resolve()));
    await pair.close();
    await controlClosed;
    expect(pair.clientCounters.udpAssociationsOpen).to.equal(0);
    expect(pair.serverCounters.udpSocketsOpen).to.equal(0);
  });

  it('ends an idle dialing-side association with a Disconnect', async () => {
    await setup({ dialing: { idleTimeoutMs: 200 } });
    const client = await associate();
    const controlClosed = new Promise<void>((resolve) => client.control.once('close', () => resolve()));
    const disconnect = nextWireMessage(pair, 'client', 'disconnect');
    expect(await disconnect).to.include({ error: 'idle timeout' });
    await controlClosed;
    expect(pair.serverCounters.udpSocketsOpen).to.equal(0);
    expect(pair.clientCounters.udpAssociationsOpen).to.equal(0);
  });

  it('unmapIPv4 strips only IPv4-mapped prefixes', () => {
    expect(unmapIPv4('::ffff:127.0.0.1')).to.equal('127.0.0.1');
    expect(unmapIPv4('::FFFF:10.1.2.3')).to.equal('10.1.2.3');
    expect(unmapIPv4('::1')).to.equal('::1');
    expect(unmapIPv4('2001:db8::ffff:1')).to.equal('2001:db8::ffff:1');
    expect(unmapIPv4('192.0.2.1')).to.equal('192.0.2.1');
  });
});

/** Greeting + UDP ASSOCIATE by hand; resolves with everything received once the server closes. */
function rawUdpAssociate(port: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('server did not close the control connection'));
    }, 5000);
    socket.on('error', () => undefined);
    socket.on('connect', () => {
      socket.write(Buffer.from([0x05, 0x01, 0x00]));
      socket.write(Buffer.from([0x05, 0x03, 0x00, 0x01, 0, 0, 0, 0, 0, 0]));
    });
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
  });
}

/** A UDP echo bound to a given address (for when `localhost` is not 127.0.0.1). */
async function startEchoOn(address: string): Promise<{ port: number; close(): Promise<void> }> {
  const socket = dgram.createSocket(net.isIPv6(address) ? 'udp6' : 'udp4');
  socket.on('message', (msg, rinfo) => socket.send(msg, rinfo.port, rinfo.address));
  await new Promise<void>((resolve) => socket.bind(0, address, resolve));
  return { port: socket.address().port, close: () => new Promise<void>((resolve) => socket.close(() => resolve())) };
}
