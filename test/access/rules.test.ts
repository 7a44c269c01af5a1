import { expect } from 'chai';
import { formatIp, parseIp } from '../../src/access/ip.js';
import { AccessRuleError, AccessRules, parseAddressEntry, parsePortSpec } from '../../src/access/rules.js';
import { DenyList, DestinationPolicy, parseAccessRuleSpec, TARGET_PRESETS } from '../../src/access/policy.js';

function allows(rules: unknown, host: string, port: number): boolean {
  return new DestinationPolicy(AccessRules.parse(rules)).allowsText(host, port);
}

function parseError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(AccessRuleError);
    expect((err as AccessRuleError).code).to.equal('ERR_LINKSOCKS_ACCESS_RULE');
    return (err as Error).message;
  }
  expect.fail('expected an AccessRuleError');
}

describe('access: IP literals', () => {
  it('parses IPv4 strictly (no leading zeros, four octets, 0-255)', () => {
    expect(parseIp('10.1.2.3')?.family).to.equal(4);
    for (const bad of ['10.1.2', '10.1.2.3.4', '010.1.2.3', '256.1.1.1', '1.2.3.-1', '', 'a.b.c.d', '1.2.3.4 ']) {
      expect(parseIp(bad), bad).to.equal(undefined);
    }
  });

  it('parses IPv6 with ::, an embedded dotted quad and brackets; refuses zones and junk', () => {
    expect(formatIp(parseIp('::1')!)).to.equal('::1');
    expect(formatIp(parseIp('[2001:db8::1]')!)).to.equal('2001:db8::1');
    expect(formatIp(parseIp('2001:0db8:0000:0000:0000:0000:0000:0001')!)).to.equal('2001:db8::1');
    expect(formatIp(parseIp('::')!)).to.equal('::');
    expect(formatIp(parseIp('1:2:3:4:5:6:7:8')!)).to.equal('1:2:3:4:5:6:7:8');
    expect(formatIp(parseIp('64:ff9b::192.0.2.33')!)).to.equal('64:ff9b::c000:221');
    for (const bad of ['fe80::1%eth0', '1::2::3', '1:2:3:4:5:6:7:8:9', '12345::', 'g::1', ':::', '1:2:3:4:5:6:7', '::1.2.3']) {
      expect(parseIp(bad), bad).to.equal(undefined);
    }
  });

  it('treats IPv4-mapped IPv6 as the IPv4 address (no bypass by spelling)', () => {
    const mapped = parseIp('::ffff:127.0.0.1')!;
    expect(mapped.family).to.equal(4);
    expect(mapped.value).to.equal(parseIp('127.0.0.1')!.value);
    expect(formatIp(mapped)).to.equal('127.0.0.1');
    expect(allows([{ addrs: ['127.0.0.0/8'] }], '::ffff:7f00:1', 80)).to.equal(true);
    const deny = new DestinationPolicy(AccessRules.none, DenyList.fromPresets(['local']));
    expect(deny.allowsText('::ffff:127.0.0.1', 80)).to.equal(false);
    expect(deny.allowsText('::ffff:169.254.169.254', 80)).to.equal(false);
  });
});

