// Access checks on the dialing side: the name is resolved once, the checked address is what the
// dialer (or an upstream proxy) gets, so a DNS answer that changes after the check (rebinding)
// cannot reach a refused address; a refusal never dials and answers upstream's text.
import { expect } from 'chai';
import type { Message } from '../../src/protocol/index.js';
import { dialCheck, tokenCheck, type HostLookup } from '../../src/access/guard.js';
import { AccessRules, DestinationPolicy } from '../../src/access/index.js';
import { handleConnect, type DialingSideOptions } from '../../src/relay/dialing-side.js';
import { createTcpDialer } from '../../src/relay/upstream.js';
import type { ChannelEndpoint } from '../../src/relay/link.js';
import { startDirectSocksServer, type DirectSocksServer } from '../helpers/direct-socks.js';
import { startEchoServer, type EchoServer } from '../helpers/net.js';
import { checkNoLeaksAfterSuite } from '../helpers/leaks.js';
import { waitForValue } from '../helpers/wait.js';
import { createLinkPair, type LinkPair } from './link-pair.js';

const CH = 'acce55ac-0000-4000-8000-000000000001';

describe('relay: access checks before dialling', function () {
  checkNoLeaksAfterSuite();
  let pair: LinkPair;
  let echo: EchoServer;
  let proxy: DirectSocksServer | undefined;
  let seen: Message[];
  let dialled: string[];

  beforeEach(async function () {
    pair = await createLinkPair();
    echo = await startEchoServer();
    seen = [];
    dialled = [];
    const endpoint: ChannelEndpoint = { onChannelMessage: (msg) => seen.push(msg), onLinkClosed() {}, lastActivity: () => Date.now(), onIdle() {} };
    pair.client.attach(CH, endpoint);
  });

  afterEach(async function () {
    await pair.close();
    await echo.close();
    await proxy?.close();
    proxy = undefined;
  });

  /** A resolver whose answer changes after the first lookup (rebinding). */
  function rebindingLookup(first: string[], later: string[]): HostLookup & { calls: number } {
    const fn = Object.assign(async (): Promise<string[]> => (fn.calls++ === 0 ? first : later), { calls: 0 });
    return fn;
  }

  function serve(options: Omit<DialingSideOptions, 'maxPayload'>): void {
    pair.server.on('message', (msg: Message) => {
      if (msg.type === 'connect') handleConnect(pair.server, msg, { maxPayload: 1 << 20, ...options });
    });
  }

  it('dials the checked address, never the name: a rebinding answer cannot slip past', async function () {
    const lookup = rebindingLookup(['127.0.0.1'], ['10.66.0.1']);
    const direct = createTcpDialer(undefined, 5000);
    serve({
      dialTcp: (host, port) => {
        dialled.push(host);
        return direct(host, port);
      },
      access: () => [dialCheck(new DestinationPolicy(AccessRules.parse([{ addrs: ['127.0.0.1'] }])))],
      lookup,
    });
    pair.client.send({ type: 'connect', protocol: 'tcp', channelId: CH, address: 'rebind.test', port: echo.port });
    await waitForValue(() => seen.length > 0, true, 'ConnectResponse');
    expect(seen[0]).to.deep.include({ type: 'connectResponse', success: true });
    expect(dialled).to.deep.equal(['127.0.0.1']);
    expect(lookup.calls).to.equal(1);
    pair.client.send({ type: 'disconnect', channelId: CH, error: '' });
  });

  it('with an upstream SOCKS5 proxy, the proxy is asked for the checked IP, not the name', async function () {
    proxy = await startDirectSocksServer();
    serve({
      dialTcp: createTcpDialer({ kind: 'socks5', host: '127.0.0.1', port: proxy.port }, 5000),
      access: () => [dialCheck(new DestinationPolicy(AccessRules.parse([{ addrs: ['127.0.0.0/8'] }])))],
      lookup: async () => ['127.0.0.1'],
    });
    pair.client.send({ type: 'connect', protocol: 'tcp', channelId: CH, address: 'named.test', port: echo.port });
    await waitForValue(() => seen.length > 0, true, 'ConnectResponse');
    expect(seen[0]).to.deep.include({ type: 'connectResponse', success: true });
    expect(proxy.targets).to.deep.equal([`127.0.0.1:${echo.port}`]);
    pair.client.send({ type: 'disconnect', channelId: CH, error: '' });
  });

  it('a refusal never dials: token text first, then the dial rules\' H:P text; UDP is refused where rules are active', async function () {
    serve({
      dialTcp: (host) => {
        dialled.push(host);
        return Promise.reject(new Error('must not dial'));
      },
      access: () => [
        tokenCheck(new DestinationPolicy(AccessRules.parse([{ ports: [80, 443] }]))),
        dialCheck(new DestinationPolicy(AccessRules.parse([{ ports: [443] }]))),
      ],
      lookup: async () => ['192.0.2.1'],
    });
    const [ch2, ch3] = [CH.replace(/1$/, '2'), CH.replace(/1$/, '3')];
    for (const id of [ch2, ch3]) {
      pair.client.attach(id, { onChannelMessage: (msg) => seen.push(msg), onLinkClosed() {}, lastActivity: () => Date.now(), onIdle() {} });
    }
    pair.client.send({ type: 'connect', protocol: 'tcp', channelId: CH, address: '192.0.2.1', port: 22 });
    pair.client.send({ type: 'connect', protocol: 'tcp', channelId: ch2, address: 'web.test', port: 80 });
    pair.client.send({ type: 'connect', protocol: 'udp', channelId: ch3, address: '', port: 0 });
    await waitForValue(() => seen.length, 3, 'three refusals');
    expect(seen).to.have.deep.members([
      { type: 'connectResponse', success: false, channelId: CH, error: 'destination blocked by access control' },
      { type: 'connectResponse', success: false, channelId: ch2, error: 'destination web.test:80 blocked by access control' },
      { type: 'connectResponse', success: false, channelId: ch3, error: 'destination blocked by access control' },
    ]);
    expect(dialled).to.deep.equal([]);
  });
});
