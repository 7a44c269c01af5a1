// The dialing side of UDP channels (relay/udp-dialing-side.ts) over a fake link and a fake
// transport: what is sent where, the queue before the transport is open, the per-link cap, and
// every way a channel ends. Fake timers for the idle timeout.
import { expect } from 'chai';
import type FakeTimers from '@sinonjs/fake-timers';
import type { DataMessage } from '../../src/protocol/index.js';
import type { UdpChannelOpener } from '../../src/relay/dialing-side.js';
import { udpChannelOpener } from '../../src/relay/udp-dialing-side.js';
import type { UdpDialingSideOptions } from '../../src/relay/udp-dialing-side.js';
import type { UdpTransport, UdpTransportHandlers } from '../../src/relay/udp-transport.js';
import { fakeLink, flush, installClock } from './fakes.js';
import type { FakeLink } from './fakes.js';

const CH = '99999999-8888-4777-8666-555555555555';

class FakeTransport implements UdpTransport {
  readonly sent: Array<{ host: string; port: number; data: string }> = [];
  closed = false;
  constructor(readonly handlers: UdpTransportHandlers) {}
  send(host: string, port: number, data: Buffer): void {
    this.sent.push({ host, port, data: data.toString() });
  }
  close(): void {
    this.closed = true;
  }
}

/** Transports opened on demand: each open waits until the test settles it. */
class TransportFactory {
  readonly pending: Array<{ handlers: UdpTransportHandlers; resolve: (t: UdpTransport) => void; reject: (e: Error) => void }> = [];
  readonly opened: FakeTransport[] = [];
  readonly open = (handlers: UdpTransportHandlers): Promise<UdpTransport> =>
    new Promise((resolve, reject) => this.pending.push({ handlers, resolve, reject }));

  /** Opens the oldest pending transport. */
  async succeed(): Promise<FakeTransport> {
    const next = this.pending.shift()!;
    const transport = new FakeTransport(next.handlers);
    this.opened.push(transport);
    next.resolve(transport);
    await flush();
    return transport;
  }

  async fail(text: string): Promise<void> {
    this.pending.shift()!.reject(new Error(text));
    await flush();
  }
}

function udpData(channelId: string, data: string, targetAddr = '127.0.0.1', targetPort = 5353): DataMessage {
  return { type: 'data', protocol: 'udp', channelId, compression: 0, data: Buffer.from(data), address: '', port: 0, targetAddr, targetPort };
}

