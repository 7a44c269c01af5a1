// Data that arrives before its Connect (NEWEST.md §3.4 "Ordering robustness"): the holding area
// alone with fake timers, then on a real link pair: flushed in order to the channel the Connect
// opens, dropped and counted when the Connect is refused, and a channel whose early data was
// dropped is refused instead of being relayed with a hole in its stream.
import { mock } from 'node:test';

import { expect } from 'chai';

import { encodeMessage, encodeTcpData, type ConnectMessage, type DataMessage, type Message } from '../../src/protocol/index.js';
import { EarlyData, type EarlyDropReason, type EarlyMessage } from '../../src/relay/early-data.js';
import { EARLY_DATA_LOST_ERROR, type ChannelEndpoint, type ChannelMessage, type Link } from '../../src/relay/link.js';
import { createLinkPair, type LinkPair } from './link-pair.js';
import { waitForValue } from '../helpers/wait.js';

const waitFor = (check: () => boolean): Promise<void> => waitForValue(check, true, 'condition');

const A = '0a000000-0000-4000-8000-000000000001';
const B = '0b000000-0000-4000-8000-000000000002';
const C = '0c000000-0000-4000-8000-000000000003';

function data(channelId: string, text: string): DataMessage {
  return {
    type: 'data',
    protocol: 'tcp',
    channelId,
    compression: 0,
    data: Buffer.from(text),
    address: '',
    port: 0,
    targetAddr: '',
    targetPort: 0,
  };
}

const texts = (held: Array<{ msg: EarlyMessage }>): string[] =>
  held.map(({ msg }) => (msg.type === 'data' ? msg.data.toString() : `disconnect:${msg.error}`));