describe('access: address entries', () => {
  it('CIDR v4 and v6, including /0 and host prefixes', () => {
    expect(allows([{ addrs: ['10.0.0.0/8'] }], '10.255.1.1', 1)).to.equal(true);
    expect(allows([{ addrs: ['10.0.0.0/8'] }], '11.0.0.0', 1)).to.equal(false);
    expect(allows([{ addrs: ['10.1.2.3/32'] }], '10.1.2.3', 1)).to.equal(true);
    expect(allows([{ addrs: ['10.1.2.3/32'] }], '10.1.2.4', 1)).to.equal(false);
    expect(allows([{ addrs: ['10.1.2.99/24'] }], '10.1.2.1', 1)).to.equal(true);
    expect(allows([{ addrs: ['0.0.0.0/0'] }], '203.0.113.9', 1)).to.equal(true);
    expect(allows([{ addrs: ['fd00::/8'] }], 'fd12::1', 1)).to.equal(true);
    expect(allows([{ addrs: ['fd00::/8'] }], 'fe80::1', 1)).to.equal(false);
    expect(allows([{ addrs: ['::/0'] }], '2001:db8::1', 1)).to.equal(true);
  });

  it('a CIDR matches only its own family, as Go\'s IPNet.Contains', () => {
    expect(allows([{ addrs: ['::/0'] }], '10.0.0.1', 1)).to.equal(false);
    expect(allows([{ addrs: ['0.0.0.0/0'] }], '::1', 1)).to.equal(false);
  });

  it('bare IPs, v4 and v6', () => {
    expect(allows([{ addrs: ['192.0.2.7'] }], '192.0.2.7', 1)).to.equal(true);
    expect(allows([{ addrs: ['192.0.2.7'] }], '192.0.2.8', 1)).to.equal(false);
    expect(allows([{ addrs: ['::1'] }], '::1', 1)).to.equal(true);
    expect(allows([{ addrs: ['::1'] }], '127.0.0.1', 1)).to.equal(false);
  });

  it('last-octet range a.b.c.d-N, inclusive at both ends', () => {
    const rules = [{ addrs: ['192.168.1.10-20'] }];
    expect(allows(rules, '192.168.1.9', 1)).to.equal(false);
    expect(allows(rules, '192.168.1.10', 1)).to.equal(true);
    expect(allows(rules, '192.168.1.20', 1)).to.equal(true);
    expect(allows(rules, '192.168.1.21', 1)).to.equal(false);
    expect(allows(rules, '192.168.2.15', 1)).to.equal(false);
    expect(allows([{ addrs: ['10.0.0.0-255'] }], '10.0.0.255', 1)).to.equal(true);
    expect(allows([{ addrs: ['10.0.0.5-5'] }], '10.0.0.5', 1)).to.equal(true);
  });

  it('full ranges IP1-IP2 in either family, compared as 16-byte values', () => {
    expect(allows([{ addrs: ['10.0.0.250-10.0.1.5'] }], '10.0.1.0', 1)).to.equal(true);
    expect(allows([{ addrs: ['10.0.0.250-10.0.1.5'] }], '10.0.1.6', 1)).to.equal(false);
    expect(allows([{ addrs: ['2001:db8::1-2001:db8::ff'] }], '2001:db8::80', 1)).to.equal(true);
    expect(allows([{ addrs: ['2001:db8::1-2001:db8::ff'] }], '2001:db8::100', 1)).to.equal(false);
  });

  it('refuses malformed entries, naming them', () => {
    const cases: Array<[string, RegExp]> = [
      ['', /empty/],
      ['10.0.0.0/33', /prefix length must be 0-32/],
      ['fd00::/129', /prefix length must be 0-128/],
      ['10.0.0.0/', /prefix length/],
      ['10.0.0.0/08', /prefix length/],
      ['example.com', /not an IP, CIDR or range/],
      ['10.0.0.5-256', /last octet must be 0-255/],
      ['10.0.0.5-3', /range end before start/],
      ['10.0.1.0-10.0.0.1', /range end before start/],
      ['::1-5', /needs an IPv4 start/],
      ['10.0.0.1-x', /range end is not an IP/],
      ['x-10.0.0.1', /range start is not an IP/],
      ['[::1]/128', /not a CIDR/],
      ['300.0.0.0/8', /not a CIDR/],
    ];
    for (const [entry, why] of cases) {
      const message = parseError(() => parseAddressEntry(entry, 'here'));
      expect(message, entry).to.match(why);
      expect(message).to.contain(`here: invalid address ${JSON.stringify(entry)}`);
    }
  });
});

describe('access: port specs', () => {
  it('a number or [start, end] within 1-65535', () => {
    expect(parsePortSpec(80)).to.deep.equal([80, 80]);
    expect(parsePortSpec([1, 65535])).to.deep.equal([1, 65535]);
    expect(parsePortSpec([443, 443])).to.deep.equal([443, 443]);
    for (const bad of [0, 65536, -1, 80.5, '80', [80], [90, 80], [0, 10], [1, 70000], [1, 2, 3], null, {}]) {
      expect(parseError(() => parsePortSpec(bad, 'p')), JSON.stringify(bad)).to.match(/^p: invalid port/);
    }
  });

  it('port ranges are inclusive; a rule with ports only matches any address', () => {
    const rules = [{ ports: [[8000, 8010], 22] }];
    expect(allows(rules, '10.0.0.1', 7999)).to.equal(false);
    expect(allows(rules, '10.0.0.1', 8000)).to.equal(true);
    expect(allows(rules, '::1', 8010)).to.equal(true);
    expect(allows(rules, '10.0.0.1', 22)).to.equal(true);
    expect(allows(rules, '10.0.0.1', 23)).to.equal(false);
  });
});

