/** What the role handlers get from the server that authenticated the session. */
import type { Logger } from '../../log.js';
import type { DialingSideOptions } from '../../relay/dialing-side.js';
import type { Link } from '../../relay/link.js';
import type { ChannelObserver } from '../../relay/observer.js';
import type { ResumeChannel } from '../../relay/resume.js';
import type { ResolvedServerOptions } from '../options.js';
import type { ReverseListeners } from '../reverse-listeners.js';
import type { Sessions } from '../sessions.js';
import type { TokenStore } from '../token-store.js';

export interface RoleContext {
  readonly options: ResolvedServerOptions;
  readonly logger: Logger;
  readonly store: TokenStore;
  readonly sessions: Sessions;
  readonly listeners: ReverseListeners;
  readonly maxChannelsPerLink: number;
  /** Events (and audit lines) of agent-mode routes. */
  readonly agentObserver?: ChannelObserver;
  /** True once drain() has started: new channels are refused. */
  isDraining(): boolean;
  /** How the server dials targets for the forward clients of `token` (its rules included). */
  dialingOptions(token: string): DialingSideOptions;
  /** Re-binds a channel named by a Resume (NEWEST.md §3.4); false: refused as "channel expired". */
  readonly resumeChannel: ResumeChannel;
}

/** The answer to a Connect while the server drains. */
export function refuseWhileDraining(link: Link, channelId: string): void {
  link.send({ type: 'connectResponse', success: false, channelId, error: 'server is shutting down' });
}
