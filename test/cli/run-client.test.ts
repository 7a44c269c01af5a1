import { expect } from 'chai';
import type { LinkSocksClientOptions } from '../../src/client/options.js';
import { parseClientFlags, type ClientCommand, type RawClientFlags } from '../../src/cli/parse-client.js';
import { runClient } from '../../src/cli/run-client.js';
import { FakeClient, Harness } from './fakes.js';

function start(command: ClientCommand, flags: RawClientFlags, client = new FakeClient()) {
  const h = new Harness();
  let options: LinkSocksClientOptions | undefined;
  const done = runClient(parseClientFlags(command, flags, {}), {
    ...h,
    createClient: (o) => {
      options = o;
      return client;
    },
  });
  return { h, client, done, options: () => options };
}

/** Resolves once the predicate holds, checking once per event-loop turn (no fixed delays). */
async function until(predicate: () => boolean): Promise<void> {
  while (!predicate()) await new Promise((resolve) => setImmediate(resolve));
}

describe('runClient', () => {
  it('passes the options and the logger to the client, stops on SIGINT with 0', async () => {
    const { h, client, done, options } = start('client', { token: 'T', reconnect: true });
    await until(() => client.calls.includes('start'));
    expect(options()).to.include({ token: 'T', reconnect: true, reverse: false });
    expect(options()?.logger).to.equal(h.logger);
    h.signal();
    expect(await done).to.equal(0);
    expect(client.calls).to.deep.equal(['start', 'close']);
    expect(h.messages().at(-1)).to.equal('INF Shutting down client...');
  });

  it('start failure (e.g. authentication): the error on stderr, status 1', async () => {
    const client = new FakeClient();
    client.failStart = new Error('authentication failed: invalid token');
    const { h, done } = start('client', {}, client);
    expect(await done).to.equal(1);
    // The library logs "Exit due to error"; the CLI adds Go's log.Fatal line on stderr only.
    expect(h.goMessages()).to.deep.equal([]);
    expect(h.stderr).to.match(/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d authentication failed: invalid token\n$/);
    expect(client.calls).to.deep.equal(['start', 'close']);
    expect(h.unsubscribed).to.equal(true);
  });

  it('provider with -c adds the connector token once connected', async () => {
    const { h, client, done } = start('provider', { token: 'P', connectorToken: 'C' });
    await until(() => client.calls.includes('addConnector:C'));
    expect(client.calls).to.deep.equal(['start', 'addConnector:C']);
    h.signal();
    expect(await done).to.equal(0);
  });

  it('connector add failure: FTL "Failed to add connector token", status 1', async () => {
    const client = new FakeClient();
    client.failConnector = new Error('not allowed');
    const { h, done } = start('provider', { connectorToken: 'C' }, client);
    expect(await done).to.equal(1);
    expect(h.goMessages()).to.deep.equal(['FTL Failed to add connector token error="not allowed"']);
  });

  it('a fatal client error after start (e.g. -R and the connection drops): status 1', async () => {
    const { h, client, done } = start('client', { reconnect: false });
    await until(() => client.calls.includes('start'));
    client.emit('error', new Error('connection lost'));
    expect(await done).to.equal(1);
    expect(h.stderr).to.include('connection lost');
    expect(client.calls.at(-1)).to.equal('close');
  });
});