describe('access: rule sets', () => {
  it('empty or absent rule sets allow everything', () => {
    expect(AccessRules.parse(undefined).isEmpty).to.equal(true);
    expect(AccessRules.parse(null).isEmpty).to.equal(true);
    expect(AccessRules.parse([]).isEmpty).to.equal(true);
    expect(allows([], '1.2.3.4', 9)).to.equal(true);
  });

  it('an entry with neither addrs nor ports allows everything', () => {
    expect(allows([{}], '1.2.3.4', 9)).to.equal(true);
    expect(allows([{ addrs: [], ports: [] }], '::1', 9)).to.equal(true);
    expect(allows([null], '::1', 9)).to.equal(true);
  });

  it('one entry must match both address and port (no mixing across entries)', () => {
    const rules = [{ addrs: ['10.0.0.0/8'], ports: [22] }, { addrs: ['192.168.0.0/16'], ports: [443] }];
    expect(allows(rules, '10.1.1.1', 22)).to.equal(true);
    expect(allows(rules, '192.168.1.1', 443)).to.equal(true);
    expect(allows(rules, '10.1.1.1', 443)).to.equal(false);
    expect(allows(rules, '192.168.1.1', 22)).to.equal(false);
    expect(allows(rules, '8.8.8.8', 22)).to.equal(false);
  });

  it('accepts addrs/ports in any letter case, last key winning, unknown keys ignored', () => {
    expect(allows([{ Addrs: ['10.0.0.1'], Ports: [80] }], '10.0.0.1', 80)).to.equal(true);
    expect(allows([{ ADDRS: ['10.0.0.1'], pOrTs: [80] }], '10.0.0.1', 81)).to.equal(false);
    expect(allows([{ addrs: ['10.0.0.1'], Addrs: ['10.0.0.2'], comment: 'x' }], '10.0.0.2', 1)).to.equal(true);
    expect(allows([{ addrs: ['10.0.0.1'], Addrs: ['10.0.0.2'] }], '10.0.0.1', 1)).to.equal(false);
    expect(allows([{ addrs: null, ports: [5] }], '10.0.0.1', 5)).to.equal(true);
  });

  it('errors name the entry by its position', () => {
    expect(parseError(() => AccessRules.parse([{ addrs: ['10.0.0.0/8'] }, { addrs: ['10.0.0.1', 'bogus'] }])))
      .to.equal('rules[1].addrs[1]: invalid address "bogus" (not an IP, CIDR or range)');
    expect(parseError(() => AccessRules.parse([{ ports: [80, [9, 1]] }], 'dial'))).to.equal('dial[0].ports[1]: invalid port range [9,1] (start after end)');
    expect(parseError(() => AccessRules.parse({ addrs: [] }))).to.equal('rules: must be a list of rules');
    expect(parseError(() => AccessRules.parse(['10.0.0.1']))).to.match(/^rules\[0\]: must be an object/);
    expect(parseError(() => AccessRules.parse([{ addrs: '10.0.0.1' }]))).to.match(/^rules\[0\]\.addrs: must be a list/);
    expect(parseError(() => AccessRules.parse([{ addrs: [5] }]))).to.match(/^rules\[0\]\.addrs\[0\]: invalid address 5/);
    expect(parseError(() => AccessRules.parse([{ ports: 80 }]))).to.match(/^rules\[0\]\.ports: must be a list/);
  });

  it('writes Go\'s output form: capitalised keys, null for an empty side, a number when start = end', () => {
    const rules = AccessRules.parse([{ addrs: ['10.0.0.0/8', ' ::1 '], ports: [[80, 80], [1000, 2000], 22] }, { ports: [5] }, {}]);
    expect(JSON.parse(JSON.stringify(rules))).to.deep.equal([
      { Addrs: ['10.0.0.0/8', '::1'], Ports: [80, [1000, 2000], 22] },
      { Addrs: null, Ports: [5] },
      { Addrs: null, Ports: null },
    ]);
    // The output parses back to the same rules.
    expect(JSON.stringify(AccessRules.parse(JSON.parse(JSON.stringify(rules))))).to.equal(JSON.stringify(rules));
  });
});

