import type { Link } from './link.js';
import type { GraceRegistry } from './tcp-channel.js';

/** A channel of the resume owner (a TCP channel or a UDP association on the SOCKS side). */
export interface OwnedChannel {
  /** The link the channel is (or was last) bound to. */
  readonly currentLink: Link;
  /** Re-opens the channel on `link` with a Connect carrying Resume. */
  resumeOn(link: Link): void;
  /** Ends it now: Disconnect with `reason` where a link can carry it, reset of the local side. */
  close(reason: string): void;
}

/** A channel of the dialing side (a TCP channel or a UDP channel's socket). */
export interface DialedChannel {
  readonly channelId: string;
  readonly isSuspended: boolean;
  /** Re-binds the channel to the link a Resume arrived on; false when it cannot be resumed. */
  rebind(link: Link): boolean;
  close(reason: string): void;
}

/** Upstream's default transport grace (NEWEST.md §3.4). */
export const DEFAULT_TRANSPORT_GRACE_MS = 30_000;

/**
 * The resume owner's side (the side of the SOCKS sockets): channels whose link was lost wait here
 * until a link whose peer announced transport grace is available, then re-open on it.
 */
export class SuspendedOwners implements GraceRegistry {
  /** Waiting channels and the key of the peer that holds their other end. */
  private readonly waiting = new Map<OwnedChannel, string>();

  /**
   * `pickLink(key)`: a live link to the peer `key` whose peer announced grace, if any (another
   * thread, a reconnect). `keyOf(link)`: which peer a link leads to; a channel only resumes
   * towards the peer that holds its other end (a provider instance; one server for a client).
   */
  constructor(
    private readonly pickLink: (key: string) => Link | undefined,
    private readonly keyOf: (link: Link) => string = () => '',
  ) {}

  get size(): number {
    return this.waiting.size;
  }

  suspended(channel: OwnedChannel): void {
    const key = this.keyOf(channel.currentLink);
    const link = this.pickLink(key);
    if (link) channel.resumeOn(link);
    else this.waiting.set(channel, key);
  }

  ended(channel: OwnedChannel): void {
    this.waiting.delete(channel);
  }

  /** Shutting down: every waiting channel ends now. */
  dropAll(): void {
    for (const channel of [...this.waiting.keys()]) channel.close('transport link not restored');
  }

  /** A link whose peer announced grace is up: the channels waiting for that peer re-open on it. */
  linkReady(link: Link): void {
    const key = this.keyOf(link);
    for (const [channel, wanted] of [...this.waiting]) {
      if (wanted !== key) continue;
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
  private readonly byId = new Map<string, DialedChannel>();

  get size(): number {
    return this.byId.size;
  }

  opened(channel: DialedChannel): void {
    this.byId.set(channel.channelId, channel);
  }

  suspended(): void {
    // Waits for the owner's Resume.
  }

  ended(channel: DialedChannel): void {
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
