// Interoperability with LinkSocks Go v1.7.15 (binary from LINKSOCKS_BIN) in every mode and for
// every pairing of implementations. go/go validates the harness itself; pairs involving our TS CLI
// are skipped (with the reason printed) until the CLI can start a server.
import { expect } from 'chai';

import { skipUnlessPeersAvailable } from './guard.js';
import { PAIRS } from './pairs.js';
import {
  checkAuthFailure,
  checkAuthPathOnWire,
  checkClosedPortRefused,
  checkCurl,
  checkHashedTransfer,
  checkUdpEcho,
  checkLargeEcho,
  checkManyChannels,
  checkParallelEcho,
  clientUrlFor,
  setupAgent,
  setupAutonomy,
  setupForward,
  setupReverse,
  type AuthPath,
  type Fixture,
} from './scenarios.js';


/** Declares the tests of one mode around a fixture shared by the describe block. */
function modeSuite(title: string, setup: () => Promise<Fixture>, extra?: (get: () => Fixture) => void): void {
  describe(title, function () {
    let fixture: Fixture | undefined;
    const get = (): Fixture => {
      if (!fixture) throw new Error(`${title}: setup did not complete`);
      return fixture;
    };
    before(async function () {
      fixture = await setup();
    });
    after(async function () {
      await fixture?.stop();
      fixture = undefined;
    });

    it('relays 1 MiB to an echo server intact (sha256)', async function () {
      await checkLargeEcho(get());
    });
    it('relays 16 MiB both ways at once in one tunnel (sha256)', async function () {
      this.timeout(60_000);
      await checkHashedTransfer(get());
    });
    it('relays 4 parallel tunnels without mixing them', async function () {
      await checkParallelEcho(get());
    });
    it('relays 50 concurrent tunnels, each with its own payload (sha256)', async function () {
      await checkManyChannels(get());
    });
    it('answers CONNECT to a closed port with a SOCKS5 failure', async function () {
      await checkClosedPortRefused(get());
    });
    it('serves an HTTP request from curl', async function () {
      await checkCurl(get());
    });
    it('relays a UDP datagram through UDP ASSOCIATE', async function () {
      await checkUdpEcho(get());
    });
    extra?.(get);
  });
}

const AUTH_TITLES: Record<AuthPath, string> = {
  query: 'URL-query auth (-u ws://host:port → /socket)',
  message: 'Auth-message auth (-u ws://host:port/socket/)',
};

describe(`interop with LinkSocks Go (requires LINKSOCKS_BIN)`, function () {
  this.timeout(30_000);

  for (const [serverImpl, clientImpl] of PAIRS) {
    describe(`${serverImpl} server, ${clientImpl} clients`, function () {
      before(async function () {
        await skipUnlessPeersAvailable(this, [serverImpl, clientImpl]);
      });

      for (const auth of ['query', 'message'] as const) {
        modeSuite(`forward mode, ${AUTH_TITLES[auth]}`, () => setupForward(serverImpl, clientImpl, auth), (get) => {
          it(`authenticates by ${auth === 'query' ? 'URL query' : 'Auth message'} on the wire`, function () {
            checkAuthPathOnWire(get(), auth);
          });
          it('rejects a client with a wrong token (non-zero exit, failure logged)', async function () {
            await checkAuthFailure(get().server, clientImpl, clientUrlFor(get().server.url, auth));
          });
        });
      }

      modeSuite('reverse mode', () => setupReverse(serverImpl, clientImpl));

      modeSuite('agent mode', () => setupAgent(serverImpl, clientImpl));

      modeSuite('autonomy mode', () => setupAutonomy(serverImpl, clientImpl), (get) => {
        it('gives the autonomy token no server-side SOCKS5 port', function () {
          expect(get().server.socksPort).to.equal(undefined);
          expect(get().server.proc.findLine(/SOCKS5 port: -1/)).to.not.equal(undefined);
        });
      });
    });
  }
});
