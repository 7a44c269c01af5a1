// Best-effort detection of handles a test left open (sockets, servers, child processes) and of
// timers and intervals it left running. Based on process.getActiveResourcesInfo(), which lists
// resource *types* only (one 'Timeout' per ref'd timer or interval; unref'd ones, which cannot
// keep the process alive, are not listed), so the check is a count diff per type against a
// snapshot taken before the code under test ran.

import Mocha from 'mocha';

/** Types that come and go with mocha itself or with the event loop's bookkeeping. */
const TOLERATED = new Set(['Immediate', 'TTYWrap', 'FSReqCallback', 'PipeWrap', 'SignalWrap']);

/**
 * The timeout timers mocha runs for the test or hook in progress. Mocha arms one only once a
 * promise-returning test or hook has returned its promise, so a snapshot taken synchronously at
 * the start of a test would not see it and the check at its end would: they are left out of the
 * 'Timeout' count on both sides.
 */
const mochaTimers = new Set<unknown>();
const runnable = Mocha.Runnable.prototype as Mocha.Runnable & { timer?: unknown };
const mochaResetTimeout = runnable.resetTimeout;
const mochaClearTimeout = runnable.clearTimeout;
runnable.resetTimeout = function (this: Mocha.Runnable & { timer?: unknown }) {
  mochaResetTimeout.call(this);
  mochaTimers.add(this.timer);
};
runnable.clearTimeout = function (this: Mocha.Runnable & { timer?: unknown }) {
  mochaTimers.delete(this.timer);
  mochaClearTimeout.call(this);
};

export type ResourceSnapshot = Map<string, number>;

export function snapshotResources(): ResourceSnapshot {
  const counts: ResourceSnapshot = new Map();
  for (const type of process.getActiveResourcesInfo()) counts.set(type, (counts.get(type) ?? 0) + 1);
  const timeouts = (counts.get('Timeout') ?? 0) - mochaTimers.size;
  if (timeouts > 0) counts.set('Timeout', timeouts);
  else counts.delete('Timeout');
  return counts;
}

/** Resource types (and how many more) present now but not in `before`, ignoring tolerated types. */
export function leakedResources(before: ResourceSnapshot, extraTolerated: readonly string[] = []): Map<string, number> {
  const tolerated = new Set([...TOLERATED, ...extraTolerated]);
  const leaked = new Map<string, number>();
  for (const [type, count] of snapshotResources()) {
    if (tolerated.has(type)) continue;
    const extra = count - (before.get(type) ?? 0);
    if (extra > 0) leaked.set(type, extra);
  }
  return leaked;
}

/**
 * Throws if handles of non-tolerated types (timers included) are still open compared with
 * `before`. Closing a socket releases its handle only on a later tick, and some timers legitimately
 * end shortly after a test (a socket's linger guard, a close handshake's deadline), so the check
 * polls for up to `graceMs` (a failure guard, not a sleep used for ordering) before giving up.
 */
export async function assertNoLeakedHandles(
  before: ResourceSnapshot,
  options: { graceMs?: number; tolerate?: readonly string[] } = {},
): Promise<void> {
  const deadline = Date.now() + (options.graceMs ?? 1000);
  let leaked = leakedResources(before, options.tolerate);
  while (leaked.size > 0 && Date.now() < deadline) {
    await new Promise<void>((resolve) => setTimeout(resolve, 10));
    leaked = leakedResources(before, options.tolerate);
  }
  if (leaked.size > 0) {
    const list = [...leaked].map(([type, n]) => `${type} x${n}`).join(', ');
    throw new Error(`leaked handles: ${list}`);
  }
}

/**
 * Registers, in the current describe, a snapshot before its first test and a check after its last
 * one that every socket, server, process, UDP handle and ref'd timer it opened is gone.
 */
export function checkNoLeaksAfterSuite(options: { graceMs?: number; tolerate?: readonly string[] } = {}): void {
  let before: ResourceSnapshot = new Map();
  globalThis.before(() => {
    before = snapshotResources();
  });
  globalThis.after(async () => {
    await assertNoLeakedHandles(before, { graceMs: options.graceMs ?? 3000, tolerate: options.tolerate });
  });
}
