// Skipping interop suites whose peers cannot run here (no Go binary, TS CLI not ready yet), with
// each reason printed once so a skipped run is visibly skipped and why.
import { goBinary } from '../test/helpers/process.js';
import { probeTsCli, type Impl } from './peers.js';

const reported = new Set<string>();

function reportSkip(reason: string): void {
  if (reported.has(reason)) return;
  reported.add(reason);
  process.stderr.write(`interop: skipped: ${reason}\n`);
}

/** For a `before` hook: skips the suite unless the Go binary is set and, if needed, the TS CLI works. */
export async function skipUnlessPeersAvailable(ctx: Mocha.Context, impls: readonly Impl[]): Promise<void> {
  if (!goBinary()) {
    reportSkip('LINKSOCKS_BIN is not set (point it at the LinkSocks Go v1.7.15 binary, e.g. ../shared/linksocks-go/linksocks)');
    ctx.skip();
  }
  if (impls.includes('ts')) {
    const reason = await probeTsCli();
    if (reason !== undefined) {
      reportSkip(reason);
      ctx.skip();
    }
  }
}
