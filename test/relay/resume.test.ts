// A Connect with the Resume byte (NEWEST.md §3.4) on the dialing side: it never dials; a channel
// the hook does not hold gets Disconnect "channel expired"; a channel already on the link is left
// alone (newer peers repeat Resumes); a hook that re-binds answers nothing.
import net from 'node:net';

import { expect } from 'chai';

import { encodeTcpData, type Message } from '../../src/protocol/index.js';
import { handleConnect, type DialingSideOptions } from '../../src/relay/dialing-side.js';
import { CHANNEL_EXPIRED_ERROR } from '../../src/relay/resume.js';
import type { ChannelEndpoint } from '../../src/relay/link.js';
import { createLinkPair, type LinkPair } from './link-pair.js';
import { waitForValue } from '../helpers/wait.js';

const CH = '5e5e5e5e-0000-4000-8000-000000000001';
const connect = { type: 'connect', protocol: 'tcp', channelId: CH, address: '127.0.0.1', port: 9, resume: true } as const;

describe('relay: Resume on the dialing side', function () {
  let pair: LinkPair;
  let dials: number;
  let fromServer: Message[];
  let options: DialingSideOptions;

  beforeEach(async function () {
    dials = 0;
    fromServer = [];
    pair = await createLinkPair({ earlyData: {} });
    options = {
      dialTcp: () => {
        dials += 1;
        return Promise.reject(new Error('must not dial'));
      },
      maxPayload: 1024,
    };
    pair.server.on('message', (msg: Message) => {
      if (msg.type === 'connect') handleConnect(pair.server, msg, options);
    });
    pair.client.on('message', (msg: Message) => fromServer.push(msg));
    // Channel messages for unknown channels never reach 'message'; watch the wire instead.
    pair.clientWs.on('message', () => undefined);
  });
  afterEach(async function () {
    await pair.close();
  });

  /** The client end's channel messages arrive through an endpoint registered for CH. */
  function watchChannel(): Message[] {
    const seen: Message[] = [];
    const endpoint: ChannelEndpoint = {
      onChannelMessage: (msg) => seen.push(msg),
      onLinkClosed() {},
      lastActivity: () => Date.now(),
      onIdle() {},
    };
    pair.client.attach(CH, endpoint);
    return seen;
  }

  it('an unknown channel gets Disconnect "channel expired" and no dial, TCP and UDP', async function () {
    const seen = watchChannel();
    pair.client.send(connect);
    pair.client.send({ type: 'connect', protocol: 'udp', channelId: CH, address: '', port: 0, resume: true });
    await waitForValue(() => seen.length, 2, 'Disconnects');
    expect(seen).to.deep.equal([
      { type: 'disconnect', channelId: CH, error: CHANNEL_EXPIRED_ERROR },
      { type: 'disconnect', channelId: CH, error: CHANNEL_EXPIRED_ERROR },
    ]);
    expect(dials).to.equal(0);
    expect(pair.serverCounters.resumesRefused).to.equal(2);
    expect(pair.server.channels.size).to.equal(0);
  });

  it('Data sent behind the refused Resume is dropped and counted, not relayed anywhere', async function () {
    watchChannel();
    pair.client.sendRaw(encodeTcpData(CH, Buffer.from('early')));
    pair.client.send(connect);
    await waitForValue(() => pair.serverCounters.earlyDataDropped, 1, 'early data dropped');
    expect(dials).to.equal(0);
  });

  it('a hook that holds the channel re-binds it without any answer', async function () {
    const seen = watchChannel();
    const rebound: string[] = [];
    options.resumeChannel = (link, msg) => {
      rebound.push(msg.channelId);
      return link === pair.server;
    };
    pair.client.send(connect);
    await waitForValue(() => rebound.length, 1, 'hook called');
    // A fresh Connect on another channel shows that everything before it has been handled.
    const target = net.createServer((s) => s.destroy());
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    options.dialTcp = (host, port) => new Promise((resolve, reject) => {
      const socket = net.connect({ host, port, allowHalfOpen: true }, () => resolve(socket));
      socket.once('error', reject);
    });
    const other = '5e5e5e5e-0000-4000-8000-000000000002';
    pair.client.send({ type: 'connect', protocol: 'tcp', channelId: other, address: '127.0.0.1', port: (target.address() as net.AddressInfo).port });
    await waitForValue(() => pair.server.channels.has(other) || pair.serverCounters.channelsOpened > 0, true, 'second channel');
    expect(seen).to.deep.equal([]);
    expect(pair.serverCounters.resumesRefused).to.equal(0);
    await new Promise<void>((resolve) => target.close(() => resolve()));
  });

  it('a Resume for a channel already on the link changes nothing and answers nothing', async function () {
    const seen = watchChannel();
    const held: ChannelEndpoint = { onChannelMessage() {}, onLinkClosed() {}, lastActivity: () => Date.now(), onIdle() {} };
    pair.server.attach(CH, held);
    pair.client.send(connect);
    pair.client.send({ type: 'disconnect', channelId: 'ffffffff-0000-4000-8000-000000000000', error: '' });
    await waitForValue(() => pair.serverCounters.unknownChannelMessages, 1, 'message after the Resume handled');
    expect(pair.server.channels.get(CH)).to.equal(held);
    expect(seen).to.deep.equal([]);
    expect(dials).to.equal(0);
    expect(fromServer).to.deep.equal([]);
  });
});
