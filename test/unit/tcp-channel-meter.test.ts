// TcpChannel with a meter (fake timers): bytes held by the rate limit keep their order with the
// ends of stream, the local socket is paused (never read ahead without bound), counts go to the
// meter each way, and a meter that closes the channel resets it.
import { expect } from 'chai';
import type FakeTimers from '@sinonjs/fake-timers';
import type { MeteredChannel, TrafficMeter } from '../../src/relay/meter.js';
import { RateLimiter } from '../../src/relay/rate-limiter.js';
import { TcpChannel } from '../../src/relay/tcp-channel.js';
import { FakeSocket, fakeLink, flush, installClock, tcpData } from './fakes.js';
import type { FakeLink } from './fakes.js';

const CH = '0f0e0d0c-0b0a-4908-8706-050403020100';

class FakeMeter implements TrafficMeter {
  readonly upload: RateLimiter;
  readonly download: RateLimiter;
  up = 0;
  down = 0;
  readonly channels = new Set<MeteredChannel>();
  /** Close every channel once this many bytes (both ways) were counted. */
  quota = Infinity;
  constructor(rate: number) {
    this.upload = new RateLimiter(rate, { now: () => Date.now() });
    this.download = new RateLimiter(rate, { now: () => Date.now() });
  }
  countUpload(bytes: number): void {
    this.up += bytes;
    this.check();
  }
  countDownload(bytes: number): void {
    this.down += bytes;
    this.check();
  }
  channelOpened(channel: MeteredChannel): void {
    this.channels.add(channel);
  }
  channelClosed(channel: MeteredChannel): void {
    this.channels.delete(channel);
  }
  private check(): void {
    if (this.up + this.down >= this.quota) for (const c of [...this.channels]) c.close('quota exceeded');
  }
}

describe('unit: TcpChannel with a meter', function () {
  let clock: FakeTimers.Clock;
  let peer: FakeLink;
  let local: FakeSocket;

  beforeEach(function () {
    clock = installClock();
    peer = fakeLink();
    local = new FakeSocket();
  });

  afterEach(function () {
    clock.uninstall();
  });

  function open(meter: TrafficMeter, side: 'client' | 'target' = 'client'): TcpChannel {
    const channel = new TcpChannel(peer.link, CH, local.asSocket(), { maxPayload: 64 * 1024, metering: { meter, local: side } });
    channel.start();
    return channel;
  }

  const dataSent = (): number => peer.sentOn(CH, 'data').reduce((n, m) => n + (m.type === 'data' ? m.data.length : 0), 0);
  const disconnects = (): string[] => peer.sentOn(CH, 'disconnect').map((m) => (m.type === 'disconnect' ? m.error : '?'));

  it('unlimited: bytes pass at once and are counted each way (SOCKS side: reads are uploads)', async function () {
    const meter = new FakeMeter(0);
    open(meter);
    local.fromLocal(Buffer.alloc(5000));
    peer.deliver(tcpData(CH, Buffer.alloc(7000)));
    await flush();
    expect(dataSent()).to.equal(5000);
    expect(local.written.reduce((n, b) => n + b.length, 0)).to.equal(7000);
    expect([meter.up, meter.down]).to.deep.equal([5000, 7000]);
    expect(clock.countTimers()).to.equal(0);
  });

  it('dialing side: reads are downloads, writes uploads', async function () {
    const meter = new FakeMeter(0);
    open(meter, 'target');
    local.fromLocal(Buffer.alloc(300));
    peer.deliver(tcpData(CH, Buffer.alloc(100)));
    await flush();
    expect([meter.up, meter.down]).to.deep.equal([100, 300]);
  });

  it('local reads beyond the rate wait with the socket paused; the local end follows the held bytes', async function () {
    const meter = new FakeMeter(100_000); // burst 10 000, slice 2000
    open(meter);
    local.fromLocal(Buffer.alloc(50_000));
    local.endLocal();
    await flush();
    expect(dataSent()).to.equal(10_000);
    expect(local.isPaused()).to.equal(true);
    expect(disconnects()).to.deep.equal([]);
    await clock.tickAsync(200);
    expect(dataSent()).to.be.within(28_000, 32_000);
    await clock.tickAsync(400);
    await flush();
    expect(dataSent()).to.equal(50_000);
    expect(disconnects()).to.deep.equal(['EOF']);
  });

  it('data from the link beyond the rate is held and written in order; the remote EOF follows it', async function () {
    const meter = new FakeMeter(100_000);
    open(meter);
    peer.deliver(tcpData(CH, Buffer.alloc(30_000, 1)));
    peer.deliver(tcpData(CH, Buffer.alloc(20_000, 2)));
    peer.deliver({ type: 'disconnect', channelId: CH, error: 'EOF' });
    await flush();
    expect(local.written.reduce((n, b) => n + b.length, 0)).to.equal(10_000);
    expect(local.finSent).to.equal(false);
    await clock.tickAsync(500);
    await flush();
    const all = Buffer.concat(local.written);
    expect(all.length).to.equal(50_000);
    expect(all[29_999]).to.equal(1);
    expect(all[30_000]).to.equal(2);
    expect(local.finSent).to.equal(true);
  });

  it('held data above the high-water mark pauses the link; it resumes as the rate drains it', async function () {
    const meter = new FakeMeter(1_000_000);
    new TcpChannel(peer.link, CH, local.asSocket(), { maxPayload: 64 * 1024, socketHighWater: 100_000, metering: { meter, local: 'client' } }).start();
    peer.deliver(tcpData(CH, Buffer.alloc(150_000)));
    peer.deliver(tcpData(CH, Buffer.alloc(150_000)));
    await flush();
    expect(peer.counters.inboundPauses).to.equal(1);
    expect(peer.inboundPaused).to.equal(true);
    await clock.tickAsync(300);
    await flush();
    expect(local.written.reduce((n, b) => n + b.length, 0)).to.equal(300_000);
    expect(peer.inboundPaused).to.equal(false);
  });

  it('a meter closing the channel resets the local socket and tells the peer why', async function () {
    const meter = new FakeMeter(0);
    meter.quota = 1000;
    open(meter);
    local.fromLocal(Buffer.alloc(600));
    await flush();
    peer.deliver(tcpData(CH, Buffer.alloc(600)));
    await flush();
    expect(local.resetSent).to.equal(true);
    expect(disconnects()).to.deep.equal(['quota exceeded']);
    expect(local.written).to.have.length(0);
    expect(meter.channels.size).to.equal(0);
    expect(clock.countTimers()).to.equal(0);
  });

  it('a channel that ends while held leaves no timer and no waiter behind', async function () {
    const meter = new FakeMeter(10_000);
    const channel = open(meter);
    local.fromLocal(Buffer.alloc(100_000));
    peer.deliver(tcpData(CH, Buffer.alloc(100_000)));
    await flush();
    expect(meter.upload.waiting + meter.download.waiting).to.equal(2);
    channel.close('gone');
    expect(meter.upload.waiting + meter.download.waiting).to.equal(0);
    expect(clock.countTimers()).to.equal(0);
  });
});
