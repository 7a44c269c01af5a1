// Transport grace on the dialing side of UDP channels (relay/udp-dialing-side.ts), over fake links
// and a fake transport with fake timers: a cut link keeps the transport and holds the replies, a
// Resume re-binds the channel and the peer's count releases them in order; expiry and peers
// without the grace announcement end the channel.
import { expect } from 'chai';
import type FakeTimers from '@sinonjs/fake-timers';
import type { EventEmitter } from 'node:events';
import { ResumableChannels } from '../../src/relay/grace.js';
import { GRACE_HELLO, graceOffset, parseGraceControl } from '../../src/relay/grace-wire.js';
import type { Link } from '../../src/relay/link.js';
import { udpChannelOpener } from '../../src/relay/udp-dialing-side.js';
import type { UdpTransport, UdpTransportHandlers } from '../../src/relay/udp-transport.js';
import { fakeLink, flush, installClock } from './fakes.js';
import type { FakeLink } from './fakes.js';

const CH = '77777777-8888-4777-8666-555555555555';

class FakeTransport implements UdpTransport {
  closed = false;
  constructor(readonly handlers: UdpTransportHandlers) {}
  send(): void {}
  close(): void {
    this.closed = true;
  }
}

/** The WebSocket under the link dies without a close frame (code 1006), as on a cut path. */
function cut(peer: FakeLink): void {
  (peer.link as unknown as { ws: EventEmitter }).ws.emit('close', 1006);
}

function graceLink(): FakeLink {
  const peer = fakeLink();
  peer.deliver(GRACE_HELLO);
  return peer;
}

const replies = (peer: FakeLink): string[] =>
  peer.sentOn(CH, 'data').map((m) => (m.type === 'data' ? `${m.data.toString()}@${m.address}:${m.port}` : '?'));
const offsets = (peer: FakeLink): number =>
  peer.sent.filter((m) => m.type === 'log' && parseGraceControl(m)?.kind === 'offset').length;

describe('unit: UDP dialing side under transport grace', function () {
  let clock: FakeTimers.Clock;
  let registry: ResumableChannels;
  let transport: FakeTransport | undefined;

  beforeEach(function () {
    clock = installClock();
    registry = new ResumableChannels();
    transport = undefined;
  });

  afterEach(function () {
    clock.uninstall();
  });

  async function openOn(peer: FakeLink): Promise<FakeTransport> {
    const open = udpChannelOpener({
      transport: async (handlers) => (transport = new FakeTransport(handlers)),
    });
    open(peer.link, CH, { ms: 1000, registry });
    await flush();
    return transport!;
  }

  it('a cut keeps the socket and holds the replies; the Resume and the peer\'s count release them in order', async function () {
    const first = graceLink();
    const t = await openOn(first);
    expect(registry.size).to.equal(1);
    cut(first);
    expect(t.closed).to.equal(false);
    expect(first.counters.udpSocketsOpen).to.equal(1);
    t.handlers.onDatagram(Buffer.from('r1'), '127.0.0.1', 53);
    t.handlers.onDatagram(Buffer.from('r2'), '127.0.0.1', 53);

    const second = graceLink();
    expect(registry.resume(second.link as Link, CH)).to.equal(true);
    expect(offsets(second), 'our count goes first').to.equal(1);
    t.handlers.onDatagram(Buffer.from('r3'), '127.0.0.1', 53);
    expect(replies(second), 'held until the peer\'s count').to.deep.equal([]);
    second.deliver(graceOffset(CH, 0));
    expect(replies(second)).to.deep.equal(['r1@127.0.0.1:53', 'r2@127.0.0.1:53', 'r3@127.0.0.1:53']);
    t.handlers.onDatagram(Buffer.from('r4'), '127.0.0.1', 53);
    expect(replies(second).at(-1)).to.equal('r4@127.0.0.1:53');
    // The grace timer is gone with the resume.
    clock.tick(5000);
    expect(t.closed).to.equal(false);
    second.close();
    expect(t.closed).to.equal(true);
  });

  it('expiry closes the socket, counts the held replies as dropped, and leaves the registry', async function () {
    const first = graceLink();
    const t = await openOn(first);
    cut(first);
    t.handlers.onDatagram(Buffer.from('r1'), '127.0.0.1', 53);
    clock.tick(999);
    expect(t.closed).to.equal(false);
    clock.tick(1);
    expect(t.closed).to.equal(true);
    expect(registry.size).to.equal(0);
    expect(first.counters.udpSocketsOpen).to.equal(0);
    expect(first.counters.udpDatagramsDropped).to.equal(1);
    const late = graceLink();
    expect(registry.resume(late.link as Link, CH)).to.equal(false);
  });

  it('a peer that did not announce grace: the cut ends the channel at once', async function () {
    const peer = fakeLink();
    const t = await openOn(peer);
    expect(registry.size).to.equal(0);
    cut(peer);
    expect(t.closed).to.equal(true);
    expect(peer.counters.udpSocketsOpen).to.equal(0);
  });

  it('a close frame (deliberate close) ends the channel at once', async function () {
    const peer = graceLink();
    const t = await openOn(peer);
    peer.close();
    expect(t.closed).to.equal(true);
    expect(registry.size).to.equal(0);
  });
});
