// The admin page's live history and event list, driven by a fake server and a fake clock.
import { expect } from 'chai';
import { EventEmitter } from 'node:events';
import type { ClientEntry } from '../../src/server/admin-views.js';
import { AdminFeed } from '../../src/server/admin-feed.js';
import type { LinkSocksServerEvents } from '../../src/server/events.js';
import { RelayCounters } from '../../src/relay/counters.js';
import { TokenStore } from '../../src/server/token-store.js';
import { Ring } from '../../src/util/ring.js';

class FakeServer extends EventEmitter<LinkSocksServerEvents> {
  readonly counters = new RelayCounters();
  live: ClientEntry[] = [];
  clients(): ClientEntry[] {
    return this.live;
  }
}

function client(id: number, bytesIn: number, bytesOut: number): ClientEntry {
  return { id, token: 't', role: 'provider', remote_address: '127.0.0.1:1', instance: '', connected_at: new Date(0).toISOString(), channels: 0, bytes_in: bytesIn, bytes_out: bytesOut };
}

describe('Ring', function () {
  it('keeps the newest entries up to its capacity, oldest first', function () {
    const ring = new Ring<number>(3);
    expect(ring.toArray()).to.deep.equal([]);
    for (let i = 1; i <= 5; i += 1) ring.push(i);
    expect(ring.toArray()).to.deep.equal([3, 4, 5]);
    expect([ring.size, ring.last()]).to.deep.equal([3, 5]);
    expect(() => new Ring(0)).to.throw(RangeError);
  });
});

