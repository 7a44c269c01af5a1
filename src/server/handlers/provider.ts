/**
 * Providers (reverse clients, MODES.md §3): they join the pool of their token, which carries the
 * token's SOCKS5 port or its connectors' channels. An autonomy token's providers each get a
 * private pool and manage its connector tokens themselves (connector-management.ts).
 */
import { internalTokenFor, manageConnector, manageConnectorInCluster } from '../connector-management.js';
import type { Session } from '../sessions.js';
import type { RoleContext } from './context.js';

export async function startProvider(session: Session, instance: string, ctx: RoleContext): Promise<void> {
  const { link, token } = session;
  const record = ctx.store.get(token);
  const reverse = record?.kind === 'reverse' ? record : undefined;
  const cluster = ctx.clusterTokens?.();
  let poolToken = token;
  if (reverse?.allowManageConnector) {
    if (cluster === undefined) {
      poolToken = internalTokenFor(ctx.store, token, instance);
    } else {
      // Cluster: the private pool exists on every instance, so its connectors work anywhere.
      try {
        poolToken = await internalTokenFor(ctx.store, token, instance, cluster);
      } catch (err) {
        ctx.logger.warn({ link: link.id, err: (err as Error).message }, 'autonomy provider refused: its pool cannot be registered in the cluster');
        link.send({ type: 'authResponse', success: false, error: 'cluster store unavailable, try again later' });
        link.close(1011);
        return;
      }
      if (link.isClosed) return;
    }
  }
  session.poolToken = poolToken;
  const pool = ctx.sessions.poolFor(poolToken);
  if (reverse !== undefined && reverse.port > 0 && !reverse.allowManageConnector) {
    await ctx.listeners.open(reverse);
  }
  if (link.isClosed) return;
  pool.add(link);
  // Go tells every connector about the new provider before answering the provider itself.
  ctx.sessions.broadcastPartners();
  link.send({ type: 'authResponse', success: true, error: '' });
  ctx.logger.info({ link: link.id }, 'Reverse client authenticated');
  ctx.providerInstances.set(link, instance);
  if (ctx.transportGraceMs > 0) {
    link.announceGrace();
    // Channels of the reverse port that lost this provider instance's link re-open on the new one.
    const resumeHere = (): void => {
      if (link.isClosed) return;
      ctx.ownersFor(poolToken).linkReady(link);
      ctx.routesFor(poolToken).providerReady(link);
    };
    if (link.peerResumes) resumeHere();
    else link.once('peer-resumes', resumeHere);
  }
  link.on('message', (msg) => {
    if (msg.type === 'connect') {
      // Go dials for providers too (a quirk); a provider has no business asking the server to dial.
      link.send({ type: 'connectResponse', success: false, channelId: msg.channelId, error: 'connect is not allowed for providers' });
    } else if (msg.type === 'connector') {
      if (cluster === undefined) manageConnector(link, poolToken, msg, ctx);
      else void manageConnectorInCluster(link, poolToken, msg, { ...ctx, cluster });
    }
  });
}
