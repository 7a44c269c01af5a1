/**
 * Connectors (agent mode, MODES.md §4): their Connect messages are routed to a provider of the
 * reverse token their connector token maps to.
 */
import { admitChannel } from '../../relay/limits.js';
import { answerResume } from '../../relay/resume.js';
import { routeConnect } from '../../relay/route.js';
import type { Session } from '../sessions.js';
import { refuseByPolicy, refuseWhileDraining, type RoleContext } from './context.js';
import { checkDestinationWithin, tokenCheck } from '../../access/guard.js';
import { DestinationPolicy } from '../../access/index.js';
import type { ConnectMessage } from '../../protocol/index.js';
import { joinHostPort } from '../../relay/dial.js';

export function startConnector(session: Session, ctx: RoleContext): void {
  const { link, token } = session;
  const { sessions } = ctx;
  const reverseTokenOf = (): string => {
    const record = ctx.store.get(token);
    return record?.kind === 'connector' ? record.reverseToken : '';
  };
  const reverseToken = reverseTokenOf();
  const pool = sessions.poolFor(reverseToken);
  for (const provider of pool.list()) {
    provider.send({ type: 'partners', count: sessions.connectorCount(reverseToken) });
  }
  link.send({ type: 'authResponse', success: true, error: '' });
  link.send({ type: 'partners', count: sessions.providerCount() });
  ctx.logger.info({ link: link.id }, 'Connector client authenticated');
  const graceMs = ctx.transportGraceMs;
  if (graceMs > 0) link.announceGrace();
  const waitMs = ctx.options.connectorWaitProviderMs;
  link.on('message', (msg) => {
    if (msg.type !== 'connect') return; // Go ignores everything else from connectors, Connector included
    if (msg.resume) {
      answerResume(link, msg, (l, m) => ctx.routesFor(reverseTokenOf()).resume(l, m)); // re-binds or refuses, never routes to a provider
      return;
    }
    if (ctx.isDraining()) {
      refuseWhileDraining(link, msg.channelId);
      return;
    }
    const refused = refuseByPolicy(link, msg, token, ctx.gate);
    if (refused !== undefined) {
      ctx.agentObserver?.connected?.({
        channelId: msg.channelId,
        target: joinHostPort(msg.address, msg.port),
        linkId: link.id,
        durationMs: 0,
        ok: false,
        error: refused,
        refused: true,
      });
      return;
    }
    if (!admitChannel(link, msg, ctx.maxChannelsPerLink)) return;
    const rules = ctx.store.get(token)?.rules;
    const poolToken = reverseTokenOf();
    routeConnect(link, msg, {
      pickProvider: () => sessions.poolFor(poolToken).waitForProvider(waitMs),
      ...(rules && { admit: () => admitByRules(msg, new DestinationPolicy(rules), ctx.options.connectTimeoutMs) }),
      grace: graceMs > 0 ? { ms: graceMs, routes: ctx.routesFor(poolToken) } : undefined,
      observer: ctx.agentObserver,
      meter: ctx.accounts.meterFor(token),
    });
  });
}

/**
 * A connector token's rules, checked on the server before a provider is asked (upstream). A TCP
 * domain target is resolved here and the provider is sent the checked address, so it cannot
 * resolve the name to something else. UDP Connects carry no target; their datagrams are not
 * checked here (upstream refuses them outright for a token with rules, as an empty host never
 * resolves; so does this).
 */
async function admitByRules(msg: ConnectMessage, policy: DestinationPolicy, timeoutMs: number): Promise<{ allowed: true; connect?: ConnectMessage } | { allowed: false; error: string }> {
  const result = await checkDestinationWithin(msg.address, msg.port, [tokenCheck(policy)], timeoutMs);
  if (!result.allowed) return result;
  if (result.host === msg.address) return { allowed: true };
  return { allowed: true, connect: { ...msg, address: result.host } };
}
