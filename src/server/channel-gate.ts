/**
 * [linksocks-ts] Admission of new channels by token policy: `disabled` and `max_channels`. Read
 * live at every new channel, so a PATCH applies at once; lowering `max_channels` below what is
 * open refuses new channels until enough have ended, it does not close open ones.
 *
 * What counts as a channel of a token:
 * - reverse token: SOCKS5 CONNECTs, HTTP CONNECTs, forwarded HTTP origins and UDP associations on
 *   its SOCKS port, from the request's admission until its client stream closes (counted here);
 * - forward and connector tokens: the channels (TCP and UDP, dials and routes in progress
 *   included) on the WebSockets of all clients of the token (counted by the links).
 * A connector token's channels count against its own limit, not its reverse token's.
 */
import type { Sessions } from './sessions.js';
import type { TokenStore } from './token-store.js';
import type { TokenRecord } from './tokens.js';

/**
 * Why a channel was refused: also the `reason` label of the refusal metric. `quota` is the
 * data-path meter's (through addCheck).
 */
export type ChannelRefusal = 'disabled' | 'max_channels' | 'quota';

/** An admission check added with ChannelGate.addCheck. */
export type ChannelCheck = (token: string) => ChannelRefusal | undefined;

/** Held while a reverse-port channel is open; release() is idempotent. */
export interface ChannelLease {
  release(): void;
}

/** The ConnectResponse error texts of policy refusals (forward and connector Connects). */
export const CHANNEL_REFUSAL_TEXT: Readonly<Record<ChannelRefusal, string>> = {
  disabled: 'token is disabled',
  max_channels: 'channel limit of the token reached',
  quota: 'quota of the token used up',
};

export class ChannelGate {
  /** Open reverse-port channels per token; entries at 0 are removed. */
  private readonly portChannels = new Map<string, number>();
  private readonly checks: ChannelCheck[] = [];

  constructor(
    private readonly store: TokenStore,
    private readonly sessions: Sessions,
    private readonly onRefused: (token: string, reason: ChannelRefusal) => void = () => undefined,
  ) {}

  /** Open channels of `token` now (see the file comment for what counts). */
  count(token: string): number {
    let n = this.portChannels.get(token) ?? 0;
    for (const session of this.sessions.list()) {
      if (session.token === token && session.role !== 'reverse') n += session.link.channels.size;
    }
    return n;
  }

  /** A Connect of a forward or connector client of `token`: the refusal, or undefined to go on. */
  checkConnect(token: string): ChannelRefusal | undefined {
    const refusal = this.refusalFor(token);
    if (refusal) this.onRefused(token, refusal);
    return refusal;
  }

  /** A request on a reverse token's SOCKS port: a lease to release when it ends, or the refusal. */
  openPortChannel(token: string): ChannelLease | ChannelRefusal {
    const refusal = this.refusalFor(token);
    if (refusal) {
      this.onRefused(token, refusal);
      return refusal;
    }
    this.portChannels.set(token, (this.portChannels.get(token) ?? 0) + 1);
    let held = true;
    return {
      release: () => {
        if (!held) return;
        held = false;
        const left = (this.portChannels.get(token) ?? 1) - 1;
        if (left <= 0) this.portChannels.delete(token);
        else this.portChannels.set(token, left);
      },
    };
  }

  /**
   * Adds an admission check, asked after `disabled` and `max_channels` for every new channel
   * (the data-path meter refuses with `quota` here).
   */
  addCheck(check: ChannelCheck): void {
    this.checks.push(check);
  }

  /** True when the token, or a token it depends on, is disabled. */
  isDisabled(token: string): boolean {
    return policyChain(this.store, token).some((record) => record.policy?.disabled === true);
  }

  private refusalFor(token: string): ChannelRefusal | undefined {
    if (this.isDisabled(token)) return 'disabled';
    const max = this.store.get(token)?.policy?.maxChannels;
    if (max !== undefined && this.count(token) >= max) return 'max_channels';
    for (const check of this.checks) {
      const refusal = check(token);
      if (refusal !== undefined) return refusal;
    }
    return undefined;
  }
}

/**
 * The token and the tokens it depends on, whose `disabled` applies to it too: a connector token's
 * reverse token, an autonomy internal token's parent (and both for a connector of an internal
 * token).
 */
export function policyChain(store: TokenStore, token: string): TokenRecord[] {
  const chain: TokenRecord[] = [];
  let record = store.get(token);
  while (record !== undefined && chain.length < 3) {
    chain.push(record);
    if (record.kind === 'connector') record = store.get(record.reverseToken);
    else if (record.kind === 'reverse' && record.internal === true) record = store.get(record.parentToken);
    else break;
  }
  return chain;
}
