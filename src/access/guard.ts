/**
 * Checking a destination before it is dialled. A domain is resolved here, every resolved address
 * is checked, and the caller dials the address that passed — never the name again, so a DNS
 * answer that changes between check and dial (rebinding) cannot reach a refused address.
 * An unresolvable domain is refused, as upstream does.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { formatIp, parseIp, type IpValue } from './ip.js';
import type { DestinationPolicy } from './policy.js';

/** One enforcement point and the text its refusal carries. */
export interface DestinationCheck {
  policy: DestinationPolicy;
  /** The refusal text, e.g. upstream's `destination H:P blocked by access control`. */
  refusal: (host: string, port: number) => string;
}

/** Resolves a name to its addresses (all families); rejects or returns [] when it does not resolve. */
export type HostLookup = (host: string) => Promise<string[]>;

export const systemLookup: HostLookup = async (host) => (await dnsLookup(host, { all: true, verbatim: true })).map((a) => a.address);

export type CheckResult =
  /** `host` is what to dial: the checked IP, or the name unchanged when nothing needed checking. */
  | { allowed: true; host: string }
  | { allowed: false; error: string };

/**
 * Runs the checks in order. When all are open the name is left alone (no lookup: behaviour
 * without rules is unchanged). Otherwise a name is resolved once and the first address that passes
 * every check is returned; a refusal carries the text of the first check no address passed.
 */
export async function checkDestination(
  host: string,
  port: number,
  checks: readonly DestinationCheck[],
  lookup: HostLookup = systemLookup,
): Promise<CheckResult> {
  const active = checks.filter((c) => !c.policy.isOpen);
  if (active.length === 0) return { allowed: true, host };
  let candidates: IpValue[];
  const literal = parseIp(host);
  if (literal) {
    candidates = [literal];
  } else {
    let resolved: string[] = [];
    try {
      resolved = host === '' ? [] : await lookup(host);
    } catch {
      resolved = [];
    }
    candidates = resolved.map((a) => parseIp(a)).filter((ip): ip is IpValue => ip !== undefined);
  }
  for (const check of active) {
    candidates = candidates.filter((ip) => check.policy.allows(ip, port));
    if (candidates.length === 0) return { allowed: false, error: check.refusal(host, port) };
  }
  // IPv6 literals stay bare: the dialers and the Connect message take them without brackets.
  return { allowed: true, host: literal && host === formatIp(literal) ? host : formatIp(candidates[0]!) };
}

/**
 * checkDestination bounded in time: a lookup that has not answered within `timeoutMs` refuses the
 * destination with Go's lookup-timeout text.
 */
export async function checkDestinationWithin(
  host: string,
  port: number,
  checks: readonly DestinationCheck[],
  timeoutMs: number,
  lookup?: HostLookup,
): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<CheckResult>((resolve) => {
    timer = setTimeout(() => resolve({ allowed: false, error: `dial tcp: lookup ${host}: i/o timeout` }), timeoutMs);
  });
  try {
    return await Promise.race([checkDestination(host, port, checks, lookup), expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** Upstream's ConnectResponse text for a destination refused by a token's rules. */
export const TOKEN_REFUSAL_TEXT = 'destination blocked by access control';

/** A token's rules: refused with upstream's token text. */
export function tokenCheck(policy: DestinationPolicy): DestinationCheck {
  return { policy, refusal: () => TOKEN_REFUSAL_TEXT };
}

/** Dial rules (server-wide, or a provider's own): `destination H:P blocked by access control`. */
export function dialCheck(policy: DestinationPolicy): DestinationCheck {
  return {
    policy,
    refusal: (host, port) => `destination ${host.includes(':') ? `[${host}]` : host}:${port} blocked by access control`,
  };
}

/** Entry rules (a local SOCKS/HTTP port): the SOCKS client gets reply 0x02, so the text is only logged. */
export function entryCheck(policy: DestinationPolicy): DestinationCheck {
  return { policy, refusal: () => 'blocked at the entry by access control' };
}
