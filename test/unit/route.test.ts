// Agent-mode routes (relay/route.ts) between two fake links: what is forwarded, what is queued
// while the provider is chosen, and how either side's end reaches the other. Fake timers for the
// half-close linger.
import { expect } from 'chai';
import type FakeTimers from '@sinonjs/fake-timers';
import type { ConnectMessage } from '../../src/protocol/index.js';
import { encodeMessage } from '../../src/protocol/index.js';
import type { Link } from '../../src/relay/link.js';
import { routeConnect } from '../../src/relay/route.js';
import type { RouteOptions } from '../../src/relay/route.js';
import { fakeLink, flush, installClock, tcpData } from './fakes.js';
import type { FakeLink } from './fakes.js';

const CH = '11111111-2222-4333-8444-555555555555';
const CONNECT: ConnectMessage = { type: 'connect', protocol: 'tcp', channelId: CH, address: 'example.com', port: 443 };

/** A provider choice the test resolves when it wants. */
function deferredProvider(): { pick: () => Promise<Link | undefined>; resolve: (link: Link | undefined) => void; reject: (err: Error) => void } {
  let resolve!: (link: Link | undefined) => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<Link | undefined>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { pick: () => promise, resolve, reject };
}

describe('unit: agent route', function () {
  let clock: FakeTimers.Clock;
  let connector: FakeLink;
  let provider: FakeLink;

  beforeEach(function () {
    clock = installClock();
    connector = fakeLink();
    provider = fakeLink();
  });

  afterEach(function () {
    clock.uninstall();
  });

  function route(options: Partial<RouteOptions> = {}): void {
    routeConnect(connector.link, CONNECT, { pickProvider: async () => provider.link, halfCloseLingerMs: 10_000, ...options });
  }

  const errorsOf = (link: FakeLink, type: 'disconnect' | 'connectResponse'): string[] =>
    link.sentOn(CH, type).map((m) => ('error' in m ? m.error : '?'));

  it('sends the Connect to the provider and forwards both ways; a v1 peer\'s messages keep their bytes', async function () {
    route();
    await flush();
    expect(provider.frames).to.have.length(1);
    expect(provider.frames[0]!.equals(encodeMessage(CONNECT))).to.equal(true);
    const answer = provider.deliver({ type: 'connectResponse', success: true, channelId: CH, error: '' });
    const up = connector.deliver(tcpData(CH, 'GET /'));
    const down = provider.deliver(tcpData(CH, '200 OK'));
    expect(connector.frames.map((f) => f.toString('hex'))).to.deep.equal([answer.toString('hex'), down.toString('hex')]);
    expect(provider.frames[1]!.equals(up)).to.equal(true);
    expect(connector.link.channels.has(CH)).to.equal(true);
    expect(provider.link.channels.has(CH)).to.equal(true);
    expect(connector.counters.channelsOpened).to.equal(1);
  });

  it('a duplicate Connect for a routed channel is ignored', async function () {
    route();
    await flush();
    route();
    await flush();
    expect(provider.frames).to.have.length(1);
  });

  it('keeps fast-open messages while the provider is chosen and forwards them after the Connect, in order', async function () {
    const choice = deferredProvider();
    route({ pickProvider: choice.pick });
    const first = connector.deliver(tcpData(CH, 'one'));
    const second = connector.deliver(tcpData(CH, 'two'));
    expect(provider.frames).to.have.length(0);
    choice.resolve(provider.link);
    await flush();
    expect(provider.frames.slice(1).map((f) => f.toString('hex'))).to.deep.equal([first.toString('hex'), second.toString('hex')]);
  });

  it('pauses the connector link past pendingDataLimit and resumes it once the provider is attached', async function () {
    const choice = deferredProvider();
    route({ pickProvider: choice.pick, pendingDataLimit: 100 });
    connector.deliver(tcpData(CH, Buffer.alloc(60)));
    expect(connector.inboundPaused).to.equal(false);
    connector.deliver(tcpData(CH, Buffer.alloc(60)));
    expect(connector.inboundPaused).to.equal(true);
    choice.resolve(provider.link);
    await flush();
    expect(connector.inboundPaused).to.equal(false);
    expect(provider.frames).to.have.length(3);
  });

  for (const [what, settle] of [
    ['no provider in time', (c: ReturnType<typeof deferredProvider>) => c.resolve(undefined)],
    ['the provider choice fails', (c: ReturnType<typeof deferredProvider>) => c.reject(new Error('gone'))],
  ] as const) {
    it(`${what}: failed ConnectResponse with Go's text, route dropped with its queued data`, async function () {
      const choice = deferredProvider();
      route({ pickProvider: choice.pick, pendingDataLimit: 10 });
      connector.deliver(tcpData(CH, Buffer.alloc(50)));
      expect(connector.inboundPaused).to.equal(true);
      settle(choice);
      await flush();
      expect(errorsOf(connector, 'connectResponse')).to.deep.equal(['no available reverse clients']);
      expect(connector.link.channels.has(CH)).to.equal(false);
      expect(connector.inboundPaused).to.equal(false);
      expect(connector.counters.channelsFailed).to.equal(1);
    });
  }

  it('uses noProviderError as the failure text', async function () {
    route({ pickProvider: async () => undefined, noProviderError: 'no provider for this token' });
    await flush();
    expect(errorsOf(connector, 'connectResponse')).to.deep.equal(['no provider for this token']);
  });

  it('refuses a provider that is closed or already has the channel id', async function () {
    provider.link.attach(CH, { onChannelMessage() {}, onLinkClosed() {}, lastActivity: () => 0, onIdle() {} });
    route();
    await flush();
    expect(errorsOf(connector, 'connectResponse')).to.deep.equal(['no available reverse clients']);
    expect(provider.frames).to.have.length(0);
  });

  it("the provider's failed ConnectResponse reaches the connector and ends the route on both links", async function () {
    route();
    await flush();
    provider.deliver({ type: 'connectResponse', success: false, channelId: CH, error: 'connection refused' });
    expect(errorsOf(connector, 'connectResponse')).to.deep.equal(['connection refused']);
    expect(connector.link.channels.has(CH)).to.equal(false);
    expect(provider.link.channels.has(CH)).to.equal(false);
  });

  it('a Disconnect with an error from either side is forwarded and ends the route', async function () {
    route();
    await flush();
    connector.deliver({ type: 'disconnect', channelId: CH, error: 'reset' });
    expect(errorsOf(provider, 'disconnect')).to.deep.equal(['reset']);
    expect(connector.link.channels.has(CH)).to.equal(false);
    expect(provider.link.channels.has(CH)).to.equal(false);
  });

  it('EOF both ways ends the route; after one EOF the other side may still talk', async function () {
    route();
    await flush();
    connector.deliver({ type: 'disconnect', channelId: CH, error: 'EOF' });
    provider.deliver(tcpData(CH, 'answer'));
    expect(connector.link.channels.has(CH)).to.equal(true);
    provider.deliver({ type: 'disconnect', channelId: CH, error: 'EOF' });
    expect(errorsOf(provider, 'disconnect')).to.deep.equal(['EOF']);
    expect(errorsOf(connector, 'disconnect')).to.deep.equal(['EOF']);
    expect(connector.link.channels.has(CH)).to.equal(false);
    expect(provider.link.channels.has(CH)).to.equal(false);
  });

  it('after one EOF, silence for halfCloseLingerMs (from the last message) ends the route with Disconnects both ways', async function () {
    route();
    await flush();
    connector.deliver({ type: 'disconnect', channelId: CH, error: 'EOF' });
    await clock.tickAsync(7_000);
    provider.deliver(tcpData(CH, 'still here'));
    await clock.tickAsync(9_999);
    expect(connector.link.channels.has(CH)).to.equal(true);
    await clock.tickAsync(1);
    expect(errorsOf(connector, 'disconnect')).to.deep.equal(['']);
    expect(errorsOf(provider, 'disconnect')).to.deep.equal(['EOF', '']);
    expect(connector.link.channels.has(CH)).to.equal(false);
  });

  it('an EOF queued before the provider is chosen starts the linger once it is attached', async function () {
    const choice = deferredProvider();
    route({ pickProvider: choice.pick, halfCloseLingerMs: 1_000 });
    connector.deliver({ type: 'disconnect', channelId: CH, error: 'EOF' });
    await clock.tickAsync(5_000);
    choice.resolve(provider.link);
    await flush();
    expect(errorsOf(provider, 'disconnect')).to.deep.equal(['EOF']);
    await clock.tickAsync(1_000);
    expect(provider.link.channels.has(CH)).to.equal(false);
  });

  it('a closing provider link gives the connector a Disconnect with an error text (its socket is reset)', async function () {
    route();
    await flush();
    provider.close();
    expect(errorsOf(connector, 'disconnect')).to.deep.equal(['peer link lost']);
    expect(connector.link.channels.has(CH)).to.equal(false);
    expect(connector.counters.channelsOpen).to.equal(0);
  });

  it('a closing connector link gives the provider a Disconnect with an error text (its socket is reset)', async function () {
    route();
    await flush();
    connector.close();
    expect(errorsOf(provider, 'disconnect')).to.deep.equal(['peer link lost']);
    expect(provider.link.channels.has(CH)).to.equal(false);
  });

  it('a connector gone before the provider is chosen: nothing reaches the provider', async function () {
    const choice = deferredProvider();
    route({ pickProvider: choice.pick });
    connector.close();
    choice.resolve(provider.link);
    await flush();
    expect(provider.frames).to.have.length(0);
    expect(provider.link.channels.has(CH)).to.equal(false);
  });

  it('the idle sweep aborts the route with "idle timeout" both ways', async function () {
    route();
    await flush();
    const leg = connector.link.channels.get(CH)!;
    leg.onIdle();
    expect(errorsOf(connector, 'disconnect')).to.deep.equal(['idle timeout']);
    expect(errorsOf(provider, 'disconnect')).to.deep.equal(['idle timeout']);
  });

  it('a congested provider link pauses the connector link until the provider drains', async function () {
    route();
    await flush();
    provider.setBuffered(5_000);
    connector.deliver(tcpData(CH, 'x'));
    expect(connector.inboundPaused).to.equal(true);
    expect(connector.counters.producerPauses).to.equal(1);
    connector.deliver(tcpData(CH, 'y')); // already paused: not counted twice
    expect(connector.counters.producerPauses).to.equal(1);
    provider.setBuffered(0);
    provider.drain();
    expect(connector.inboundPaused).to.equal(false);
  });

  it('ending the route while a leg waits for a drain resumes its link', async function () {
    route();
    await flush();
    connector.setBuffered(5_000);
    provider.deliver(tcpData(CH, 'x'));
    expect(provider.inboundPaused).to.equal(true);
    connector.deliver({ type: 'disconnect', channelId: CH, error: 'bye' });
    expect(provider.inboundPaused).to.equal(false);
  });
});