describe('unit: UDP dialing side', function () {
  let clock: FakeTimers.Clock;
  let peer: FakeLink;
  let transports: TransportFactory;
  let open: UdpChannelOpener;

  beforeEach(function () {
    clock = installClock();
    peer = fakeLink();
    transports = new TransportFactory();
    open = udpChannelOpener({ transport: transports.open });
  });

  afterEach(function () {
    clock.uninstall();
  });

  function reopen(options: UdpDialingSideOptions): void {
    open = udpChannelOpener({ transport: transports.open, ...options });
  }

  const responses = (link = peer): string[] =>
    link.sent.filter((m) => m.type === 'connectResponse').map((m) => (m.type === 'connectResponse' ? (m.success ? 'ok' : `!${m.error}`) : ''));
  const disconnects = (): string[] => peer.sentOn(CH, 'disconnect').map((m) => (m.type === 'disconnect' ? m.error : '?'));

  it('answers the Connect once its transport is open, and counts one UDP socket', async function () {
    open(peer.link, CH);
    expect(peer.link.channels.has(CH)).to.equal(true);
    expect(responses()).to.deep.equal([]);
    await transports.succeed();
    expect(responses()).to.deep.equal(['ok']);
    expect(peer.counters.udpSocketsOpen).to.equal(1);
    expect(peer.counters.channelsOpened).to.equal(1);
  });

  it('sends each datagram to its target; unusable ones are dropped', async function () {
    open(peer.link, CH);
    const transport = await transports.succeed();
    peer.deliver(udpData(CH, 'a', '10.0.0.1', 53));
    peer.deliver(udpData(CH, 'b', 'example.com', 443));
    peer.deliver(udpData(CH, 'no port', '10.0.0.1', 0));
    peer.deliver(udpData(CH, 'no address', '', 53));
    peer.deliver({ ...udpData(CH, 'tcp'), protocol: 'tcp' });
    expect(transport.sent).to.deep.equal([
      { host: '10.0.0.1', port: 53, data: 'a' },
      { host: 'example.com', port: 443, data: 'b' },
    ]);
    expect(peer.counters.udpDatagramsDropped).to.equal(3);
  });

  it('keeps up to 64 datagrams while the transport opens and sends them in order once it is', async function () {
    open(peer.link, CH);
    for (let i = 0; i < 70; i += 1) peer.deliver(udpData(CH, `d${i}`));
    expect(peer.counters.udpDatagramsFromLink).to.equal(70);
    expect(peer.counters.udpDatagramsDropped).to.equal(6);
    const transport = await transports.succeed();
    expect(transport.sent.map((s) => s.data)).to.deep.equal(Array.from({ length: 64 }, (_, i) => `d${i}`));
  });

  it('replies go to the link as Data(udp) with their source, IPv4-mapped addresses unmapped', async function () {
    open(peer.link, CH);
    const transport = await transports.succeed();
    transport.handlers.onDatagram(Buffer.from('pong'), '::ffff:192.0.2.7', 5353);
    transport.handlers.onDatagram(Buffer.from('pong6'), '2001:db8::1', 53);
    const replies = peer.sentOn(CH, 'data').map((m) => (m.type === 'data' ? [m.protocol, m.data.toString(), m.address, m.port] : []));
    expect(replies).to.deep.equal([
      ['udp', 'pong', '192.0.2.7', 5353],
      ['udp', 'pong6', '2001:db8::1', 53],
    ]);
    expect(peer.counters.udpDatagramsToLink).to.equal(2);
  });

  it('a congested link sheds replies instead of queueing them', async function () {
    open(peer.link, CH);
    const transport = await transports.succeed();
    peer.setBuffered(5_000);
    transport.handlers.onDatagram(Buffer.from('x'), '192.0.2.7', 53);
    expect(peer.sentOn(CH, 'data')).to.have.length(0);
    expect(peer.counters.udpDatagramsDropped).to.equal(1);
  });

  it('a transport that cannot open: failed ConnectResponse with its text, channel gone', async function () {
    open(peer.link, CH);
    peer.deliver(udpData(CH, 'queued'));
    await transports.fail('listen udp 0.0.0.0:0: EMFILE');
    expect(responses()).to.deep.equal(['!listen udp 0.0.0.0:0: EMFILE']);
    expect(peer.link.channels.has(CH)).to.equal(false);
    expect(peer.counters.channelsFailed).to.equal(1);
    expect(peer.counters.udpSocketsOpen).to.equal(0);
  });

  it('a transport that dies ends the channel with a Disconnect carrying the reason', async function () {
    open(peer.link, CH);
    const transport = await transports.succeed();
    transport.handlers.onFailure('socks5 udp association closed by the proxy');
    expect(disconnects()).to.deep.equal(['socks5 udp association closed by the proxy']);
    expect(transport.closed).to.equal(true);
    expect(peer.link.channels.has(CH)).to.equal(false);
    expect(peer.counters.udpSocketsOpen).to.equal(0);
  });

  it('a Disconnect from the SOCKS side closes the transport without answering', async function () {
    open(peer.link, CH);
    const transport = await transports.succeed();
    peer.deliver({ type: 'disconnect', channelId: CH, error: '' });
    expect(transport.closed).to.equal(true);
    expect(disconnects()).to.deep.equal([]);
    expect(peer.counters.udpSocketsOpen).to.equal(0);
  });

  it('a closing link closes the transport and sends nothing', async function () {
    open(peer.link, CH);
    const transport = await transports.succeed();
    const before = peer.frames.length;
    peer.close();
    expect(transport.closed).to.equal(true);
    expect(peer.frames.length).to.equal(before);
    expect(peer.counters.udpSocketsOpen).to.equal(0);
  });

  it('a channel ended while its transport opens closes the transport when it arrives, without a ConnectResponse', async function () {
    open(peer.link, CH);
    peer.deliver({ type: 'disconnect', channelId: CH, error: '' });
    const transport = await transports.succeed();
    expect(transport.closed).to.equal(true);
    expect(responses()).to.deep.equal([]);
    expect(peer.counters.udpSocketsOpen).to.equal(0);
  });

  it('a duplicate Connect for an open channel is ignored', async function () {
    open(peer.link, CH);
    open(peer.link, CH);
    expect(transports.pending).to.have.length(1);
  });

  describe('idle timeout', function () {
    it('ends the channel after idleTimeoutMs without a datagram either way, with a Disconnect', async function () {
      reopen({ idleTimeoutMs: 1_000 });
      open(peer.link, CH);
      const transport = await transports.succeed();
      await clock.tickAsync(600);
      peer.deliver(udpData(CH, 'out'));
      await clock.tickAsync(600);
      transport.handlers.onDatagram(Buffer.from('in'), '192.0.2.1', 53); // at 1200
      await clock.tickAsync(999);
      expect(peer.link.channels.has(CH)).to.equal(true);
      await clock.tickAsync(1);
      expect(disconnects()).to.deep.equal(['idle timeout']);
      expect(transport.closed).to.equal(true);
    });

    it('datagrams move a timestamp, not a timer: one timer however many datagrams pass', async function () {
      reopen({ idleTimeoutMs: 60_000 });
      open(peer.link, CH);
      const transport = await transports.succeed();
      const timers = clock.countTimers();
      for (let i = 0; i < 100; i += 1) {
        peer.deliver(udpData(CH, 'x'));
        transport.handlers.onDatagram(Buffer.from('y'), '192.0.2.1', 53);
      }
      expect(clock.countTimers()).to.equal(timers);
    });

    it('leaves no timer behind when the channel ends', async function () {
      open(peer.link, CH);
      await transports.succeed();
      peer.deliver({ type: 'disconnect', channelId: CH, error: '' });
      expect(clock.countTimers()).to.equal(0);
    });
  });

  describe('per-link cap', function () {
    const id = (n: number): string => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

    it('refuses Connects past maxAssociationsPerLink on that link only, and admits again once one ends', async function () {
      reopen({ maxAssociationsPerLink: 2 });
      const other = fakeLink();
      open(peer.link, id(1));
      open(peer.link, id(2));
      open(peer.link, id(3));
      open(other.link, id(4));
      expect(responses()).to.deep.equal(['!too many udp associations (limit 2)']);
      expect(peer.counters.channelsFailed).to.equal(1);
      expect(transports.pending).to.have.length(3);
      peer.deliver({ type: 'disconnect', channelId: id(1), error: '' });
      open(peer.link, id(5));
      expect(transports.pending).to.have.length(4);
      expect(responses()).to.have.length(1);
    });
  });
});
