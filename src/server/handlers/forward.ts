/** Forward clients (MODES.md §2): the server dials the targets of their Connect messages. */
import type { ConnectMessage, Message } from '../../protocol/index.js';
import { handleConnect } from '../../relay/dialing-side.js';
import { admitChannel, TOO_MANY_CHANNELS_ERROR } from '../../relay/limits.js';
import { joinHostPort } from '../../relay/dial.js';
import type { DialingSideOptions } from '../../relay/dialing-side.js';
import type { Link } from '../../relay/link.js';
import { refuseConnectorManagement } from '../connector-management.js';
import type { Session } from '../sessions.js';
import { refuseByPolicy, refuseWhileDraining, type RoleContext } from './context.js';

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
      else if (ctx.isDraining()) {
        refuseWhileDraining(link, msg.channelId);
        reportRefusal(dialing, link, msg, 'server is shutting down');
      } else {
        const refused = refuseByPolicy(link, msg, session.token, ctx.gate);
        if (refused !== undefined) reportRefusal(dialing, link, msg, refused);
        else if (admitChannel(link, msg, ctx.maxChannelsPerLink)) handleConnect(link, msg, dialing);
        else if (!link.channels.has(msg.channelId)) reportRefusal(dialing, link, msg, TOO_MANY_CHANNELS_ERROR);
      }
    }
    else if (msg.type === 'connector') refuseConnectorManagement(link, msg);
  });
}

/** A Connect the server turned down itself (never dialed): told to the observer for events and audit. */
function reportRefusal(dialing: DialingSideOptions, link: Link, msg: ConnectMessage, error: string): void {
  dialing.observer?.connected?.({
    channelId: msg.channelId,
    target: joinHostPort(msg.address, msg.port),
    linkId: link.id,
    durationMs: 0,
    ok: false,
    error,
    refused: true,
  });
}
