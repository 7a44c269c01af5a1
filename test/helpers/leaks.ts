// Best-effort detection of handles a test left open (sockets, servers, child processes).
// Based on process.getActiveResourcesInfo(), which lists resource *types* only, so the check is a
// count diff per type against a snapshot taken before the code under test ran.

/** Types that come and go with mocha itself or with the event loop's bookkeeping. */
const TOLERATED = new Set(['Timeout', 'Immediate', 'TTYWrap', 'FSReqCallback', 'PipeWrap', 'SignalWrap']);

export type ResourceSnapshot = Map<string, number>;

export function snapshotResources(): ResourceSnapshot {
  const counts: ResourceSnapshot = new Map();
  for (const type of process.getActiveResourcesInfo()) counts.set(type, (counts.get(type) ?? 0) + 1);
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
 * Throws if handles of non-tolerated types are still open compared with `before`. Closing a socket
 * releases its handle only on a later tick, so the check polls briefly (a failure guard, not a sleep
 * used for ordering) before giving up.
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
 * one that every socket, server, process and UDP handle it opened is gone.
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
