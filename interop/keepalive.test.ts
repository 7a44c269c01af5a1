// Long-lived reverse-mode channel against a Go server (../shared/spec/SESSION.md §6, MODES.md §3.6):
// a Go server probes a provider once per SOCKS request and then drops it about 60 s after the
// last probe's pong unless more pongs arrive. Our provider sends an unsolicited pong every 25 s,
// so a channel that idles for 70 s between two exchanges must survive. The same run with a Go
// provider is a control: its outcome is printed, not asserted.
import { expect } from 'chai';

import { LOCALHOST } from '../test/helpers/net.js';
import { makePayload, sendAndCollect } from '../test/helpers/payload.js';
import { socksConnect } from '../test/helpers/socks.js';
import { skipUnlessPeersAvailable } from './guard.js';
import { PROVIDER_READY, type Impl } from './peers.js';
import { setupReverse } from './scenarios.js';

/** Longer than the Go server's 60 s read deadline after the probe's pong. */
const IDLE_MS = 70_000;
const EXCHANGE_BYTES = 256 * 1024;

interface IdleOutcome {
  /** How many times the provider authenticated (1 = it never reconnected). */
  authentications: number;
}

/** Go server + `providerImpl` provider: exchange, idle IDLE_MS, exchange again on the same tunnel. */
async function exchangeAcrossIdle(providerImpl: Impl): Promise<IdleOutcome> {
  const fixture = await setupReverse('go', providerImpl);
  try {
    const socket = await socksConnect({ proxyPort: fixture.socksPort, host: LOCALHOST, port: fixture.echo.port });
    try {
      await sendAndCollect(socket, makePayload(EXCHANGE_BYTES, 71));
      // The idle period is the scenario itself, not a synchronisation wait.
      await new Promise<void>((resolve) => setTimeout(resolve, IDLE_MS));
      await sendAndCollect(socket, makePayload(EXCHANGE_BYTES, 72), { timeoutMs: 15_000 });
    } finally {
      socket.destroy();
    }
    const lines = fixture.provider?.proc.lines ?? [];
    return { authentications: lines.filter((line) => PROVIDER_READY.test(line.text)).length };
  } finally {
    await fixture.stop();
  }
}

describe('interop keepalive (slow)', function () {
  this.timeout(120_000);

  before(async function () {
    await skipUnlessPeersAvailable(this, ['go', 'ts']);
  });

  it('ts provider keeps a Go-server SOCKS channel alive across 70 s without traffic', async function () {
    // Both runs at once so the slow part is paid once; only ours is asserted.
    const [ours, control] = await Promise.allSettled([exchangeAcrossIdle('ts'), exchangeAcrossIdle('go')]);
    process.stderr.write(
      `interop keepalive control: Go provider ${control.status === 'fulfilled' ? 'kept the channel' : `lost the channel (${String(control.reason).split('\n')[0]})`}\n`,
    );
    if (ours.status === 'rejected') throw ours.reason;
    expect(ours.value.authentications).to.equal(1);
  });
});
