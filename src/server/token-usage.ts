/**
 * [linksocks-ts] What each token moves, and the two limits that act on the data path: its rate
 * (`rateLimit`, bytes per second each way, shared by all its channels) and its quota (`quotaBytes`
 * per `quotaPeriodMs`). One account per token; channels get it as their TrafficMeter
 * (relay/meter.ts), so the relay counts and throttles without knowing tokens.
 *
 * A changed policy applies at once: the account's rate buckets are the ones open channels wait
 * on. A used-up quota closes the token's open channels (reset, like a broken channel) and makes
 * `admits()` false until the period resets (one timer for all tokens) or the quota is raised.
 *
 * Usage is kept across restarts through `save` (the state file): at most once per `saveIntervalMs`
 * while traffic flows, and on close().
 */
import type { Logger } from '../log.js';
import { tokenLabel } from '../metrics/metrics.js';
import type { TokenUsageEntry } from '../metrics/token-metrics.js';
import { QUOTA_EXCEEDED, type MeteredChannel, type TrafficMeter } from '../relay/meter.js';
import { RateLimiter } from '../relay/rate-limiter.js';
import type { QuotaExhaustedEvent } from './events.js';
import type { TokenPolicy } from './token-policy.js';

/** One token's usage as kept in the state file. */
export interface SavedUsage {
  /** Bytes from clients towards targets, and back, since the token was added. */
  bytesUp: number;
  bytesDown: number;
  /** Bytes (both ways) counted against the quota in the current period. */
  quotaUsed: number;
  /** When the current quota period began (ms since the epoch). */
  periodStart: number;
}

/** The byte fields of a token's `usage` in `/api/status`. */
export interface UsageStatus {
  bytes_up: number;
  bytes_down: number;
  /** Present when the token has a quota. */
  quota_used?: number;
  /** RFC 3339; present when the token has a quota period. */
  quota_resets_at?: string;
}

export interface TokenAccountsOptions {
  logger: Logger;
  /** Writes the usage out (TokenStore.saveUsage); errors are logged and retried later. */
  save?: () => void;
  /** Least time between two saves while traffic flows; default 60 s. */
  saveIntervalMs?: number;
  /** Wall clock for quota periods (ms since the epoch); default Date.now. */
  now?: () => number;
  /** Called once each time a token's quota becomes used up (not again until it is admitted again). */
  onExhausted?: (event: QuotaExhaustedEvent) => void;
}

export const DEFAULT_USAGE_SAVE_INTERVAL_MS = 60_000;
/** The period timer never sleeps longer than this (setTimeout's limit is ~24.8 days; clocks jump). */
const MAX_PERIOD_SLEEP_MS = 60 * 60 * 1000;

/** One token's account: counters, rate buckets, its open channels. */
class TokenAccount implements TrafficMeter {
  readonly upload = new RateLimiter();
  readonly download = new RateLimiter();
  readonly channels = new Set<MeteredChannel>();
  bytesUp = 0;
  bytesDown = 0;
  quotaUsed = 0;
  periodStart: number;
  /** Infinity without a quota: the check on every count is then one comparison that never fires. */
  quotaLimit = Infinity;
  periodMs: number | undefined;
  exhausted = false;
  /** Channels refused because the quota was used up. */
  refused = 0;

  constructor(
    private readonly owner: TokenAccounts,
    readonly token: string,
    now: number,
  ) {
    this.periodStart = now;
  }

  countUpload(bytes: number): void {
    this.bytesUp += bytes;
    this.use(bytes);
  }

  countDownload(bytes: number): void {
    this.bytesDown += bytes;
    this.use(bytes);
  }

  channelOpened(channel: MeteredChannel): void {
    this.channels.add(channel);
  }

  channelClosed(channel: MeteredChannel): void {
    this.channels.delete(channel);
  }

  private use(bytes: number): void {
    this.quotaUsed += bytes;
    if (this.quotaUsed >= this.quotaLimit) this.owner.exhaust(this);
    this.owner.touched();
  }

  /** Closes every open channel (quota used up, token gone). */
  closeChannels(reason: string): void {
    for (const channel of [...this.channels]) channel.close(reason);
  }
}