describe('access: target presets', () => {
  it('local refuses loopback, unspecified, link-local and metadata addresses, and nothing public', () => {
    const policy = new DestinationPolicy(AccessRules.none, DenyList.fromPresets(['local']));
    for (const host of ['127.0.0.1', '127.9.9.9', '0.0.0.0', '169.254.169.254', '169.254.1.1', '::1', '::', 'fe80::1', 'febf::1', 'fd00:ec2::254', '100.100.100.200']) {
      expect(policy.allowsText(host, 80), host).to.equal(false);
    }
    for (const host of ['8.8.8.8', '10.0.0.1', '192.168.1.1', '2001:db8::1', 'fd00:ec2::253', 'fec0::1']) {
      expect(policy.allowsText(host, 80), host).to.equal(true);
    }
  });

  it('private adds RFC 1918, CGNAT, unique-local IPv6 and multicast', () => {
    const policy = new DestinationPolicy(AccessRules.none, DenyList.fromPresets(['private']));
    for (const host of ['127.0.0.1', '10.0.0.1', '172.16.0.1', '172.31.255.255', '192.168.0.1', '100.64.0.1', 'fd12::1', '224.0.0.1', '255.255.255.255']) {
      expect(policy.allowsText(host, 80), host).to.equal(false);
    }
    for (const host of ['8.8.8.8', '172.32.0.1', '2001:db8::1']) expect(policy.allowsText(host, 80), host).to.equal(true);
    for (const entry of TARGET_PRESETS.local) expect(TARGET_PRESETS.private).to.include(entry);
  });

  it('a deny preset wins over an allow rule; unknown presets are refused', () => {
    const policy = new DestinationPolicy(AccessRules.parse([{ addrs: ['127.0.0.0/8', '10.0.0.0/8'] }]), DenyList.fromPresets(['local']));
    expect(policy.allowsText('127.0.0.1', 80)).to.equal(false);
    expect(policy.allowsText('10.0.0.1', 80)).to.equal(true);
    expect(policy.allowsText('11.0.0.1', 80)).to.equal(false);
    expect(parseError(() => DenyList.fromPresets(['nat']))).to.match(/unknown target preset "nat" \(known: local, private\)/);
    expect(DenyList.fromPresets([]).isEmpty).to.equal(true);
    expect(new DestinationPolicy().isOpen).to.equal(true);
  });
});

describe('access: command-line rule specs', () => {
  const cases: Array<[string, unknown]> = [
    ['10.0.0.0/8:443', { addrs: ['10.0.0.0/8'], ports: [443] }],
    ['10.0.0.0/8:8000-8100', { addrs: ['10.0.0.0/8'], ports: [[8000, 8100]] }],
    ['192.168.1.10-20:22,80,443', { addrs: ['192.168.1.10-20'], ports: [22, 80, 443] }],
    ['10.0.0.0/8', { addrs: ['10.0.0.0/8'] }],
    ['10.0.0.0/8:*', { addrs: ['10.0.0.0/8'] }],
    ['*:443', { ports: [443] }],
    [':443', { ports: [443] }],
    ['*', {}],
    ['[fd00::/8]:443', { addrs: ['fd00::/8'], ports: [443] }],
    ['[::1]', { addrs: ['::1'] }],
    ['fd00::/8', { addrs: ['fd00::/8'] }],
    ['2001:db8::1-2001:db8::9', { addrs: ['2001:db8::1-2001:db8::9'] }],
  ];
  for (const [spec, expected] of cases) {
    it(`${spec}`, () => {
      expect(parseAccessRuleSpec(spec)).to.deep.equal(expected);
      AccessRules.parse([parseAccessRuleSpec(spec)]);
    });
  }

  it('refuses malformed specs, naming them', () => {
    for (const spec of ['bogus:80', '10.0.0.0/8:0', '10.0.0.0/8:70000', '10.0.0.0/8:x', '10.0.0.0/8:90-80', '[::1', '[::1]80', '10.0.0.300']) {
      expect(parseError(() => parseAccessRuleSpec(spec)), spec).to.contain(`access rule ${JSON.stringify(spec)}`);
    }
  });
});
