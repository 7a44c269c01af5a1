// Interoperability with LinkSocks Go v1.7.15 (binary from LINKSOCKS_BIN) in every mode and for
// every pairing of implementations. go/go validates the harness itself; pairs involving our TS CLI
// are skipped (with the reason printed) until the CLI can start a server.
import { expect } from 'chai';

import { goBinary } from '../test/helpers/process.js';
import { probeTsCli, type Impl } from './peers.js';
import {
  checkAuthFailure,
  checkClosedPortRefused,
  checkCurl,
  checkUdpEcho,
  checkLargeEcho,
  checkParallelEcho,
  setupAgent,
  setupAutonomy,
  setupForward,
  setupReverse,
  type Fixture,
} from './scenarios.js';

const PAIRS: ReadonlyArray<readonly [server: Impl, client: Impl]> = [
  ['go', 'go'],
  ['go', 'ts'],
  ['ts', 'go'],
  ['ts', 'ts'],
];

const reported = new Set<string>();
/** Prints each skip reason once, so a skipped interop run is visibly skipped and why. */
function reportSkip(reason: string): void {
  if (reported.has(reason)) return;
  reported.add(reason);
  process.stderr.write(`interop: skipped: ${reason}\n`);
}

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
    it('relays 4 parallel tunnels without mixing them', async function () {
      await checkParallelEcho(get());
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

describe(`interop with LinkSocks Go (requires LINKSOCKS_BIN)`, function () {
  this.timeout(30_000);

  for (const [serverImpl, clientImpl] of PAIRS) {
    describe(`${serverImpl} server, ${clientImpl} clients`, function () {
      before(async function () {
        if (!goBinary()) {
          reportSkip('LINKSOCKS_BIN is not set (point it at the LinkSocks Go v1.7.15 binary, e.g. ../shared/linksocks-go/linksocks)');
          this.skip();
        }
        if (serverImpl === 'ts' || clientImpl === 'ts') {
          const reason = await probeTsCli();
          if (reason !== undefined) {
            reportSkip(reason);
            this.skip();
          }
        }
      });

      modeSuite('forward mode', () => setupForward(serverImpl, clientImpl), (get) => {
        it('rejects a client with a wrong token (non-zero exit, failure logged)', async function () {
          await checkAuthFailure(get().server, clientImpl);
        });
      });

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
