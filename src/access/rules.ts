/**
 * Destination rules (LinkSocks access control): a rule set is a list of allow entries, each with
 * `addrs` (empty: any address) and `ports` (empty: any port). A destination is allowed when one
 * entry matches both its address and its port; an empty rule set allows everything.
 *
 * Address forms: CIDR (v4 or v6), a bare IP, an IPv4 last-octet range `a.b.c.d-N` (to a.b.c.N),
 * and a full range `IP1-IP2` compared as 16-byte values. Port specs: a number 1–65535 or
 * `[start, end]`. Pure: names are resolved by the caller (guard.ts), never here.
 */
import { parseIp, parseIpv4, prefixRange, V4_MAPPED_BASE, type IpFamily, type IpValue } from './ip.js';

import { LinkSocksError } from '../errors.js';

export type AccessRuleErrorCode = 'ERR_LINKSOCKS_ACCESS_RULE';

/** A rule that cannot be parsed; the message names the offending entry. */
export class AccessRuleError extends LinkSocksError {
  override readonly name = 'AccessRuleError';
  declare readonly code: AccessRuleErrorCode;

  constructor(message: string) {
    super('ERR_LINKSOCKS_ACCESS_RULE', message);
  }
}

/** A port spec as JSON carries it: one port, or an inclusive `[start, end]`. */
export type PortSpec = number | [number, number];

/** One allow entry, as written by users (JSON keys `addrs`/`ports`, any letter case). */
export interface AccessRule {
  addrs?: string[];
  ports?: PortSpec[];
}

/** One entry as Go writes it: capitalised keys, `null` for an empty side. */
export interface AccessRuleJson {
  Addrs: string[] | null;
  Ports: PortSpec[] | null;
}

export interface AddrMatcher {
  lo: bigint;
  hi: bigint;
  /** CIDRs only match their own family, as Go's IPNet.Contains does. */
  family?: IpFamily;
}

/** A rule as callers write it: `addrs`/`ports` (any letter case), or Go's `Addrs`/`Ports` output form. */
export type AccessRuleInput = AccessRule | AccessRuleJson;

interface CompiledRule {
  addrs: AddrMatcher[];
  ports: Array<[number, number]>;
  source: AccessRuleJson;
}

/** Parses one address entry; throws AccessRuleError naming it. */
export function parseAddressEntry(text: string, where = 'address'): AddrMatcher {
  const bad = (why: string): AccessRuleError => new AccessRuleError(`${where}: invalid address ${JSON.stringify(text)} (${why})`);
  const trimmed = text.trim();
  if (trimmed === '') throw bad('empty');
  const slash = trimmed.indexOf('/');
  if (slash >= 0) {
    const ip = parseIp(trimmed.slice(0, slash));
    const bitsText = trimmed.slice(slash + 1);
    if (!ip || trimmed.slice(0, slash).startsWith('[')) throw bad('not a CIDR');
    const max = ip.family === 4 && !trimmed.slice(0, slash).includes(':') ? 32 : 128;
    if (!/^(?:0|[1-9][0-9]{0,2})$/.test(bitsText) || Number(bitsText) > max) throw bad(`prefix length must be 0-${max}`);
    const bits = Number(bitsText) + (max === 32 ? 96 : 0);
    const { lo, hi } = prefixRange(ip.value, bits);
    return { lo, hi, family: max === 32 ? 4 : 6 };
  }
  const dash = trimmed.indexOf('-');
  if (dash >= 0) {
    const left = trimmed.slice(0, dash);
    const right = trimmed.slice(dash + 1);
    const start = parseIp(left);
    if (!start) throw bad('range start is not an IP');
    if (/^[0-9]{1,3}$/.test(right)) {
      const v4 = parseIpv4(left);
      if (v4 === undefined) throw bad('a last-octet range needs an IPv4 start');
      const end = Number(right);
      if (end > 255 || (right.length > 1 && right.startsWith('0'))) throw bad('last octet must be 0-255');
      const endValue = V4_MAPPED_BASE | BigInt((v4 & 0xffffff00) >>> 0) | BigInt(end);
      if (endValue < start.value) throw bad('range end before start');
      return { lo: start.value, hi: endValue };
    }
    const end = parseIp(right);
    if (!end) throw bad('range end is not an IP');
    if (end.value < start.value) throw bad('range end before start');
    return { lo: start.value, hi: end.value };
  }
  const ip = parseIp(trimmed);
  if (!ip) throw bad('not an IP, CIDR or range');
  return { lo: ip.value, hi: ip.value };
}

function portNumber(value: unknown, where: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) {
    throw new AccessRuleError(`${where}: invalid port ${JSON.stringify(value)} (must be 1-65535)`);
  }
  return value;
}

