/**
 * Passive health of the providers of one pool: a provider whose dials fail `failuresToEject` times
 * in a row is taken out of rotation for a back-off (10 s, doubling per ejection up to 5 min), then
 * comes back by itself; a dial that succeeds resets both counts. Only failures that are the
 * provider's fault count: no ConnectResponse within the SOCKS side's deadline. A ConnectResponse
 * that carries the target's refusal is an answer, so the provider is healthy.
 *
 * The clock is injectable for tests; nothing here holds a timer (the back-off is checked when a
 * provider is picked).
 */
import type { Logger } from '../log.js';

export interface ProviderHealthOptions {
  failuresToEject?: number;
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  now?: () => number;
  logger?: Logger;
  /** Told when a provider leaves or re-enters the rotation (events, metrics). */
  onChange?: (linkId: number, ejected: boolean, backoffMs: number) => void;
}

export const DEFAULT_HEALTH = { failuresToEject: 3, baseBackoffMs: 10_000, maxBackoffMs: 300_000 } as const;

interface State {
  failures: number;
  ejections: number;
  ejectedAt: number;
  ejectedUntil: number;
  ejected: boolean;
}

export class ProviderHealth {
  private readonly states = new Map<number, State>();
  private readonly now: () => number;
  private readonly failuresToEject: number;
  private readonly baseBackoffMs: number;
  private readonly maxBackoffMs: number;

  constructor(private readonly options: ProviderHealthOptions = {}) {
    this.now = options.now ?? Date.now;
    this.failuresToEject = Math.max(1, options.failuresToEject ?? DEFAULT_HEALTH.failuresToEject);
    this.baseBackoffMs = options.baseBackoffMs ?? DEFAULT_HEALTH.baseBackoffMs;
    this.maxBackoffMs = options.maxBackoffMs ?? DEFAULT_HEALTH.maxBackoffMs;
  }

  /** The provider answered a Connect (either way). */
  succeeded(linkId: number): void {
    const state = this.states.get(linkId);
    if (state === undefined) return;
    if (state.ejected) this.restore(linkId, state);
    this.states.delete(linkId);
  }

  /** The provider did not answer a Connect in time. */
  failed(linkId: number): void {
    let state = this.states.get(linkId);
    if (state === undefined) {
      state = { failures: 0, ejections: 0, ejectedAt: 0, ejectedUntil: 0, ejected: false };
      this.states.set(linkId, state);
    }
    state.failures += 1;
    if (state.failures < this.failuresToEject) return;
    state.failures = 0;
    state.ejections += 1;
    const backoff = Math.min(this.baseBackoffMs * 2 ** Math.min(state.ejections - 1, 30), this.maxBackoffMs);
    state.ejected = true;
    state.ejectedAt = this.now();
    state.ejectedUntil = state.ejectedAt + backoff;
    this.options.logger?.warn({ link: linkId, backoffMs: backoff }, 'Provider taken out of rotation: its dials keep failing');
    this.options.onChange?.(linkId, true, backoff);
  }

  /** In rotation now? An ejected provider whose back-off has passed comes back (on probation). */
  isAvailable(linkId: number): boolean {
    const state = this.states.get(linkId);
    if (state === undefined || !state.ejected) return true;
    if (this.now() < state.ejectedUntil) return false;
    this.restore(linkId, state);
    return true;
  }

  /** Among ejected providers, the one ejected longest ago (used when every provider is ejected). */
  leastRecentlyEjected<T extends { id: number }>(links: readonly T[]): T | undefined {
    let best: T | undefined;
    let bestAt = Infinity;
    for (const link of links) {
      const at = this.states.get(link.id)?.ejectedAt ?? -Infinity;
      if (at < bestAt) {
        best = link;
        bestAt = at;
      }
    }
    return best;
  }

  isEjected(linkId: number): boolean {
    return this.states.get(linkId)?.ejected === true && this.now() < this.states.get(linkId)!.ejectedUntil;
  }

  forget(linkId: number): void {
    const state = this.states.get(linkId);
    if (state?.ejected) this.options.onChange?.(linkId, false, 0);
    this.states.delete(linkId);
  }

  private restore(linkId: number, state: State): void {
    // Keeps its ejection count: failing again soon doubles the next back-off.
    state.ejected = false;
    state.failures = 0;
    this.options.logger?.info({ link: linkId }, 'Provider back in rotation');
    this.options.onChange?.(linkId, false, 0);
  }
}
