// The relay's timer-driven pieces under fake timers: IdleTimer, LinkWaiters and the server's
// ProviderPool (which waits through LinkWaiters).
import { expect } from 'chai';
import type FakeTimers from '@sinonjs/fake-timers';
import { IdleTimer } from '../../src/relay/idle-timer.js';
import { LinkWaiters } from '../../src/relay/link-waiters.js';
import type { Link } from '../../src/relay/link.js';
import { ProviderPool } from '../../src/server/provider-pool.js';
import { installClock } from './fakes.js';

/** Only `isClosed` is read by these classes; the name makes failures readable. */
function stubLink(name: string): Link & { name: string; isClosed: boolean } {
  return { name, isClosed: false } as unknown as Link & { name: string; isClosed: boolean };
}

/** Resolution state of a promise without waiting for it. */
function track<T>(promise: Promise<T>): { settled: boolean; value: T | undefined } {
  const state = { settled: false, value: undefined as T | undefined };
  void promise.then((value) => {
    state.settled = true;
    state.value = value;
  });
  return state;
}

describe('unit: timers', function () {
  let clock: FakeTimers.Clock;

  beforeEach(function () {
    clock = installClock();
  });

  afterEach(function () {
    clock.uninstall();
  });

  describe('IdleTimer', function () {
    it('fires once, `ms` after the last activity', function () {
      let last = Date.now();
      let fired = 0;
      new IdleTimer().start(1000, () => last, () => (fired += 1));
      clock.tick(600);
      last = Date.now(); // activity at 600
      clock.tick(999);
      expect(fired).to.equal(0);
      clock.tick(1);
      expect(fired).to.equal(1);
      clock.tick(10_000);
      expect(fired).to.equal(1);
    });

    it('fires at `ms` when there was no activity', function () {
      const start = Date.now();
      let firedAt = 0;
      new IdleTimer().start(250, () => start, () => (firedAt = Date.now()));
      clock.tick(1000);
      expect(firedAt - start).to.equal(250);
    });

    it('activity costs no timer: one timer is pending however often the timestamp moves', function () {
      let last = Date.now();
      new IdleTimer().start(1000, () => last, () => undefined);
      for (let i = 0; i < 100; i += 1) {
        clock.tick(50);
        last = Date.now();
      }
      expect(clock.countTimers()).to.equal(1);
    });

    it('stop() cancels; start() again replaces the countdown instead of adding one', function () {
      let fired = 0;
      const timer = new IdleTimer();
      const now = Date.now();
      timer.start(100, () => now, () => (fired += 1));
      timer.start(500, () => now, () => (fired += 10));
      expect(clock.countTimers()).to.equal(1);
      clock.tick(499);
      expect(fired).to.equal(0);
      clock.tick(1);
      expect(fired).to.equal(10);
      timer.start(100, () => Date.now(), () => (fired += 100));
      timer.stop();
      timer.stop();
      clock.tick(1000);
      expect(fired).to.equal(10);
      expect(clock.countTimers()).to.equal(0);
    });
  });

  describe('LinkWaiters', function () {
    it('a wait ends with undefined after its timeout and leaves no timer', async function () {
      const waiters = new LinkWaiters();
      const wait = track(waiters.wait(1000));
      await clock.tickAsync(999);
      expect(wait.settled).to.equal(false);
      await clock.tickAsync(1);
      expect(wait).to.deep.equal({ settled: true, value: undefined });
      expect(clock.countTimers()).to.equal(0);
      // A later release finds nobody waiting.
      let picks = 0;
      waiters.release(() => {
        picks += 1;
        return stubLink('late');
      });
      expect(picks).to.equal(0);
    });

    it('a timeout of 0 or less answers at once without a timer', async function () {
      const waiters = new LinkWaiters();
      expect(await waiters.wait(0)).to.equal(undefined);
      expect(await waiters.wait(-5)).to.equal(undefined);
      expect(clock.countTimers()).to.equal(0);
    });

    it('release hands links to waiters in arrival order and clears their timers', async function () {
      const waiters = new LinkWaiters();
      const first = waiters.wait(1000);
      const second = waiters.wait(1000);
      const links = [stubLink('a'), stubLink('b')];
      waiters.release(() => links.shift());
      expect(((await first) as unknown as { name: string }).name).to.equal('a');
      expect(((await second) as unknown as { name: string }).name).to.equal('b');
      expect(clock.countTimers()).to.equal(0);
    });

    it('release stops at the first pick that yields nothing; the rest keep waiting', async function () {
      const waiters = new LinkWaiters();
      const first = track(waiters.wait(1000));
      const second = track(waiters.wait(1000));
      let offered = 0;
      waiters.release(() => (offered++ === 0 ? stubLink('only') : undefined));
      await clock.tickAsync(0);
      expect(first.settled).to.equal(true);
      expect(second.settled).to.equal(false);
      await clock.tickAsync(1000);
      expect(second).to.deep.equal({ settled: true, value: undefined });
    });

    it('cancelAll ends every wait with undefined at once', async function () {
      const waiters = new LinkWaiters();
      const all = [waiters.wait(5000), waiters.wait(5000), waiters.wait(5000)];
      waiters.cancelAll();
      expect(await Promise.all(all)).to.deep.equal([undefined, undefined, undefined]);
      expect(clock.countTimers()).to.equal(0);
    });
  });

  describe('ProviderPool', function () {
    const names = (links: Array<Link | undefined>): string[] => links.map((l) => (l as unknown as { name?: string } | undefined)?.name ?? '-');

    it('round robin over its providers', function () {
      const pool = new ProviderPool();
      for (const n of ['a', 'b', 'c']) pool.add(stubLink(n));
      expect(pool.size).to.equal(3);
      expect(names([pool.next(), pool.next(), pool.next(), pool.next()])).to.deep.equal(['a', 'b', 'c', 'a']);
    });

    it('skips and drops closed providers; empty pool gives undefined', function () {
      const pool = new ProviderPool();
      const a = stubLink('a');
      const b = stubLink('b');
      pool.add(a);
      pool.add(b);
      b.isClosed = true;
      expect(names([pool.next(), pool.next()])).to.deep.equal(['a', 'a']);
      expect(pool.size).to.equal(1);
      a.isClosed = true;
      expect(pool.next()).to.equal(undefined);
      expect(pool.size).to.equal(0);
    });

    it('remove keeps the turn: the provider after the removed one comes next', function () {
      const pool = new ProviderPool();
      const links = ['a', 'b', 'c', 'd'].map(stubLink);
      for (const l of links) pool.add(l);
      expect(names([pool.next(), pool.next()])).to.deep.equal(['a', 'b']);
      pool.remove(links[0]!); // before the turn
      expect(names([pool.next()])).to.deep.equal(['c']);
      pool.remove(links[3]!); // the one whose turn it is
      expect(names([pool.next(), pool.next()])).to.deep.equal(['b', 'c']);
      pool.remove(stubLink('stranger'));
      expect(pool.size).to.equal(2);
      pool.remove(links[1]!);
      pool.remove(links[2]!);
      expect(pool.next()).to.equal(undefined);
    });

    it('waitForProvider answers at once when a provider is there', async function () {
      const pool = new ProviderPool();
      pool.add(stubLink('a'));
      expect(names([await pool.waitForProvider(1000)])).to.deep.equal(['a']);
      expect(clock.countTimers()).to.equal(0);
    });

    it('waitForProvider gets the first provider to arrive within the timeout, round robin among waiters', async function () {
      const pool = new ProviderPool();
      const w1 = pool.waitForProvider(5000);
      const w2 = pool.waitForProvider(5000);
      await clock.tickAsync(3000);
      pool.add(stubLink('late'));
      expect(names([await w1, await w2])).to.deep.equal(['late', 'late']);
      expect(clock.countTimers()).to.equal(0);
    });

    it('waitForProvider gives undefined after the timeout, or at once on cancelWaiters', async function () {
      const pool = new ProviderPool();
      const timedOut = track(pool.waitForProvider(2000));
      await clock.tickAsync(2000);
      expect(timedOut).to.deep.equal({ settled: true, value: undefined });
      const cancelled = track(pool.waitForProvider(60_000));
      pool.cancelWaiters();
      await clock.tickAsync(0);
      expect(cancelled).to.deep.equal({ settled: true, value: undefined });
      expect(clock.countTimers()).to.equal(0);
    });
  });
});
