/**
 * How instances prove to each other that they hold the cluster secret, without sending it: the
 * opening request of an instance link carries an HMAC-SHA256 (keyed with the secret) over the
 * sender's and receiver's node ids, a timestamp, a random nonce and the hash of the pool token the
 * link serves. The receiver recomputes it and compares in constant time, refuses timestamps
 * outside a window, and remembers the nonces it accepted for as long as their timestamp is valid,
 * so a captured request cannot be replayed (to it or, since the receiver's id is signed, to
 * another instance).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/** The path of instance links on every instance's HTTP port. */
export const CLUSTER_PATH = '/cluster';

/** Requests whose timestamp is further than this from the receiver's clock are refused. */
export const PEER_AUTH_WINDOW_MS = 30_000;
/** Nonces remembered at most; beyond, new links are refused until old nonces expire. */
const MAX_NONCES = 50_000;

const HEADERS = {
  from: 'x-linksocks-cluster-from',
  to: 'x-linksocks-cluster-to',
  time: 'x-linksocks-cluster-time',
  nonce: 'x-linksocks-cluster-nonce',
  token: 'x-linksocks-cluster-token',
  mac: 'x-linksocks-cluster-auth',
} as const;

const NODE_ID = /^[A-Za-z0-9._-]{1,64}$/;
const HEX64 = /^[0-9a-f]{64}$/;
const NONCE = /^[0-9a-f]{32}$/;

export type PeerVerdict =
  | { ok: true; from: string; tokenHash: string }
  | { ok: false; reason: string };

export class PeerAuth {
  /** Accepted nonces and when they may be forgotten (insertion order is expiry order, within the window). */
  private readonly nonces = new Map<string, number>();

  constructor(
    private readonly secret: string,
    private readonly nodeId: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** The headers that open a link from this node to node `to` for the pool token `tokenHash`. */
  headers(to: string, tokenHash: string): Record<string, string> {
    const time = String(this.now());
    const nonce = randomBytes(16).toString('hex');
    return {
      [HEADERS.from]: this.nodeId,
      [HEADERS.to]: to,
      [HEADERS.time]: time,
      [HEADERS.nonce]: nonce,
      [HEADERS.token]: tokenHash,
      [HEADERS.mac]: this.mac(this.nodeId, to, time, nonce, tokenHash).toString('hex'),
    };
  }

  /** Checks an opening request; the reasons are for logs and never contain the secret. */
  verify(headers: IncomingHttpHeaders): PeerVerdict {
    const from = single(headers[HEADERS.from]);
    const to = single(headers[HEADERS.to]);
    const time = single(headers[HEADERS.time]);
    const nonce = single(headers[HEADERS.nonce]);
    const tokenHash = single(headers[HEADERS.token]);
    const mac = single(headers[HEADERS.mac]);
    if (from === undefined || to === undefined || time === undefined || nonce === undefined || tokenHash === undefined || mac === undefined) {
      return { ok: false, reason: 'cluster authentication missing' };
    }
    if (!NODE_ID.test(from) || !NODE_ID.test(to) || !/^\d{1,15}$/.test(time) || !NONCE.test(nonce) || !HEX64.test(tokenHash) || !HEX64.test(mac)) {
      return { ok: false, reason: 'cluster authentication malformed' };
    }
    const expected = this.mac(from, to, time, nonce, tokenHash);
    if (!timingSafeEqual(expected, Buffer.from(mac, 'hex'))) return { ok: false, reason: 'cluster authentication failed' };
    if (to !== this.nodeId) return { ok: false, reason: 'cluster link meant for another node' };
    const now = this.now();
    if (Math.abs(now - Number(time)) > PEER_AUTH_WINDOW_MS) return { ok: false, reason: 'cluster authentication expired (clock skew?)' };
    this.forgetExpired(now);
    if (this.nonces.has(nonce)) return { ok: false, reason: 'cluster authentication replayed' };
    if (this.nonces.size >= MAX_NONCES) return { ok: false, reason: 'too many cluster links opened recently' };
    this.nonces.set(nonce, now + 2 * PEER_AUTH_WINDOW_MS);
    return { ok: true, from, tokenHash };
  }

  private mac(from: string, to: string, time: string, nonce: string, tokenHash: string): Buffer {
    return createHmac('sha256', this.secret).update(`linksocks-cluster-v1\n${from}\n${to}\n${time}\n${nonce}\n${tokenHash}`).digest();
  }

  private forgetExpired(now: number): void {
    for (const [nonce, until] of this.nonces) {
      if (until > now) return;
      this.nonces.delete(nonce);
    }
  }
}

function single(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
