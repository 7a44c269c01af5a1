import type { Link } from './link.js';
import type { GraceRegistry, TcpChannel } from './tcp-channel.js';

/** Upstream's default transport grace (NEWEST.md §3.4). */
export const DEFAULT_TRANSPORT_GRACE_MS = 30_000;

/**
 * The resume owner's side (the side of the SOCKS sockets): channels whose link was lost wait here
 * until a link whose peer announced transport grace is available, then re-open on it.
 */
export class SuspendedOwners implements GraceRegistry {
  private readonly waiting = new Set<TcpChannel>();

  /** `pickLink`: a live link whose peer announced grace, if any (another thread, a reconnect). */
  constructor(private readonly pickLink: () => Link | undefined) {}

  get size(): number {
    return this.waiting.size;
  }

  suspended(channel: TcpChannel): void {
    const link = this.pickLink();
    if (link) channel.resumeOn(link);
    else this.waiting.add(channel);
  }

  ended(channel: TcpChannel): void {
    this.waiting.delete(channel);
  }

  /** Shutting down: every waiting channel ends now. */
  dropAll(): void {
    for (const channel of [...this.waiting]) channel.close('transport link not restored');
  }

  /** A link whose peer announced grace is up: every waiting channel re-opens on it. */
  linkReady(link: Link): void {
    for (const channel of [...this.waiting]) {
      this.waiting.delete(channel);
      channel.resumeOn(link);
    }
  }
}

/**
 * The dialing side: every resumable channel by id, so a Connect with Resume re-binds it to the
 * link it arrived on (never a new dial). One registry per scope (a token): a Resume from another
 * token cannot take a channel over.
 */
export class ResumableChannels implements GraceRegistry {
  private readonly byId = new Map<string, TcpChannel>();

  get size(): number {
    return this.byId.size;
  }

  opened(channel: TcpChannel): void {
    this.byId.set(channel.channelId, channel);
  }

  suspended(): void {
    // Waits for the owner's Resume.
  }

  ended(channel: TcpChannel): void {
    if (this.byId.get(channel.channelId) === channel) this.byId.delete(channel.channelId);
  }

  /** Shutting down (or the scope's token is gone): every channel still waiting ends now. */
  dropSuspended(): void {
    for (const channel of [...this.byId.values()]) if (channel.isSuspended) channel.close('transport link not restored');
  }

  /** Re-binds the channel to `link`; false when it is unknown or expired (answer "channel expired"). */
  resume(link: Link, channelId: string): boolean {
    return this.byId.get(channelId)?.rebind(link) ?? false;
  }
}
