// Per-token accounts with fake timers: counting, quota exhaustion closing channels with one log
// line, the period reset (one timer for all tokens), live reconfiguration, snapshot and restore,
// bounded save rate.
import { expect } from 'chai';
import type FakeTimers from '@sinonjs/fake-timers';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Logger } from '../../src/log.js';
import type { MeteredChannel } from '../../src/relay/meter.js';
import { TokenAccounts } from '../../src/server/token-usage.js';
import { installClock } from './fakes.js';

const DAY = 24 * 60 * 60 * 1000;

function capture(): { logger: Logger; messages: () => string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter((l) => l !== ''));
      done();
    },
  });
  return {
    logger: pino({ level: 'info' }, sink) as unknown as Logger,
    messages: () => lines.map((l) => String((JSON.parse(l) as { msg: string }).msg)),
  };
}

class Channel implements MeteredChannel {
  closedWith: string | undefined;
  close(reason: string): void {
    this.closedWith = reason;
  }
}

describe('unit: TokenAccounts', function () {
  let clock: FakeTimers.Clock;
  let log: ReturnType<typeof capture>;
  let accounts: TokenAccounts;
  let saves: number;

  beforeEach(function () {
    clock = installClock();
    log = capture();
    saves = 0;
    accounts = new TokenAccounts({ logger: log.logger, save: () => (saves += 1), saveIntervalMs: 60_000 });
  });

  afterEach(function () {
    accounts.close();
    clock.uninstall();
  });

  it('counts bytes each way; without a quota nothing is refused', function () {
    accounts.configure('t', undefined);
    const meter = accounts.meterFor('t')!;
    meter.countUpload(100);
    meter.countDownload(250);
    expect(accounts.status('t')).to.deep.equal({ bytes_up: 100, bytes_down: 250 });
    expect(accounts.admits('t')).to.equal(true);
    expect(meter.upload.limited).to.equal(false);
  });

  it('a used-up quota closes the open channels, refuses new ones, logs once', function () {
    accounts.configure('t', { quotaBytes: 1000 });
    const meter = accounts.meterFor('t')!;
    const a = new Channel();
    const b = new Channel();
    meter.channelOpened(a);
    meter.channelOpened(b);
    meter.countUpload(600);
    expect(a.closedWith).to.equal(undefined);
    meter.countDownload(400);
    expect([a.closedWith, b.closedWith]).to.deep.equal(['quota exceeded', 'quota exceeded']);
    expect(accounts.admits('t')).to.equal(false);
    meter.countDownload(10); // a datagram already on its way
    expect(log.messages().filter((m) => m.startsWith('Token quota used up'))).to.have.length(1);
    expect(accounts.status('t')).to.include({ quota_used: 1010 });
  });

  it('reports a used-up quota once to onExhausted, with the reset time of a period', function () {
    const events: unknown[] = [];
    const reporting = new TokenAccounts({ logger: log.logger, onExhausted: (event) => events.push(event) });
    try {
      reporting.configure('p', { quotaBytes: 1000, quotaPeriodMs: 86_400_000 });
      reporting.configure('q', { quotaBytes: 10 });
      const start = Date.now();
      reporting.meterFor('p')!.countUpload(1000);
      reporting.meterFor('p')!.countUpload(5);
      reporting.meterFor('q')!.countDownload(10);
      expect(events).to.deep.equal([
        { token: 'p', quotaBytes: 1000, resetsAt: new Date(start + 86_400_000).toISOString() },
        { token: 'q', quotaBytes: 10 },
      ]);
    } finally {
      reporting.close();
    }
  });

  it('the period resets usage by one timer, and channels are admitted again', function () {
    accounts.configure('a', { quotaBytes: 1000, quotaPeriodMs: DAY });
    accounts.configure('b', { quotaBytes: 1000, quotaPeriodMs: 30 * DAY });
    accounts.meterFor('a')!.countUpload(1000);
    accounts.meterFor('b')!.countUpload(1000);
    expect(accounts.admits('a')).to.equal(false);
    expect(accounts.status('a')!.quota_resets_at).to.equal(new Date(Date.now() + DAY).toISOString());
    clock.tick(DAY);
    expect(accounts.admits('a')).to.equal(true);
    expect(accounts.status('a')).to.include({ quota_used: 0, bytes_up: 1000 });
    expect(accounts.admits('b')).to.equal(false);
    // 30 days is beyond setTimeout's range: the timer wakes up in between and goes back to sleep.
    clock.tick(29 * DAY);
    expect(accounts.admits('b')).to.equal(true);
    expect(log.messages().filter((m) => m.startsWith('Token quota period reset'))).to.have.length(2);
  });

  it('a changed policy applies at once: rate, raised quota, lowered quota', function () {
    accounts.configure('t', { rateLimit: 1000, quotaBytes: 1_000_000 });
    const meter = accounts.meterFor('t')!;
    expect([meter.upload.bytesPerSecond, meter.download.bytesPerSecond]).to.deep.equal([1000, 1000]);
    const channel = new Channel();
    meter.channelOpened(channel);
    meter.countUpload(5000);
    accounts.configure('t', { rateLimit: 2000, quotaBytes: 4000 });
    expect(meter.upload.bytesPerSecond).to.equal(2000);
    expect(channel.closedWith).to.equal('quota exceeded');
    expect(accounts.admits('t')).to.equal(false);
    accounts.configure('t', { quotaBytes: 10_000 });
    expect(accounts.admits('t')).to.equal(true);
    expect(meter.upload.limited).to.equal(false);
  });

  it('usage is saved at a bounded rate while traffic flows, and on close', function () {
    accounts.configure('t', undefined);
    const meter = accounts.meterFor('t')!;
    for (let i = 0; i < 1000; i += 1) meter.countUpload(1);
    expect(saves).to.equal(0);
    clock.tick(60_000);
    expect(saves).to.equal(1);
    clock.tick(60_000);
    expect(saves).to.equal(1); // nothing moved: nothing written
    meter.countDownload(5);
    accounts.close();
    expect(saves).to.equal(2);
  });

  it('snapshot and restore carry counters and the period; a period that ended meanwhile resets', function () {
    accounts.configure('t', { quotaBytes: 1000, quotaPeriodMs: DAY });
    accounts.configure('idle', undefined);
    accounts.meterFor('t')!.countUpload(700);
    const saved = accounts.snapshot();
    expect(Object.keys(saved)).to.deep.equal(['t']);
    const later = new TokenAccounts({ logger: log.logger });
    later.configure('t', { quotaBytes: 1000, quotaPeriodMs: DAY });
    later.restore(saved);
    expect(later.status('t')).to.include({ bytes_up: 700, quota_used: 700 });
    clock.tick(DAY + 1);
    expect(later.status('t')).to.include({ bytes_up: 700, quota_used: 0 });
    later.close();
  });

  it('a quota set on a token that had none counts from then on, in a period starting then', function () {
    accounts.configure('t', undefined);
    accounts.meterFor('t')!.countUpload(5000);
    clock.tick(1000);
    accounts.configure('t', { quotaBytes: 4000, quotaPeriodMs: DAY });
    expect(accounts.admits('t')).to.equal(true);
    expect(accounts.status('t')).to.deep.equal({
      bytes_up: 5000,
      bytes_down: 0,
      quota_used: 0,
      quota_resets_at: new Date(Date.now() + DAY).toISOString(),
    });
  });

  it('forget() drops the account (the token is gone)', function () {
    accounts.configure('t', { rateLimit: 1000 });
    accounts.forget('t');
    expect(accounts.meterFor('t')).to.equal(undefined);
    expect(accounts.admits('t')).to.equal(true);
  });
});
