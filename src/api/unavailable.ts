/**
 * [linksocks-ts] Cluster mode: the token store (Redis) cannot be written now; the API answers 503
 * with the error's message. Told apart by its stable code, so the API imports nothing of the cluster.
 */
import { LinkSocksError } from '../errors.js';

export function isClusterUnavailable(err: unknown): err is LinkSocksError {
  return err instanceof LinkSocksError && err.code === 'ERR_CLUSTER_UNAVAILABLE';
}
