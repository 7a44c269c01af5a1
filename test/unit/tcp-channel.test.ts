// TcpChannel as a state machine: a real Link over a fake WebSocket, a Duplex as the local socket,
// fake timers for the fast-open deadline and the half-close linger.
import { expect } from 'chai';
import type FakeTimers from '@sinonjs/fake-timers';
import type { ChannelStats } from '../../src/relay/observer.js';
import { TcpChannel } from '../../src/relay/tcp-channel.js';
import type { TcpChannelOptions } from '../../src/relay/tcp-channel.js';
import { FakeSocket, fakeLink, flush, installClock, tcpData } from './fakes.js';
import type { FakeLink } from './fakes.js';

const CH = '0f0e0d0c-0b0a-4908-8706-050403020100';

describe('unit: TcpChannel', function () {
  let clock: FakeTimers.Clock;
  let peer: FakeLink;
  let local: FakeSocket;
  let closed: ChannelStats[];

  beforeEach(function () {
    clock = installClock();
    peer = fakeLink();
    local = new FakeSocket();
    closed = [];
  });

  afterEach(function () {
    clock.uninstall();
  });

  function open(options: Partial<TcpChannelOptions> = {}, initial: Parameters<TcpChannel['start']>[0] = {}): TcpChannel {
    const channel = new TcpChannel(peer.link, CH, local.asSocket(), {
      maxPayload: 1024,
      halfCloseLingerMs: 10_000,
      target: 'example.com:80',
      observer: { closed: (stats) => closed.push(stats) },
      ...options,
    });
    channel.start(initial);
    return channel;
  }

  const disconnects = (): string[] => peer.sentOn(CH, 'disconnect').map((m) => (m.type === 'disconnect' ? m.error : '?'));
  const dataSent = (): string => Buffer.concat(peer.sentOn(CH, 'data').map((m) => (m.type === 'data' ? m.data : Buffer.alloc(0)))).toString();

  it('registers on the link and counts itself opened', function () {
    open();
    expect(peer.link.channels.has(CH)).to.equal(true);
    expect(peer.counters.channelsOpen).to.equal(1);
    expect(peer.counters.channelsOpened).to.equal(1);
  });

  it('local bytes go out as Data, split at maxPayload', async function () {
    open({ maxPayload: 4 });
    local.fromLocal('0123456789');
    await flush();
    const sizes = peer.sentOn(CH, 'data').map((m) => (m.type === 'data' ? m.data.length : -1));
    expect(sizes).to.deep.equal([4, 4, 2]);
    expect(dataSent()).to.equal('0123456789');
    expect(peer.counters.bytesToLink).to.equal(10);
  });

  it('Data from the link is written to the local socket', async function () {
    open();
    peer.deliver(tcpData(CH, 'hello '));
    peer.deliver(tcpData(CH, 'world'));
    await flush();
    expect(local.writtenText).to.equal('hello world');
    expect(peer.counters.bytesFromLink).to.equal(11);
  });

  it('start() passes on fast-open buffers and bytes read before the channel existed', async function () {
    open({}, { toLocal: [Buffer.from('early')], toLink: Buffer.from('pipelined') });
    await flush();
    expect(local.writtenText).to.equal('early');
    expect(dataSent()).to.equal('pipelined');
  });

  it('local EOF sends Disconnect "EOF" once and keeps the other direction open', async function () {
    open();
    local.endLocal();
    await flush();
    expect(disconnects()).to.deep.equal(['EOF']);
    peer.deliver(tcpData(CH, 'late answer'));
    await flush();
    expect(local.writtenText).to.equal('late answer');
    expect(peer.link.channels.has(CH)).to.equal(true);
  });

  it('EOF both ways ends the channel gracefully: FIN to the local side, no second Disconnect', async function () {
    open();
    local.endLocal();
    await flush();
    peer.deliver({ type: 'disconnect', channelId: CH, error: 'EOF' });
    await flush();
    expect(disconnects()).to.deep.equal(['EOF']);
    expect(local.finSent).to.equal(true);
    expect(peer.link.channels.has(CH)).to.equal(false);
    expect(peer.counters.channelsOpen).to.equal(0);
    expect(closed).to.have.length(1);
    expect(closed[0]!.error).to.equal('');
  });

  it('remote EOF half-closes the local socket; local data keeps flowing until it ends too', async function () {
    open();
    peer.deliver({ type: 'disconnect', channelId: CH, error: 'EOF' });
    await flush();
    expect(local.finSent).to.equal(true);
    local.fromLocal('response');
    await flush();
    expect(dataSent()).to.equal('response');
    local.endLocal();
    await flush();
    expect(disconnects()).to.deep.equal(['EOF']);
    expect(peer.link.channels.has(CH)).to.equal(false);
  });

  it('Data after a remote EOF is ignored', async function () {
    open();
    peer.deliver({ type: 'disconnect', channelId: CH, error: 'EOF' });
    peer.deliver(tcpData(CH, 'too late'));
    await flush();
    expect(local.writtenText).to.equal('');
  });

  it('after a half-close the silent direction is cut after halfCloseLingerMs, counted from the last traffic', async function () {
    open({ halfCloseLingerMs: 10_000 });
    peer.deliver({ type: 'disconnect', channelId: CH, error: 'EOF' });
    await flush();
    await clock.tickAsync(6_000);
    local.fromLocal('still talking');
    await flush();
    await clock.tickAsync(9_000); // 15 s after the half-close, 9 s after the last byte
    expect(peer.link.channels.has(CH)).to.equal(true);
    await clock.tickAsync(1_000);
    expect(peer.link.channels.has(CH)).to.equal(false);
    expect(disconnects()).to.deep.equal(['']);
    expect(local.destroyed).to.equal(true);
  });

  it('the linger is one timer, not one per message', async function () {
    open();
    peer.deliver({ type: 'disconnect', channelId: CH, error: 'EOF' });
    await flush();
    const timers = clock.countTimers();
    for (let i = 0; i < 50; i += 1) local.fromLocal('x');
    await flush();
    expect(clock.countTimers()).to.equal(timers);
  });

  it('a Disconnect with an error text aborts: the local socket is reset (never a FIN that reads as a clean end), no Disconnect goes back', async function () {
    open();
    peer.deliver(tcpData(CH, 'last words'));
    peer.deliver({ type: 'disconnect', channelId: CH, error: 'connection reset by peer' });
    await flush();
    expect(local.resetSent).to.equal(true);
    expect(local.finSent).to.equal(false);
    expect(disconnects()).to.deep.equal([]);
    expect(closed[0]!.error).to.equal('connection reset by peer');
    expect(peer.link.channels.has(CH)).to.equal(false);
  });

  it('a local socket error is sent as the Disconnect text and destroys the socket', async function () {
    open();
    local.destroy(new Error('read ECONNRESET'));
    await flush();
    expect(disconnects()).to.deep.equal(['read ECONNRESET']);
    expect(closed[0]!.error).to.equal('read ECONNRESET');
    expect(peer.link.channels.has(CH)).to.equal(false);
  });

  it('a closing link releases the socket at once and sends nothing', async function () {
    open();
    peer.close();
    await flush();
    expect(local.destroyed).to.equal(true);
    expect(disconnects()).to.deep.equal([]);
    expect(closed[0]!.error).to.equal('link closed');
    expect(peer.counters.channelsOpen).to.equal(0);
  });

  it('the link idle sweep ends the channel with "idle timeout"', async function () {
    const channel = open();
    channel.onIdle();
    await flush();
    expect(disconnects()).to.deep.equal(['idle timeout']);
    expect(local.destroyed).to.equal(true);
  });

  describe('fast open (confirmTimeoutMs)', function () {
    it('no ConnectResponse within the deadline: Disconnect "connect response timeout"', async function () {
      open({ confirmTimeoutMs: 5_000 });
      await clock.tickAsync(4_999);
      expect(disconnects()).to.deep.equal([]);
      await clock.tickAsync(1);
      expect(disconnects()).to.deep.equal(['connect response timeout']);
      expect(peer.link.channels.has(CH)).to.equal(false);
    });

    it('a successful ConnectResponse clears the deadline', async function () {
      open({ confirmTimeoutMs: 5_000 });
      peer.deliver({ type: 'connectResponse', success: true, channelId: CH, error: '' });
      await clock.tickAsync(60_000);
      expect(peer.link.channels.has(CH)).to.equal(true);
      expect(clock.countTimers()).to.equal(0);
    });

    it('a failed ConnectResponse aborts with its text (a default when empty)', async function () {
      open({ confirmTimeoutMs: 5_000 });
      peer.deliver({ type: 'connectResponse', success: false, channelId: CH, error: '' });
      await flush();
      expect(disconnects()).to.deep.equal(['connect failed']);
      expect(local.destroyed).to.equal(true);
      expect(clock.countTimers()).to.equal(0);
    });

    it('local EOF before the confirmation: the linger starts only once confirmed', async function () {
      open({ confirmTimeoutMs: 5_000, halfCloseLingerMs: 1_000 });
      local.endLocal();
      await flush();
      expect(disconnects()).to.deep.equal(['EOF']);
      peer.deliver({ type: 'connectResponse', success: true, channelId: CH, error: '' });
      await clock.tickAsync(999);
      expect(peer.link.channels.has(CH)).to.equal(true);
      await clock.tickAsync(1);
      expect(peer.link.channels.has(CH)).to.equal(false);
    });
  });

  describe('flow control', function () {
    it('a congested link pauses the local socket until the link drains', async function () {
      open();
      peer.setBuffered(5_000); // above the fake link's 1000-byte high-water mark
      local.fromLocal('a');
      await flush();
      expect(local.isPaused()).to.equal(true);
      expect(peer.counters.producerPauses).to.equal(1);
      local.fromLocal('b'); // buffered in the paused stream, not sent
      await flush();
      expect(dataSent()).to.equal('a');
      peer.setBuffered(0);
      peer.drain();
      await flush();
      expect(local.isPaused()).to.equal(false);
      expect(dataSent()).to.equal('ab');
    });

    it('a local reader that does not keep up pauses the link until its socket drains', async function () {
      local = new FakeSocket({ writableHighWaterMark: 16 });
      local.holdWrites = true;
      open({ socketHighWater: 16 });
      peer.deliver(tcpData(CH, Buffer.alloc(10)));
      await flush();
      expect(peer.inboundPaused).to.equal(false);
      peer.deliver(tcpData(CH, Buffer.alloc(10)));
      await flush();
      expect(peer.inboundPaused).to.equal(true);
      expect(peer.counters.inboundPauses).to.equal(1);
      local.releaseWrites();
      await flush();
      expect(peer.inboundPaused).to.equal(false);
    });

    it('ending the channel while it holds the link paused resumes the link', async function () {
      local.holdWrites = true;
      open({ socketHighWater: 4 });
      peer.deliver(tcpData(CH, Buffer.alloc(10)));
      await flush();
      expect(peer.inboundPaused).to.equal(true);
      peer.deliver({ type: 'disconnect', channelId: CH, error: 'gone' });
      await flush();
      expect(peer.inboundPaused).to.equal(false);
    });
  });

  it('the graceful end is bounded: a local reader that never drains is destroyed after the linger', async function () {
    local.holdWrites = true;
    open({ halfCloseLingerMs: 2_000 });
    peer.deliver(tcpData(CH, 'unread'));
    // A Disconnect without a text is a plain close: flushed and ended, not reset.
    peer.deliver({ type: 'disconnect', channelId: CH, error: '' });
    await flush();
    expect(local.destroyed).to.equal(false);
    await clock.tickAsync(2_000);
    expect(local.destroyed).to.equal(true);
  });

  it('reports bytes both ways to the observer when it ends', async function () {
    open();
    local.fromLocal('12345');
    peer.deliver(tcpData(CH, 'abc'));
    await flush();
    await clock.tickAsync(250);
    peer.deliver({ type: 'disconnect', channelId: CH, error: 'x' });
    await flush();
    expect(closed).to.have.length(1);
    expect(closed[0]).to.include({ channelId: CH, target: 'example.com:80', bytesToLink: 5, bytesFromLink: 3, durationMs: 250, error: 'x' });
  });
});