/** Parses one port spec as JSON gives it; throws AccessRuleError naming it. */
export function parsePortSpec(value: unknown, where = 'port'): [number, number] {
  if (typeof value === 'number') {
    const port = portNumber(value, where);
    return [port, port];
  }
  if (Array.isArray(value) && value.length === 2) {
    const start = portNumber(value[0], where);
    const end = portNumber(value[1], where);
    if (start > end) throw new AccessRuleError(`${where}: invalid port range ${JSON.stringify(value)} (start after end)`);
    return [start, end];
  }
  throw new AccessRuleError(`${where}: invalid port spec ${JSON.stringify(value)} (a number or [start, end])`);
}

/** Key lookup as Go's decoder does it for a struct without tags: case-insensitive, last one wins. */
function field(obj: Record<string, unknown>, name: string): unknown {
  let found: unknown;
  for (const [key, value] of Object.entries(obj)) if (key.toLowerCase() === name) found = value;
  return found;
}

/**
 * A parsed, immutable rule set. `parse` takes JSON as users send it (an array of entries with
 * `addrs`/`ports` in any letter case, or null); `toJSON` gives Go's output form.
 */
export class AccessRules {
  private constructor(private readonly rules: readonly CompiledRule[]) {}

  static readonly none = new AccessRules([]);

  /** `where` prefixes error messages, e.g. `rules` → `rules[1].addrs[0]: invalid address "x" (…)`. */
  static parse(value: unknown, where = 'rules'): AccessRules {
    if (value === null || value === undefined) return AccessRules.none;
    if (!Array.isArray(value)) throw new AccessRuleError(`${where}: must be a list of rules`);
    const compiled = value.map((entry: unknown, i) => compileRule(entry, `${where}[${i}]`));
    return compiled.length === 0 ? AccessRules.none : new AccessRules(compiled);
  }

  get isEmpty(): boolean {
    return this.rules.length === 0;
  }

  get size(): number {
    return this.rules.length;
  }

  /** True when one entry matches both the address and the port. An empty set allows everything. */
  allows(ip: IpValue, port: number): boolean {
    if (this.rules.length === 0) return true;
    return this.rules.some((rule) => matchesAddr(rule.addrs, ip) && matchesPort(rule.ports, port));
  }

  /** Go's output form (GET /api/config/access): `[{"Addrs":…,"Ports":…}]`, null for an empty side. */
  toJSON(): AccessRuleJson[] {
    return this.rules.map((rule) => ({
      Addrs: rule.source.Addrs === null ? null : [...rule.source.Addrs],
      Ports: rule.source.Ports === null ? null : rule.source.Ports.map((p) => (typeof p === 'number' ? p : [p[0], p[1]])),
    }));
  }
}

function compileRule(entry: unknown, where: string): CompiledRule {
  if (entry === null) return { addrs: [], ports: [], source: { Addrs: null, Ports: null } };
  if (typeof entry !== 'object' || Array.isArray(entry)) throw new AccessRuleError(`${where}: must be an object with addrs and ports`);
  const rawAddrs = field(entry as Record<string, unknown>, 'addrs');
  const rawPorts = field(entry as Record<string, unknown>, 'ports');
  const addrs: AddrMatcher[] = [];
  const addrTexts: string[] = [];
  if (rawAddrs !== null && rawAddrs !== undefined) {
    if (!Array.isArray(rawAddrs)) throw new AccessRuleError(`${where}.addrs: must be a list of strings`);
    rawAddrs.forEach((addr: unknown, i) => {
      if (typeof addr !== 'string') throw new AccessRuleError(`${where}.addrs[${i}]: invalid address ${JSON.stringify(addr)} (not a string)`);
      addrs.push(parseAddressEntry(addr, `${where}.addrs[${i}]`));
      addrTexts.push(addr.trim());
    });
  }
  const ports: Array<[number, number]> = [];
  if (rawPorts !== null && rawPorts !== undefined) {
    if (!Array.isArray(rawPorts)) throw new AccessRuleError(`${where}.ports: must be a list of ports`);
    rawPorts.forEach((spec: unknown, i) => ports.push(parsePortSpec(spec, `${where}.ports[${i}]`)));
  }
  return {
    addrs,
    ports,
    source: {
      Addrs: addrTexts.length === 0 ? null : addrTexts,
      Ports: ports.length === 0 ? null : ports.map(([a, b]) => (a === b ? a : [a, b])),
    },
  };
}

function matchesAddr(addrs: readonly AddrMatcher[], ip: IpValue): boolean {
  if (addrs.length === 0) return true;
  return addrs.some((m) => ip.value >= m.lo && ip.value <= m.hi && (m.family === undefined || m.family === ip.family));
}

function matchesPort(ports: ReadonlyArray<[number, number]>, port: number): boolean {
  if (ports.length === 0) return true;
  return ports.some(([lo, hi]) => port >= lo && port <= hi);
}
