import { expect } from 'chai';
import { checkDestination, checkDestinationWithin, systemLookup, type DestinationCheck, type HostLookup } from '../../src/access/guard.js';
import { DenyList, DestinationPolicy } from '../../src/access/policy.js';
import { AccessRules } from '../../src/access/rules.js';

const check = (rules: unknown, text = 'token', presets: string[] = []): DestinationCheck => ({
  policy: new DestinationPolicy(AccessRules.parse(rules), DenyList.fromPresets(presets)),
  refusal: (host, port) => `${text} ${host}:${port}`,
});

function fakeLookup(table: Record<string, string[]>): HostLookup & { calls: string[] } {
  const calls: string[] = [];
  const fn = async (host: string): Promise<string[]> => {
    calls.push(host);
    const found = table[host];
    if (!found) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
    return found;
  };
  return Object.assign(fn, { calls });
}

describe('access: checking destinations before dialling', () => {
  it('no active check: the name passes unchanged and is not looked up', async () => {
    const lookup = fakeLookup({});
    expect(await checkDestination('example.test', 80, [], lookup)).to.deep.equal({ allowed: true, host: 'example.test' });
    expect(await checkDestination('example.test', 80, [check([])], lookup)).to.deep.equal({ allowed: true, host: 'example.test' });
    expect(lookup.calls).to.deep.equal([]);
  });

  it('an IP literal is checked without a lookup', async () => {
    const lookup = fakeLookup({});
    expect(await checkDestination('10.0.0.1', 80, [check([{ addrs: ['10.0.0.0/8'] }])], lookup)).to.deep.equal({ allowed: true, host: '10.0.0.1' });
    expect(await checkDestination('10.0.0.1', 81, [check([{ ports: [80] }])], lookup)).to.deep.equal({ allowed: false, error: 'token 10.0.0.1:81' });
    expect(lookup.calls).to.deep.equal([]);
  });

  it('a name is resolved once and the address that passed is the one to dial', async () => {
    const lookup = fakeLookup({ 'mixed.test': ['127.0.0.1', '203.0.113.5'] });
    const result = await checkDestination('mixed.test', 443, [check([{ addrs: ['203.0.113.0/24'] }])], lookup);
    expect(result).to.deep.equal({ allowed: true, host: '203.0.113.5' });
    expect(lookup.calls).to.deep.equal(['mixed.test']);
  });

  it('a name that resolves only to refused addresses is refused', async () => {
    const lookup = fakeLookup({ 'local.test': ['127.0.0.1', '::1'] });
    expect(await checkDestination('local.test', 22, [check([], 'dial', ['local'])], lookup)).to.deep.equal({ allowed: false, error: 'dial local.test:22' });
  });

  it('an unresolvable name (or an empty host) is refused', async () => {
    const lookup = fakeLookup({ 'empty.test': [] });
    expect(await checkDestination('nowhere.test', 80, [check([{ ports: [80] }])], lookup)).to.deep.equal({ allowed: false, error: 'token nowhere.test:80' });
    expect(await checkDestination('empty.test', 80, [check([{ ports: [80] }])], lookup)).to.deep.equal({ allowed: false, error: 'token empty.test:80' });
    expect(await checkDestination('', 0, [check([{ ports: [80] }])], lookup)).to.deep.equal({ allowed: false, error: 'token :0' });
  });

  it('every check must pass for the same address; the refusal is the first check nothing passed', async () => {
    const lookup = fakeLookup({ 'two.test': ['10.0.0.1', '192.168.0.1'] });
    const token = check([{ addrs: ['10.0.0.0/8', '192.168.0.0/16'] }], 'token');
    const dial = check([{ addrs: ['192.168.0.0/16'] }], 'dial');
    expect(await checkDestination('two.test', 80, [token, dial], lookup)).to.deep.equal({ allowed: true, host: '192.168.0.1' });
    expect(await checkDestination('10.0.0.1', 80, [token, dial], lookup)).to.deep.equal({ allowed: false, error: 'dial 10.0.0.1:80' });
    expect(await checkDestination('8.8.8.8', 80, [token, dial], lookup)).to.deep.equal({ allowed: false, error: 'token 8.8.8.8:80' });
  });

  it('IPv4-mapped literals are checked as IPv4 and dialled in their plain form', async () => {
    const result = await checkDestination('::ffff:10.0.0.1', 80, [check([{ addrs: ['10.0.0.0/8'] }])], fakeLookup({}));
    expect(result).to.deep.equal({ allowed: true, host: '10.0.0.1' });
  });

  it('the system lookup resolves localhost to loopback addresses', async () => {
    const addresses = await systemLookup('localhost');
    expect(addresses.length).to.be.greaterThan(0);
    expect(await checkDestination('localhost', 80, [check([], 'dial', ['local'])])).to.deep.equal({ allowed: false, error: 'dial localhost:80' });
  });

  it('a lookup that does not answer in time refuses the destination with Go\'s lookup timeout text', async () => {
    const never: HostLookup = () => new Promise<string[]>(() => undefined);
    expect(await checkDestinationWithin('slow.test', 80, [check([{ ports: [80] }])], 30, never)).to.deep.equal({
      allowed: false,
      error: 'dial tcp: lookup slow.test: i/o timeout',
    });
  });
});
