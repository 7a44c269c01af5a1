/**
 * What one enforcement point checks: a rule set (allow entries, access/rules.ts) plus an optional
 * deny list from a preset, and the text a refusal carries. Pure.
 */
import { parseIp, type IpValue } from './ip.js';
import { AccessRuleError, AccessRules, parseAddressEntry, type AccessRule, type AddrMatcher } from './rules.js';

/**
 * Presets of destinations to refuse whatever the rules allow.
 * - `local`: this host and its link: loopback, unspecified (0.0.0.0 and :: reach this host),
 *   link-local (169.254.0.0/16, fe80::/10) and cloud metadata endpoints (169.254.169.254,
 *   fd00:ec2::254 and 100.100.100.200).
 * - `private`: `local` plus the private networks around it: RFC 1918, carrier-grade NAT
 *   (100.64.0.0/10), unique-local IPv6 (fc00::/7) and IPv4 multicast/broadcast.
 */
export const TARGET_PRESETS = {
  local: ['127.0.0.0/8', '0.0.0.0/8', '169.254.0.0/16', '::1/128', '::/128', 'fe80::/10', 'fd00:ec2::254', '100.100.100.200'],
  private: [
    '127.0.0.0/8', '0.0.0.0/8', '169.254.0.0/16', '::1/128', '::/128', 'fe80::/10', 'fd00:ec2::254', '100.100.100.200',
    '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', 'fc00::/7', '224.0.0.0/4', '255.255.255.255',
  ],
} as const satisfies Record<string, readonly string[]>;

export type TargetPreset = keyof typeof TARGET_PRESETS;

export function isTargetPreset(name: string): name is TargetPreset {
  return Object.hasOwn(TARGET_PRESETS, name);
}

/** A set of addresses refused regardless of the allow rules. */
export class DenyList {
  private constructor(
    private readonly matchers: readonly AddrMatcher[],
    readonly presets: readonly TargetPreset[],
  ) {}

  static readonly none = new DenyList([], []);

  static fromPresets(presets: readonly string[]): DenyList {
    const names: TargetPreset[] = [];
    for (const name of presets) {
      if (!isTargetPreset(name)) {
        throw new AccessRuleError(`unknown target preset ${JSON.stringify(name)} (known: ${Object.keys(TARGET_PRESETS).join(', ')})`);
      }
      if (!names.includes(name)) names.push(name);
    }
    if (names.length === 0) return DenyList.none;
    const matchers = names.flatMap((name) => TARGET_PRESETS[name].map((entry) => parseAddressEntry(entry, `preset ${name}`)));
    return new DenyList(matchers, names);
  }

  get isEmpty(): boolean {
    return this.matchers.length === 0;
  }

  denies(ip: IpValue): boolean {
    return this.matchers.some((m) => ip.value >= m.lo && ip.value <= m.hi && (m.family === undefined || m.family === ip.family));
  }
}

/** One enforcement point: allowed when not denied and allowed by the rules. */
export class DestinationPolicy {
  constructor(
    readonly rules: AccessRules = AccessRules.none,
    readonly deny: DenyList = DenyList.none,
  ) {}

  /** Nothing to check: every destination passes, and no name needs resolving. */
  get isOpen(): boolean {
    return this.rules.isEmpty && this.deny.isEmpty;
  }

  allows(ip: IpValue, port: number): boolean {
    return !this.deny.denies(ip) && this.rules.allows(ip, port);
  }

  /** Text form convenience for tests and callers holding strings; non-IPs are refused. */
  allowsText(host: string, port: number): boolean {
    const ip = parseIp(host);
    return ip !== undefined && this.allows(ip, port);
  }
}

/**
 * Parses the command-line form of one allow entry, `ADDR:PORT`:
 * - ADDR: any address form of a rule (CIDR, IP, `a.b.c.d-N`, `IP1-IP2`), IPv6 in brackets when a
 *   port follows (`[fd00::/8]:443`), `*` or nothing for any address;
 * - PORT: `N`, `LO-HI`, a comma-separated list of those, or `*` for any port; `:PORT` may be left
 *   out (`10.0.0.0/8` alone allows every port, as does an unbracketed IPv6 form such as `fd00::/8`).
 */
export function parseAccessRuleSpec(spec: string): AccessRule {
  const text = spec.trim();
  const where = `access rule ${JSON.stringify(spec)}`;
  let addr: string;
  let ports: string | undefined;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) throw new AccessRuleError(`${where}: missing ']'`);
    addr = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) throw new AccessRuleError(`${where}: expected ':PORT' after ']'`);
    ports = rest === '' ? undefined : rest.slice(1);
  } else {
    const colons = text.split(':').length - 1;
    if (colons === 1) [addr, ports] = text.split(':') as [string, string];
    else addr = text; // no port, or an unbracketed IPv6 form
  }
  const rule: AccessRule = {};
  if (addr !== '' && addr !== '*') {
    parseAddressEntry(addr, where);
    rule.addrs = [addr];
  }
  if (ports !== undefined && ports !== '' && ports !== '*') {
    rule.ports = ports.split(',').map((part) => {
      const match = /^\s*([0-9]+)(?:\s*-\s*([0-9]+))?\s*$/.exec(part);
      if (!match) throw new AccessRuleError(`${where}: invalid port ${JSON.stringify(part)}`);
      const lo = Number(match[1]);
      const hi = match[2] === undefined ? lo : Number(match[2]);
      // parsePortSpec (through AccessRules.parse) checks the bounds and names the entry.
      return lo === hi ? lo : [lo, hi];
    });
    AccessRules.parse([rule], where);
  }
  return rule;
}
