// The suspension state machine of a TCP channel under transport grace, with fake timers, a stub
// link and a stub socket (no I/O): what is sent, kept, replayed and reset, and when.
import { expect } from 'chai';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { mock } from 'node:test';
import type { OutgoingMessage } from '../../src/protocol/index.js';
import { RelayCounters } from '../../src/relay/counters.js';
import { parseGraceControl } from '../../src/relay/grace-wire.js';
import type { ChannelEndpoint, Link } from '../../src/relay/link.js';
import { GRACE_ACK_STEP, TcpChannel } from '../../src/relay/tcp-channel.js';
import type { GraceRegistry } from '../../src/relay/tcp-channel.js';

const CH = '11223344-5566-7788-99aa-bbccddeeff00';

class StubLink {
  readonly channels = new Map<string, ChannelEndpoint>();
  readonly counters = new RelayCounters();
  readonly sent: OutgoingMessage[] = [];
  readonly data: Buffer[] = [];
  peerResumes = true;
  isClosed = false;
  lostAbruptly = false;
  attach(id: string, endpoint: ChannelEndpoint): void {
    this.channels.set(id, endpoint);
  }
  detach(id: string, endpoint: ChannelEndpoint): void {
    if (this.channels.get(id) === endpoint) this.channels.delete(id);
  }
  send(msg: OutgoingMessage): boolean {
    this.sent.push(msg);
    return true;
  }
  sendTcpData(_id: string, payload: Buffer): boolean {
    this.data.push(Buffer.from(payload));
    return true;
  }
  waitForDrain(): void {}
  cancelDrainWait(): void {}
  pauseInbound(): void {}
  resumeInbound(): void {}
  /** The link dies: abruptly (a cut) or deliberately. */
  lose(abruptly: boolean): void {
    this.isClosed = true;
    this.lostAbruptly = abruptly;
    for (const [id, endpoint] of [...this.channels]) {
      endpoint.onLinkClosed();
      this.detach(id, endpoint);
    }
  }
  controls(): Array<{ kind: string; received?: number }> {
    return this.sent.flatMap((m) => {
      if (m.type !== 'log') return [];
      const c = parseGraceControl(m);
      return c ? [{ kind: c.kind, ...(c.kind === 'hello' ? {} : { received: c.received }) }] : [];
    });
  }
}

class StubSocket extends EventEmitter {
  paused = false;
  destroyed = false;
  reset = false;
  ended = false;
  writableLength = 0;
  writableFinished = false;
  readonly written: Buffer[] = [];
  write(data: Buffer): boolean {
    this.written.push(data);
    return true;
  }
  pause(): this {
    this.paused = true;
    return this;
  }
  resume(): this {
    this.paused = false;
    return this;
  }
  end(): this {
    this.ended = true;
    return this;
  }
  destroy(): this {
    this.destroyed = true;
    return this;
  }
  resetAndDestroy(): this {
    this.reset = true;
    this.destroyed = true;
    return this;
  }
}

class StubRegistry implements GraceRegistry {
  readonly events: string[] = [];
  onSuspended: ((channel: TcpChannel) => void) | undefined;
  opened(): void {
    this.events.push('opened');
  }
  suspended(channel: TcpChannel): void {
    this.events.push('suspended');
    this.onSuspended?.(channel);
  }
  ended(): void {
    this.events.push('ended');
  }
}

function setup(role: 'owner' | 'dialer', graceMs = 1000) {
  const link = new StubLink();
  const socket = new StubSocket();
  const registry = new StubRegistry();
  const channel = new TcpChannel(link as unknown as Link, CH, socket as unknown as Socket, {
    maxPayload: 1024 * 1024,
    grace: {
      ms: graceMs,
      registry,
      replayWindow: 1024 * 1024,
      ...(role === 'owner' ? { connect: { address: 'example.test', port: 443 } } : {}),
    },
  });
  channel.start();
  return { link, socket, registry, channel };
}

const bytes = (n: number, fill: number): Buffer => Buffer.alloc(n, fill);

