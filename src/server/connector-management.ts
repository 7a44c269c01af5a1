/**
 * Autonomy mode (MODES.md §5): each provider of an autonomy token gets a private pool under an
 * internal token, and adds or removes the connector tokens of that pool itself with Connector
 * messages. Everyone else asking gets the same refusal Go sends.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../log.js';
import type { ConnectorMessage } from '../protocol/index.js';
import type { Link } from '../relay/link.js';
import type { TokenStore } from './token-store.js';
import type { ClusterTokenWriter } from './handlers/context.js';
import { isInternal } from './token-store.js';

export const UNAUTHORIZED_CONNECTOR_MANAGEMENT = 'Unauthorized connector management attempt';
const NIL_UUID = '00000000-0000-0000-0000-000000000000';

/**
 * The private pool of an autonomy provider. Keyed on the client's instance id (what Go meant to
 * do, MODES.md §5.4), so a reconnecting provider and all its threads land on the same one.
 */
export function internalTokenFor(store: TokenStore, token: string, instance: string): string;
/** Cluster mode: the pool is written to the cluster's store (and so exists on every instance). */
export function internalTokenFor(store: TokenStore, token: string, instance: string, cluster: ClusterTokenWriter): Promise<string>;
export function internalTokenFor(store: TokenStore, token: string, instance: string, cluster?: ClusterTokenWriter): string | Promise<string> {
  const id = instance && instance !== NIL_UUID ? instance : randomUUID();
  const internal = `${token}/${id}`;
  if (cluster !== undefined) return store.get(internal) ? Promise.resolve(internal) : cluster.addInternal(token, internal).then(() => internal);
  if (!store.get(internal)) store.addInternal(token, internal);
  return internal;
}

/** Answers a provider's Connector message for the pool it serves (`poolToken`). */
export function manageConnector(
  link: Link,
  poolToken: string,
  msg: ConnectorMessage,
  { store, logger }: { store: TokenStore; logger: Logger },
): void {
  const reply = (success: boolean, error: string, connectorToken = ''): void =>
    replyConnector(link, msg, success, error, connectorToken);
  const pool = store.get(poolToken);
  if (pool === undefined || !isInternal(pool)) {
    reply(false, UNAUTHORIZED_CONNECTOR_MANAGEMENT);
    return;
  }
  try {
    if (msg.operation === 'add') {
      const existing = msg.connectorToken ? store.get(msg.connectorToken) : undefined;
      if (existing?.kind === 'connector' && existing.reverseToken === poolToken) {
        reply(true, '', existing.token); // idempotent re-add (HEAD's replay after a reconnect)
        return;
      }
      const added = store.addConnector(msg.connectorToken || undefined, poolToken);
      logger.info('New connector token added');
      reply(true, '', added.token);
    } else {
      const existing = store.get(msg.connectorToken);
      if (existing?.kind !== 'connector' || existing.reverseToken !== poolToken) {
        reply(false, UNAUTHORIZED_CONNECTOR_MANAGEMENT);
        return;
      }
      store.remove(msg.connectorToken);
      reply(true, '');
    }
  } catch (err) {
    reply(false, err instanceof Error ? err.message : String(err));
  }
}

/** The same in cluster mode: changes go through the cluster's store; never rejects. */
export async function manageConnectorInCluster(
  link: Link,
  poolToken: string,
  msg: ConnectorMessage,
  { store, logger, cluster }: { store: TokenStore; logger: Logger; cluster: ClusterTokenWriter },
): Promise<void> {
  const reply = (success: boolean, error: string, connectorToken = ''): void => {
    if (!link.isClosed) replyConnector(link, msg, success, error, connectorToken);
  };
  const pool = store.get(poolToken);
  if (pool === undefined || !isInternal(pool)) {
    reply(false, UNAUTHORIZED_CONNECTOR_MANAGEMENT);
    return;
  }
  try {
    if (msg.operation === 'add') {
      const added = await cluster.addConnector(msg.connectorToken || undefined, poolToken);
      logger.info('New connector token added');
      reply(true, '', added.token);
    } else {
      const existing = store.get(msg.connectorToken);
      if (existing?.kind !== 'connector' || existing.reverseToken !== poolToken) {
        reply(false, UNAUTHORIZED_CONNECTOR_MANAGEMENT);
        return;
      }
      await cluster.remove(msg.connectorToken);
      reply(true, '');
    }
  } catch (err) {
    reply(false, err instanceof Error ? err.message : String(err));
  }
}

/** Connector messages from anyone but an autonomy provider (forward clients). */
export function refuseConnectorManagement(link: Link, msg: ConnectorMessage): void {
  replyConnector(link, msg, false, UNAUTHORIZED_CONNECTOR_MANAGEMENT);
}

function replyConnector(link: Link, msg: ConnectorMessage, success: boolean, error: string, connectorToken = ''): void {
  link.send({ type: 'connectorResponse', success, channelId: msg.channelId, error, connectorToken });
}