describe('relay: early data (Data before its Connect)', function () {
  describe('holding area (fake timers)', function () {
    let drops: Array<[string, number, EarlyDropReason]>;
    const make = (limits = {}): EarlyData =>
      new EarlyData(limits, { dropped: (id, count, reason) => drops.push([id, count, reason]) });

    beforeEach(function () {
      drops = [];
      mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    });
    afterEach(function () {
      mock.timers.reset();
    });

    it('holds Data per channel and hands it over in arrival order, once', function () {
      const early = make();
      for (const text of ['1', '2', '3']) expect(early.hold(data(A, text), Buffer.alloc(0))).to.equal(true);
      early.hold(data(B, 'x'), Buffer.alloc(0));
      expect(early.size).to.equal(2);
      expect(texts(early.take(A))).to.deep.equal(['1', '2', '3']);
      expect(early.take(A)).to.deep.equal([]);
      expect(early.size).to.equal(1);
      mock.timers.tick(60_000);
      // B timed out; A was taken before, so its timer was cleared and nothing is reported for it.
      expect(drops).to.deep.equal([[B, 1, 'timeout']]);
    });

    it('keeps a Disconnect behind held Data; a stray Disconnect is not early data', function () {
      const early = make();
      expect(early.hold({ type: 'disconnect', channelId: A, error: 'EOF' }, Buffer.alloc(0))).to.equal(false);
      early.hold(data(A, 'last bytes'), Buffer.alloc(0));
      expect(early.hold({ type: 'disconnect', channelId: A, error: 'EOF' }, Buffer.alloc(0))).to.equal(true);
      expect(texts(early.take(A))).to.deep.equal(['last bytes', 'disconnect:EOF']);
    });

    it('drops everything held after the TTL, counts it, and remembers the channel as lost for one more TTL', function () {
      const early = make({ ttlMs: 1000 });
      early.hold(data(A, '1'), Buffer.alloc(0));
      early.hold(data(A, '2'), Buffer.alloc(0));
      mock.timers.tick(999);
      expect(drops).to.deep.equal([]);
      mock.timers.tick(1);
      expect(drops).to.deep.equal([[A, 2, 'timeout']]);
      expect(early.size).to.equal(0);
      expect(early.isLost(A)).to.equal(true);
      expect(early.hold(data(A, '3'), Buffer.alloc(0))).to.equal(true);
      expect(drops.at(-1)).to.deep.equal([A, 1, 'earlier data dropped']);
      mock.timers.tick(1000);
      expect(early.isLost(A)).to.equal(false);
    });

    it('past the message bound: the whole channel is dropped, never a stream with a hole', function () {
      const early = make({ maxMessages: 3 });
      for (const text of ['1', '2', '3']) early.hold(data(A, text), Buffer.alloc(0));
      expect(drops).to.deep.equal([]);
      early.hold(data(A, '4'), Buffer.alloc(0));
      expect(drops).to.deep.equal([[A, 4, 'count limit']]);
      expect(early.take(A)).to.deep.equal([]);
      expect(early.isLost(A)).to.equal(true);
    });

    it('past the byte bound, and past the channel bound', function () {
      const early = make({ maxBytes: 10, maxChannels: 2 });
      early.hold(data(A, '123456'), Buffer.alloc(0));
      early.hold(data(A, '78901'), Buffer.alloc(0));
      expect(drops).to.deep.equal([[A, 2, 'byte limit']]);
      early.hold(data(B, 'b'), Buffer.alloc(0));
      early.hold(data(C, 'c'), Buffer.alloc(0));
      early.hold(data('0d000000-0000-4000-8000-000000000004', 'd'), Buffer.alloc(0));
      expect(drops.at(-1)).to.deep.equal(['0d000000-0000-4000-8000-000000000004', 1, 'channel limit']);
      expect(early.size).to.equal(2);
    });

    it('past the byte bound of the whole link, the channel that crosses it is dropped', function () {
      const early = make({ maxBytes: 100, maxTotalBytes: 10 });
      early.hold(data(A, '123456'), Buffer.alloc(0));
      early.hold(data(B, '7890'), Buffer.alloc(0));
      expect(drops).to.deep.equal([]);
      early.hold(data(C, 'x'), Buffer.alloc(0));
      expect(drops).to.deep.equal([[C, 1, 'link byte limit']]);
      expect(texts(early.take(A))).to.deep.equal(['123456']);
      // A's bytes are released: room again for C's successor.
      early.hold(data(B, '12345'), Buffer.alloc(0));
      expect(texts(early.take(B))).to.deep.equal(['7890', '12345']);
    });

    it('a recently closed channel gets nothing held: late Data after a Disconnect is not early', function () {
      const early = make();
      early.noteClosed(A);
      expect(early.hold(data(A, 'late'), Buffer.alloc(0))).to.equal(false);
      expect(early.size).to.equal(0);
    });

    it('clear() drops everything and stops every timer', function () {
      const early = make({ ttlMs: 1000 });
      early.hold(data(A, '1'), Buffer.alloc(0));
      early.hold(data(B, '2'), Buffer.alloc(0));
      early.clear();
      expect(drops).to.deep.equal([
        [A, 1, 'link closed'],
        [B, 1, 'link closed'],
      ]);
      mock.timers.tick(5000);
      expect(drops).to.have.length(2);
    });
  });

  describe('on a link', function () {
    let pair: LinkPair;
    /** Messages the test endpoint on the server link received, as texts. */
    let received: string[];
    /** Connect handling on the server end: 'attach' registers a recording endpoint, 'refuse' does nothing. */
    let onConnect: 'attach' | 'refuse';

    function recorder(link: Link, channelId: string): ChannelEndpoint {
      const endpoint: ChannelEndpoint = {
        onChannelMessage(msg: ChannelMessage) {
          received.push(msg.type === 'data' ? msg.data.toString() : `${msg.type}:${msg.type === 'disconnect' ? msg.error : ''}`);
          if (msg.type === 'disconnect') link.detach(channelId, endpoint);
        },
        onLinkClosed() {},
        lastActivity: () => Date.now(),
        onIdle() {},
      };
      return endpoint;
    }

    const connect = (channelId: string): ConnectMessage => ({ type: 'connect', protocol: 'tcp', channelId, address: '127.0.0.1', port: 9 });

    beforeEach(async function () {
      received = [];
      onConnect = 'attach';
      pair = await createLinkPair({ earlyData: {} });
      pair.server.on('message', (msg: Message) => {
        if (msg.type === 'connect' && onConnect === 'attach') pair.server.attach(msg.channelId, recorder(pair.server, msg.channelId));
      });
    });
    afterEach(async function () {
      await pair.close();
    });

    it('flushes held Data in order when the Connect arrives, then relays as usual', async function () {
      pair.client.sendRaw(encodeTcpData(A, Buffer.from('one')));
      pair.client.sendRaw(encodeTcpData(A, Buffer.from('two')));
      pair.client.send(connect(A));
      pair.client.sendRaw(encodeTcpData(A, Buffer.from('three')));
      pair.client.send({ type: 'disconnect', channelId: A, error: 'EOF' });
      await waitFor(() => received.length === 4);
      expect(received).to.deep.equal(['one', 'two', 'three', 'disconnect:EOF']);
      expect(pair.serverCounters.earlyDataFlushed).to.equal(2);
      expect(pair.serverCounters.earlyDataDropped).to.equal(0);
      expect(pair.serverCounters.unknownChannelMessages).to.equal(0);
    });

    it('drops and counts held Data when the Connect is refused', async function () {
      onConnect = 'refuse';
      pair.client.sendRaw(encodeTcpData(A, Buffer.from('one')));
      pair.client.sendRaw(encodeTcpData(A, Buffer.from('two')));
      pair.client.send(connect(A));
      await waitFor(() => pair.serverCounters.earlyDataDropped === 2);
      expect(received).to.deep.equal([]);
    });

    it('late Data for a channel closed on this link is ignored as before, not held', async function () {
      pair.client.send(connect(A));
      pair.client.send({ type: 'disconnect', channelId: A, error: 'gone' });
      pair.client.sendRaw(encodeTcpData(A, Buffer.from('late')));
      await waitFor(() => pair.serverCounters.unknownChannelMessages === 1);
      expect(received).to.deep.equal(['disconnect:gone']);
      expect(pair.serverCounters.earlyDataDropped).to.equal(0);
    });

    it('a Connect whose early Data was dropped is refused with a failed ConnectResponse', async function () {
      await pair.close();
      pair = await createLinkPair({ earlyData: { maxMessages: 1 } });
      pair.server.on('message', (msg: Message) => {
        if (msg.type === 'connect') pair.server.attach(msg.channelId, recorder(pair.server, msg.channelId));
      });
      const responses: string[] = [];
      pair.clientWs.on('message', (raw: Buffer) => responses.push(raw.toString('hex')));
      pair.client.sendRaw(encodeTcpData(B, Buffer.from('1')));
      pair.client.sendRaw(encodeTcpData(B, Buffer.from('2')));
      pair.client.send(connect(B));
      await waitFor(() => responses.length === 1);
      expect(responses[0]).to.equal(
        encodeMessage({ type: 'connectResponse', success: false, channelId: B, error: EARLY_DATA_LOST_ERROR }).toString('hex'),
      );
      expect(pair.serverCounters.earlyDataDropped).to.equal(2);
      expect(pair.server.channels.has(B)).to.equal(false);
      expect(received).to.deep.equal([]);
    });

    it('is off unless asked for: Data for an unknown channel is ignored at once', async function () {
      await pair.close();
      pair = await createLinkPair();
      pair.client.sendRaw(encodeTcpData(A, Buffer.from('x')));
      await waitFor(() => pair.serverCounters.unknownChannelMessages === 1);
      expect(pair.serverCounters.earlyDataDropped).to.equal(0);
    });
  });
});
