// The shared token bucket with fake timers: rate over time, bounded burst, round-robin fairness,
// live rate changes, and no timer at all when unlimited or nobody waits.
import { expect } from 'chai';
import type FakeTimers from '@sinonjs/fake-timers';
import { RateLimiter, type RateWaiter } from '../../src/relay/rate-limiter.js';
import { installClock } from './fakes.js';

/** A stream that always wants `chunk` more bytes and re-queues after every grant. */
class Greedy implements RateWaiter {
  received = 0;
  stopped = false;
  constructor(
    private readonly limiter: RateLimiter,
    private readonly chunk = 1 << 20,
  ) {}
  start(): this {
    this.limiter.wait(this, this.chunk);
    return this;
  }
  onRateGrant(bytes: number): void {
    this.received += bytes;
    if (!this.stopped) this.limiter.wait(this, this.chunk);
  }
}

describe('unit: RateLimiter', function () {
  let clock: FakeTimers.Clock;
  const now = (): number => Date.now();

  beforeEach(function () {
    clock = installClock();
  });

  afterEach(function () {
    clock.uninstall();
  });

  it('unlimited: take() grants everything, wait() grants at once, no timer ever', function () {
    const limiter = new RateLimiter(0, { now });
    expect(limiter.take(1 << 20)).to.equal(1 << 20);
    const greedy = new Greedy(limiter, 4096);
    greedy.stopped = true;
    greedy.start();
    expect(greedy.received).to.equal(4096);
    expect(clock.countTimers()).to.equal(0);
  });

  it('holds the set rate over time; the burst after idling is bounded', function () {
    const limiter = new RateLimiter(100_000, { now });
    // Starts with one burst (0.1 s at the rate), then nothing until time passes.
    expect(limiter.take(1 << 20)).to.equal(10_000);
    expect(limiter.take(1000)).to.equal(0);
    const greedy = new Greedy(limiter).start();
    clock.tick(10_000);
    expect(greedy.received).to.be.within(1_000_000 - 2000, 1_000_000 + 2000);
    greedy.stopped = true;
    clock.tick(1000);
    limiter.cancel(greedy);
    expect(clock.countTimers()).to.equal(0);
    // A long idle time earns one burst, not the whole time's worth.
    clock.tick(60_000);
    expect(limiter.take(1 << 20)).to.equal(10_000);
  });

  it('shares the rate fairly between waiting streams (round robin, one slice each)', function () {
    const limiter = new RateLimiter(300_000, { now });
    limiter.take(1 << 20); // empty the bucket
    const streams = [new Greedy(limiter).start(), new Greedy(limiter, 64 * 1024).start(), new Greedy(limiter).start()];
    clock.tick(5000);
    const total = streams.reduce((sum, s) => sum + s.received, 0);
    expect(total).to.be.within(1_500_000 - 6000, 1_500_000 + 6000);
    for (const s of streams) expect(s.received).to.be.within(500_000 - 6000, 500_000 + 6000);
  });

  it('a changed rate applies at once to streams already waiting', function () {
    const limiter = new RateLimiter(100_000, { now });
    limiter.take(1 << 20);
    const greedy = new Greedy(limiter).start();
    clock.tick(1000);
    const before = greedy.received;
    limiter.setRate(400_000);
    clock.tick(1000);
    expect(greedy.received - before).to.be.within(400_000 - 8000, 400_000 + 8000);
    limiter.setRate(50_000);
    const mid = greedy.received;
    clock.tick(2000);
    expect(greedy.received - mid).to.be.within(100_000 - 2000, 100_000 + 2000);
  });

  it('to unlimited: every waiter gets what it asked for and the timer stops', function () {
    const limiter = new RateLimiter(10_000, { now });
    limiter.take(1 << 20);
    const a = new Greedy(limiter, 50_000);
    a.stopped = true;
    a.start();
    const b = new Greedy(limiter, 70_000);
    b.stopped = true;
    b.start();
    expect(clock.countTimers()).to.equal(1);
    limiter.setRate(0);
    expect([a.received, b.received]).to.deep.equal([50_000, 70_000]);
    expect(clock.countTimers()).to.equal(0);
  });

  it('waiters come first: take() grants nothing while someone waits', function () {
    const limiter = new RateLimiter(100_000, { now });
    limiter.take(1 << 20);
    const greedy = new Greedy(limiter).start();
    clock.tick(500);
    expect(limiter.take(100)).to.equal(0);
    limiter.cancel(greedy);
    expect(limiter.waiting).to.equal(0);
    expect(clock.countTimers()).to.equal(0);
  });

  it('close() forgets waiters without granting and stops the timer', function () {
    const limiter = new RateLimiter(100_000, { now });
    limiter.take(1 << 20);
    const greedy = new Greedy(limiter).start();
    limiter.close();
    clock.tick(5000);
    expect(greedy.received).to.equal(0);
    expect(clock.countTimers()).to.equal(0);
  });
});