describe('AdminFeed', function () {
  let now: number;
  let server: FakeServer;

  beforeEach(function () {
    now = Date.UTC(2026, 0, 1);
    server = new FakeServer();
  });

  const feed = (options: ConstructorParameters<typeof AdminFeed>[2] = {}, store?: TokenStore): AdminFeed => new AdminFeed(server, store, { now: () => now, ...options });

  it('samples rates per second between samples, counting bytes of clients that left meanwhile', function () {
    const f = feed();
    server.live = [client(1, 100, 200)];
    f.sample();
    expect(f.stats().history).to.deep.equal([]);
    now += 2000;
    server.counters.channelsOpened += 10;
    server.counters.channelsOpen = 4;
    server.live = [client(1, 2100, 1200), client(2, 1000, 0)];
    f.sample();
    now += 2000;
    // Client 1 leaves with 4100 / 3200 bytes in all.
    server.emit('client-disconnected', { role: 'reverse', token: 't', linkId: 1, remoteAddress: '127.0.0.1:1', bytesIn: 4100, bytesOut: 3200 });
    server.live = [client(2, 1000, 0)];
    f.sample();
    const stats = f.stats();
    expect(stats.history).to.deep.equal([
      { time: now - 2000, channels_open: 4, clients: 2, connections_per_s: 5, bytes_in_per_s: 1500, bytes_out_per_s: 500 },
      { time: now, channels_open: 4, clients: 1, connections_per_s: 0, bytes_in_per_s: 1000, bytes_out_per_s: 1000 },
    ]);
    expect([stats.bytes_in_total, stats.bytes_out_total, stats.clients]).to.deep.equal([5100, 3200, 1]);
    expect(f.stats(now - 1).history).to.have.length(1);
  });

  it('keeps at most historySize samples and maxEvents events', function () {
    const f = feed({ historySize: 5, maxEvents: 3 });
    for (let i = 0; i < 20; i += 1) {
      f.sample();
      now += 2000;
      server.emit('listener-error', `t${i}`, new Error('EADDRINUSE'));
    }
    expect(f.stats().history).to.have.length(5);
    const events = f.events(100);
    expect(events.map((e) => e.message)).to.deep.equal([
      'cannot open the SOCKS5 port of token t19: EADDRINUSE',
      'cannot open the SOCKS5 port of token t18: EADDRINUSE',
      'cannot open the SOCKS5 port of token t17: EADDRINUSE',
    ]);
    expect(f.events(1)).to.have.length(1);
  });

  it('folds authentication failures per address and window, and caps new addresses per window', function () {
    const f = feed({ authWindowMs: 10_000, authEntriesPerWindow: 2 });
    const fail = (address: string): void => {
      server.emit('auth-failed', { reason: 'invalid token', remoteAddress: address });
    };
    for (let i = 0; i < 50; i += 1) fail('10.0.0.1');
    fail('10.0.0.2');
    for (let i = 3; i < 100; i += 1) fail(`10.0.0.${i}`);
    let events = f.events(100);
    expect(events.map((e) => [e.remote_address, e.count])).to.deep.equal([
      [undefined, 97],
      ['10.0.0.2', 1],
      ['10.0.0.1', 50],
    ]);
    now += 10_000;
    fail('10.0.0.1');
    events = f.events(100);
    expect(events).to.have.length(4);
    expect([events[0]!.remote_address, events[0]!.count]).to.deep.equal(['10.0.0.1', 1]);
  });

  it('records token changes, connections, listener errors and the drain', function () {
    const store = new TokenStore();
    const f = feed({}, store);
    store.addReverse({ token: 'r', port: 9000 });
    store.addReverse({ token: 'a', allowManageConnector: true });
    store.addInternal('a', 'a/x');
    server.emit('client-connected', { role: 'connector', token: 'c', linkId: 7, remoteAddress: '[::1]:5' });
    server.emit('draining', { timeoutMs: 30_000 });
    store.remove('r');
    expect(f.events(10).map((e) => [e.kind, e.message, e.remote_address])).to.deep.equal([
      ['token-removed', 'reverse token r removed', undefined],
      ['draining', 'draining: open channels get up to 30 s to finish', undefined],
      ['client-connected', 'connector connected (token c)', '[::1]:5'],
      ['token-added', 'autonomy token a added', undefined],
      ['token-added', 'reverse token r added, SOCKS5 port 9000', undefined],
    ]);
    expect(f.stats().draining).to.equal(true);
  });

  it('records kicks, disable and enable, policy changes and expiry', function () {
    const store = new TokenStore();
    const f = feed({}, store);
    store.addReverse({ token: 'r', port: 9000 });
    store.addForward('f', undefined, { expiresAt: now + 60_000 });
    server.emit('client-kicked', { role: 'reverse', token: 'r', linkId: 3, remoteAddress: '127.0.0.1:40000' });
    store.update('r', { disabled: true });
    store.update('r', { disabled: false, maxChannels: 10, strategy: 'sticky' });
    store.update('r', { maxChannels: 20, rateLimit: 5000 });
    store.update('f', { quotaBytes: 1000 });
    // The same change again changes nothing: no entry.
    store.update('r', { maxChannels: 20 });
    now += 60_000;
    store.remove('f');
    expect(f.events(20).slice(0, 7).map((e) => [e.kind, e.message])).to.deep.equal([
      ['token-expired', 'forward token f expired (2026-01-01T00:01:00.000Z) and was removed'],
      ['policy-changed', 'forward token f policy: quota_bytes none → 1000'],
      ['policy-changed', 'reverse token r policy: max_channels 10 → 20, rate_limit none → 5000'],
      ['policy-changed', 'reverse token r policy: max_channels none → 10, strategy none → sticky'],
      ['token-enabled', 'reverse token r enabled'],
      ['token-disabled', 'reverse token r disabled: its clients are disconnected and refused'],
      ['client-kicked', 'provider disconnected by the administrator (token r)'],
    ]);
    expect(f.events(20)[6]?.remote_address).to.equal('127.0.0.1:40000');
  });

  it('records a used-up quota with its reset time', function () {
    const f = feed();
    server.emit('quota-exhausted', { token: 'q', quotaBytes: 1000, resetsAt: '2026-01-02T00:00:00.000Z' });
    server.emit('quota-exhausted', { token: 'r', quotaBytes: 5 });
    expect(f.events(2).map((e) => [e.kind, e.message])).to.deep.equal([
      ['quota-exhausted', 'quota of token r used up (5 bytes): its channels are closed and new ones refused'],
      ['quota-exhausted', 'quota of token q used up (1000 bytes): its channels are closed and new ones refused until 2026-01-02T00:00:00.000Z'],
    ]);
  });

  it('folds policy refusals per token and reason, and bounds them like authentication failures', function () {
    const f = feed({ authEntriesPerWindow: 2 });
    for (let i = 0; i < 5; i += 1) server.emit('policy-refused', { token: 'a', reason: 'max_channels' });
    server.emit('policy-refused', { token: 'a', reason: 'quota' });
    server.emit('policy-refused', { token: 'b', reason: 'disabled' });
    server.emit('policy-refused', { token: 'c', reason: 'disabled' });
    expect(f.events(10).map((e) => [e.kind, e.message, e.count])).to.deep.equal([
      ['policy-refused', 'channels refused by the policy of more tokens (not listed one by one)', 2],
      ['policy-refused', 'channel refused: quota of the token used up (token a)', 1],
      ['policy-refused', 'channel refused: channel limit of the token reached (token a)', 5],
    ]);
    now += 60_000;
    server.emit('policy-refused', { token: 'a', reason: 'max_channels' });
    expect(f.events(1)[0]).to.include({ message: 'channel refused: channel limit of the token reached (token a)', count: 1 });
  });

  it('samples on a timer that start() arms and stop() clears', function () {
    const f = feed({ intervalMs: 1000 });
    f.start();
    f.start();
    f.stop();
    f.stop();
    expect(f.stats().history).to.deep.equal([]);
  });
});