describe('relay: transport grace state machine (fake timers)', function () {
  beforeEach(function () {
    mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'] });
  });

  afterEach(function () {
    mock.timers.reset();
  });

  it('an abrupt loss suspends (socket kept, not read); the grace expiry resets it', function () {
    const { link, socket, registry } = setup('owner');
    link.lose(true);
    expect(registry.events).to.deep.equal(['opened', 'suspended']);
    expect(socket.destroyed).to.equal(false);
    expect(socket.paused).to.equal(true);
    mock.timers.tick(999);
    expect(socket.destroyed).to.equal(false);
    mock.timers.tick(1);
    expect(socket.reset, 'RST, not FIN').to.equal(true);
    expect(registry.events).to.deep.equal(['opened', 'suspended', 'ended']);
  });

  it('a deliberate close (or a peer without grace) resets at once', function () {
    const deliberate = setup('owner');
    deliberate.link.lose(false);
    expect(deliberate.socket.reset).to.equal(true);
    const noPeer = new StubLink();
    noPeer.peerResumes = false;
    const socket = new StubSocket();
    new TcpChannel(noPeer as unknown as Link, CH, socket as unknown as Socket, {
      maxPayload: 1024,
      grace: { ms: 1000, registry: new StubRegistry(), connect: { address: 'a', port: 1 } },
    }).start();
    noPeer.lose(true);
    expect(socket.reset).to.equal(true);
  });

  it('owner resume: Connect with Resume and our count first, nothing else until the peer\'s count, then the exact replay', function () {
    const { link, socket, channel } = setup('owner');
    socket.emit('data', bytes(100, 1));
    socket.emit('data', bytes(50, 2));
    channel.onChannelMessage({ type: 'data', protocol: 'tcp', channelId: CH, compression: 0, data: bytes(30, 9), address: '', port: 0, targetAddr: '', targetPort: 0 } as never);
    link.lose(true);
    socket.emit('data', bytes(20, 3)); // read before the pause took effect
    const next = new StubLink();
    channel.resumeOn(next as unknown as Link);
    expect(next.sent[0]).to.deep.include({ type: 'connect', channelId: CH, address: 'example.test', port: 443, resume: true });
    expect(next.controls()).to.deep.equal([{ kind: 'offset', received: 30 }]);
    expect(next.data).to.have.length(0);
    expect(socket.paused).to.equal(true);
    // The peer got the first 120 bytes: 100 of the first read and 20 of the second.
    channel.onPeerOffset(120);
    expect(Buffer.concat(next.data)).to.deep.equal(Buffer.concat([bytes(30, 2), bytes(20, 3)]));
    expect(socket.paused).to.equal(false);
    socket.emit('data', bytes(5, 4));
    expect(Buffer.concat(next.data).subarray(50)).to.deep.equal(bytes(5, 4));
    mock.timers.tick(5000);
    expect(socket.destroyed, 'the grace timer is gone once resumed').to.equal(false);
  });

  it('a count outside what is kept ends the channel with a reset and a Disconnect', function () {
    const { link, socket, channel } = setup('owner');
    socket.emit('data', bytes(100, 1));
    link.lose(true);
    const next = new StubLink();
    channel.resumeOn(next as unknown as Link);
    channel.onPeerOffset(101);
    expect(next.sent.at(-1)).to.deep.include({ type: 'disconnect', error: 'resume offset out of range' });
    expect(socket.reset).to.equal(true);
  });

  it('dialer: a Resume re-binds (even before the old link looks dead), and a silent owner still expires', function () {
    const { link, socket, channel } = setup('dialer');
    const next = new StubLink();
    expect(channel.rebind(next as unknown as Link)).to.equal(true);
    expect(link.channels.size, 'left the old link').to.equal(0);
    expect(next.controls()).to.deep.equal([{ kind: 'offset', received: 0 }]);
    mock.timers.tick(1000);
    expect(socket.reset).to.equal(true);
    expect(next.sent.at(-1)).to.deep.include({ type: 'disconnect', error: 'transport link not restored' });
  });

  it('acks every GRACE_ACK_STEP bytes received; an ack trims the replay and reopens the window', function () {
    const { link, socket, channel } = setup('owner');
    const step = GRACE_ACK_STEP;
    channel.onChannelMessage({ type: 'data', protocol: 'tcp', channelId: CH, compression: 0, data: bytes(step - 1, 1), address: '', port: 0, targetAddr: '', targetPort: 0 } as never);
    expect(link.controls()).to.deep.equal([]);
    channel.onChannelMessage({ type: 'data', protocol: 'tcp', channelId: CH, compression: 0, data: bytes(1, 1), address: '', port: 0, targetAddr: '', targetPort: 0 } as never);
    expect(link.controls()).to.deep.equal([{ kind: 'ack', received: step }]);
    // Window of 1 MiB: reading stops beyond it until the peer acknowledges.
    socket.emit('data', bytes(1024 * 1024 + 1, 2));
    expect(socket.paused).to.equal(true);
    channel.onPeerAck(1024 * 1024);
    expect(socket.paused).to.equal(false);
  });

  it('a resume opens the window only for flushed bytes: the peer\'s count drops the replay, its acks free the window', function () {
    const { link, socket, channel } = setup('owner');
    // A window's worth and one byte read: reading stops until the peer acknowledges.
    socket.emit('data', bytes(1024 * 1024 + 1, 2));
    expect(socket.paused).to.equal(true);
    link.lose(true);
    const next = new StubLink();
    channel.resumeOn(next as unknown as Link);
    // The peer received everything, but it may still sit in the peer's socket buffer: a count of
    // received bytes must not let another window pile up behind it (two cuts would double it).
    channel.onPeerOffset(1024 * 1024 + 1);
    expect(next.data, 'nothing to replay').to.have.length(0);
    expect(socket.paused, 'window still closed').to.equal(true);
    channel.onPeerAck(1024 * 1024 + 1);
    expect(socket.paused).to.equal(false);
  });

  it('after the peer\'s count a resumed side acks what its socket has flushed, and the rest once it drains', function () {
    const { socket, channel } = setup('dialer');
    channel.onChannelMessage({ type: 'data', protocol: 'tcp', channelId: CH, compression: 0, data: bytes(100, 1), address: '', port: 0, targetAddr: '', targetPort: 0 } as never);
    socket.writableLength = 60; // 40 of the 100 bytes flushed
    const next = new StubLink();
    channel.rebind(next as unknown as Link);
    expect(next.controls()).to.deep.equal([{ kind: 'offset', received: 100 }]);
    channel.onPeerOffset(0);
    expect(next.controls()).to.deep.equal([{ kind: 'offset', received: 100 }, { kind: 'ack', received: 40 }]);
    socket.writableLength = 0;
    socket.emit('drain');
    expect(next.controls().at(-1)).to.deep.equal({ kind: 'ack', received: 100 });
  });

  it('an end of stream during the suspension is said on the new link after the replay', function () {
    const { link, socket, channel } = setup('owner');
    socket.emit('data', bytes(10, 1));
    link.lose(true);
    socket.emit('end');
    const next = new StubLink();
    channel.resumeOn(next as unknown as Link);
    channel.onPeerOffset(0);
    expect(Buffer.concat(next.data)).to.deep.equal(bytes(10, 1));
    expect(next.sent.at(-1)).to.deep.include({ type: 'disconnect', error: 'EOF' });
  });
});
