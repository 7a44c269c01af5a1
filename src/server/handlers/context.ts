/** What the role handlers get from the server that authenticated the session. */
import type { ClusterDirectory } from '../../cluster/directory.js';
import type { Logger } from '../../log.js';
import type { DialingSideOptions } from '../../relay/dialing-side.js';
import type { ResumableChannels, SuspendedOwners } from '../../relay/grace.js';
import type { GraceRoutes } from '../../relay/route.js';
import type { Link } from '../../relay/link.js';
import type { ChannelObserver } from '../../relay/observer.js';
import type { ResumeChannel } from '../../relay/resume.js';
import type { ResolvedServerOptions } from '../options.js';
import type { ReverseListeners } from '../reverse-listeners.js';
import type { Sessions } from '../sessions.js';
import type { TokenStore } from '../token-store.js';
import { CHANNEL_REFUSAL_TEXT, type ChannelGate } from '../channel-gate.js';
import type { ConnectMessage } from '../../protocol/index.js';
import type { TokenAccounts } from '../token-usage.js';
import type { ConnectorTokenRecord, InternalTokenRecord } from '../tokens.js';

/** The cluster token store's writes that autonomy providers cause (cluster/redis-tokens.ts). */
export interface ClusterTokenWriter {
  addInternal(parentToken: string, internalToken: string): Promise<InternalTokenRecord>;
  addConnector(token: string | undefined, reverseToken: string): Promise<ConnectorTokenRecord>;
  remove(token: string): Promise<boolean>;
}

export interface RoleContext {
  readonly options: ResolvedServerOptions;
  readonly logger: Logger;
  readonly store: TokenStore;
  /** [linksocks-ts] Per-token usage, rate and quota (token-usage.ts). */
  readonly accounts: TokenAccounts;
  readonly sessions: Sessions;
  readonly listeners: ReverseListeners;
  readonly maxChannelsPerLink: number;
  /** [linksocks-ts] Token policy admission of new channels (disabled, max_channels). */
  readonly gate: ChannelGate;
  /** Events (and audit lines) of agent-mode routes. */
  readonly agentObserver?: ChannelObserver;
  /**
   * Cluster mode with Redis: the cluster's token store, through which autonomy providers' internal
   * and connector tokens are written (so they exist on every instance); undefined otherwise.
   */
  clusterTokens?(): ClusterTokenWriter | undefined;
  /** Cluster mode: the instances' presence and provider counts; undefined outside a cluster. */
  directory(): ClusterDirectory | undefined;
  /** True once drain() has started: new channels are refused. */
  isDraining(): boolean;
  /** How the server dials targets for the forward clients of `token` (its rules included). */
  dialingOptions(token: string): DialingSideOptions;
  /** Re-binds a channel named by a Resume (NEWEST.md §3.4); false: refused as "channel expired". */
  readonly resumeChannel: ResumeChannel;
  /** Transport grace (ms, 0 = off); announced to every client after its AuthResponse when on. */
  readonly transportGraceMs: number;
  /** The resumable channels of a token (a Resume from another token cannot take one over). */
  resumableFor(token: string): ResumableChannels;
  /** The reverse-port channels of a pool waiting for a provider to come back. */
  ownersFor(poolToken: string): SuspendedOwners;
  /** Agent-mode routes of a provider pool that may be resumed. */
  routesFor(poolToken: string): GraceRoutes;
  /** Which provider instance a provider link belongs to (channels resume only towards it). */
  readonly providerInstances: WeakMap<Link, string>;
}

/** The answer to a Connect while the server drains. */
export function refuseWhileDraining(link: Link, channelId: string): void {
  link.send({ type: 'connectResponse', success: false, channelId, error: 'server is shutting down' });
}

/**
 * [linksocks-ts] Token policy for a new Connect of a forward or connector client of `token`:
 * returns the refusal text after answering the Connect with it, or undefined to go on. Resumes
 * and duplicate Connects of an open channel open nothing new and are let through.
 */
export function refuseByPolicy(link: Link, msg: ConnectMessage, token: string, gate: ChannelGate): string | undefined {
  if (msg.resume || link.channels.has(msg.channelId)) return undefined;
  const refusal = gate.checkConnect(token);
  if (refusal === undefined) return undefined;
  const error = CHANNEL_REFUSAL_TEXT[refusal];
  link.logger.debug({ link: link.id, reason: refusal }, 'Connect refused by token policy');
  link.send({ type: 'connectResponse', success: false, channelId: msg.channelId, error });
  return error;
}