export class TokenAccounts {
  private readonly accounts = new Map<string, TokenAccount>();
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly saveIntervalMs: number;
  private saveTimer: NodeJS.Timeout | undefined;
  private periodTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: TokenAccountsOptions) {
    this.logger = options.logger;
    this.now = options.now ?? Date.now;
    this.saveIntervalMs = options.saveIntervalMs ?? DEFAULT_USAGE_SAVE_INTERVAL_MS;
  }

  /**
   * Creates the token's account or applies a changed policy to it: rates at once (open channels
   * included), a quota raised above the usage re-admits channels, one lowered under it closes them.
   */
  configure(token: string, policy: TokenPolicy | undefined): void {
    let account = this.accounts.get(token);
    if (account === undefined) {
      account = new TokenAccount(this, token, this.now());
      this.accounts.set(token, account);
    }
    // Only an account with a quota period (before or after) can move the period timer: the others
    // skip the scan of all accounts, so a bulk load (a cluster loading 10,000 tokens) stays linear.
    const hadPeriod = account.periodMs !== undefined;
    const rate = policy?.rateLimit ?? 0;
    if (account.upload.bytesPerSecond !== rate) {
      account.upload.setRate(rate);
      account.download.setRate(rate);
    }
    if (account.quotaLimit === Infinity && policy?.quotaBytes !== undefined) {
      // A new quota counts from now: traffic before it was not under it.
      account.quotaUsed = 0;
      account.periodStart = this.now();
    }
    account.quotaLimit = policy?.quotaBytes ?? Infinity;
    account.periodMs = policy?.quotaBytes !== undefined ? policy.quotaPeriodMs : undefined;
    if (account.exhausted && account.quotaUsed < account.quotaLimit) {
      account.exhausted = false;
      this.logger.info({ token: tokenLabel(token) }, 'Token quota raised: channels admitted again');
    }
    if (account.quotaUsed >= account.quotaLimit) this.exhaust(account);
    if (hadPeriod || account.periodMs !== undefined) this.armPeriodTimer();
  }

  /** The token is gone: its account with it (its channels are closed with its links). */
  forget(token: string): void {
    const account = this.accounts.get(token);
    if (account === undefined) return;
    this.accounts.delete(token);
    account.upload.close();
    account.download.close();
    this.armPeriodTimer();
  }

  /** The meter of a token's channels; undefined for a token without an account. */
  meterFor(token: string): TrafficMeter | undefined {
    return this.accounts.get(token);
  }

  /** False while the token's quota is used up (new channels are refused). */
  admits(token: string): boolean {
    const account = this.accounts.get(token);
    if (account === undefined) return true;
    if (account.exhausted) this.resetDuePeriods();
    if (account.exhausted) account.refused += 1;
    return !account.exhausted;
  }

  /** Byte fields of the token's `/api/status` usage. */
  status(token: string): UsageStatus | undefined {
    const account = this.accounts.get(token);
    if (account === undefined) return undefined;
    this.resetDuePeriods();
    return {
      bytes_up: account.bytesUp,
      bytes_down: account.bytesDown,
      ...(account.quotaLimit !== Infinity && { quota_used: account.quotaUsed }),
      ...(account.quotaLimit !== Infinity && account.periodMs !== undefined && {
        quota_resets_at: new Date(account.periodStart + account.periodMs).toISOString(),
      }),
    };
  }

  /** Open channels counted on the token's account. */
  channelsOf(token: string): number {
    return this.accounts.get(token)?.channels.size ?? 0;
  }

  /** Every account, for metrics (token, bytes each way, quota used, open channels). */
  *entries(): IterableIterator<TokenUsageEntry> {
    for (const account of this.accounts.values()) {
      const { token, bytesUp, bytesDown, quotaUsed, refused } = account;
      yield { token, bytesUp, bytesDown, quotaUsed, channels: account.channels.size, refused };
    }
  }

  /** What the state file keeps: accounts that moved any byte. */
  snapshot(): Record<string, SavedUsage> {
    const saved: Record<string, SavedUsage> = {};
    for (const account of this.accounts.values()) {
      if (account.bytesUp === 0 && account.bytesDown === 0 && account.quotaUsed === 0) continue;
      saved[account.token] = {
        bytesUp: account.bytesUp,
        bytesDown: account.bytesDown,
        quotaUsed: account.quotaUsed,
        periodStart: account.periodStart,
      };
    }
    return saved;
  }

  /** Usage read back from the state file (accounts of tokens no longer there are ignored). */
  restore(saved: Readonly<Record<string, SavedUsage>> | undefined): void {
    if (saved === undefined) return;
    for (const [token, usage] of Object.entries(saved)) {
      const account = this.accounts.get(token);
      if (account === undefined) continue;
      account.bytesUp = usage.bytesUp;
      account.bytesDown = usage.bytesDown;
      account.quotaUsed = usage.quotaUsed;
      account.periodStart = usage.periodStart;
    }
    this.resetDuePeriods();
    for (const account of this.accounts.values()) {
      if (account.quotaUsed >= account.quotaLimit) this.exhaust(account);
    }
    this.armPeriodTimer();
  }

  /** Stops the timers and saves what is not saved yet. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.periodTimer) clearTimeout(this.periodTimer);
    this.periodTimer = undefined;
    for (const account of this.accounts.values()) {
      account.upload.close();
      account.download.close();
    }
    if (this.saveTimer) {
      clearTimeout(this.saveTimer);
      this.saveTimer = undefined;
      this.save();
    }
  }

  /** Called by an account on every count: schedules a save (bounded rate). */
  touched(): void {
    if (this.saveTimer !== undefined || this.closed || this.options.save === undefined) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      this.save();
    }, this.saveIntervalMs);
    this.saveTimer.unref();
  }

  /** The account's quota is used up: close its channels, refuse new ones, say so once. */
  exhaust(account: TokenAccount): void {
    if (!account.exhausted) {
      account.exhausted = true;
      this.logger.warn(
        {
          token: tokenLabel(account.token),
          quotaBytes: account.quotaLimit,
          used: account.quotaUsed,
          channels: account.channels.size,
          ...(account.periodMs !== undefined && { resetsAt: new Date(account.periodStart + account.periodMs).toISOString() }),
        },
        'Token quota used up: its channels are closed and new ones refused',
      );
      this.options.onExhausted?.({
        token: account.token,
        quotaBytes: account.quotaLimit,
        ...(account.periodMs !== undefined && { resetsAt: new Date(account.periodStart + account.periodMs).toISOString() }),
      });
    }
    account.closeChannels(QUOTA_EXCEEDED);
  }

  private save(): void {
    try {
      this.options.save?.();
    } catch (err) {
      this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'cannot save token usage');
    }
  }

  /** Starts new periods for the accounts whose period is over. */
  private resetDuePeriods(): void {
    const now = this.now();
    for (const account of this.accounts.values()) {
      const period = account.periodMs;
      if (period === undefined || period <= 0 || now < account.periodStart + period) continue;
      account.periodStart += Math.floor((now - account.periodStart) / period) * period;
      account.quotaUsed = 0;
      if (account.exhausted) {
        account.exhausted = false;
        this.logger.info({ token: tokenLabel(account.token) }, 'Token quota period reset: channels admitted again');
      }
      this.touched();
    }
  }

  /** One timer for all tokens, set for the earliest period end. */
  private armPeriodTimer(): void {
    if (this.periodTimer) clearTimeout(this.periodTimer);
    this.periodTimer = undefined;
    if (this.closed) return;
    let next = Infinity;
    for (const account of this.accounts.values()) {
      if (account.periodMs === undefined || account.periodMs <= 0) continue;
      next = Math.min(next, account.periodStart + account.periodMs);
    }
    if (next === Infinity) return;
    const delay = Math.min(MAX_PERIOD_SLEEP_MS, Math.max(0, next - this.now()));
    this.periodTimer = setTimeout(() => {
      this.periodTimer = undefined;
      this.resetDuePeriods();
      this.armPeriodTimer();
    }, delay);
    this.periodTimer.unref();
  }
}
