/** Forward clients (MODES.md §2): the server dials the targets of their Connect messages. */
import { handleConnect } from '../../relay/dialing-side.js';
import { admitChannel } from '../../relay/limits.js';
import { refuseConnectorManagement } from '../connector-management.js';
import type { Session } from '../sessions.js';
import { refuseWhileDraining, type RoleContext } from './context.js';

export function startForward(session: Session, ctx: RoleContext): void {
  const { link } = session;
  link.send({ type: 'authResponse', success: true, error: '' });
  ctx.logger.info({ link: link.id }, 'Forward client authenticated');
  const graceMs = ctx.transportGraceMs;
  if (graceMs > 0) link.announceGrace();
  const dialing = ctx.dialingOptions(session.token);
  if (graceMs > 0) {
    const registry = ctx.resumableFor(session.token);
    dialing.grace = { ms: graceMs, registry };
    dialing.resumeChannel = (l, m) => registry.resume(l, m.channelId);
  }
  link.on('message', (msg) => {
    if (msg.type === 'connect') {
      if (msg.resume) handleConnect(link, msg, dialing); // re-binds or refuses, never dials
      else if (ctx.isDraining()) refuseWhileDraining(link, msg.channelId);
      else if (admitChannel(link, msg, ctx.maxChannelsPerLink)) handleConnect(link, msg, dialing);
    }
    else if (msg.type === 'connector') refuseConnectorManagement(link, msg);
  });
}
