import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { CliError } from '../../src/cli/errors.js';
import { parseClientFlags } from '../../src/cli/parse-client.js';
import { parseServerFlags } from '../../src/cli/parse-server.js';

describe('access-control flags', () => {
  it('server: --access-rule becomes dial rules, or entry rules with -r; --deny-targets presets', () => {
    const fwd = parseServerFlags({ accessRule: ['10.0.0.0/8:443', '*:22'], denyTargets: ['local,private'] }, {});
    expect(fwd.serverOptions.access).to.deep.equal({ dial: [{ addrs: ['10.0.0.0/8'], ports: [443] }, { ports: [22] }] });
    expect(fwd.serverOptions.denyTargets).to.deep.equal(['local', 'private']);
    const rev = parseServerFlags({ reverse: true, accessRule: ['[fd00::/8]:80-90'] }, {});
    expect(rev.serverOptions.access).to.deep.equal({ entry: [{ addrs: ['fd00::/8'], ports: [[80, 90]] }] });
  });

  it('server: --access-rule is refused with --api-key (use the API), as upstream', () => {
    expect(() => parseServerFlags({ apiKey: ['k'], accessRule: ['10.0.0.0/8'] }, {})).to.throw(CliError, /PUT \/api\/config\/access/);
  });

  it('server: bad rules and presets are CLI errors naming them', () => {
    expect(() => parseServerFlags({ accessRule: ['10.0.0.0/33:80'] }, {})).to.throw(CliError, /invalid --access-rule: access rule "10.0.0.0\/33:80"/);
    expect(() => parseServerFlags({ denyTargets: ['nat'] }, {})).to.throw(CliError, /invalid --deny-targets: "nat"/);
  });

  it('server: -k repeated and --api-key-file give extra keys; the first key enables the API', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'linksocks-keys-'));
    try {
      const file = path.join(dir, 'keys');
      await writeFile(file, '# ops keys\nfile-key-1\n\n  file-key-2  \n');
      const c = parseServerFlags({ apiKey: ['a', 'b'], apiKeyFile: file }, {});
      expect(c.serverOptions.apiKey).to.equal('a');
      expect(c.serverOptions.apiKeys).to.deep.equal(['b', 'file-key-1', 'file-key-2']);
      expect(c.plan).to.deep.equal({ mode: 'api' });
      const fileOnly = parseServerFlags({ apiKeyFile: file }, {});
      expect([fileOnly.serverOptions.apiKey, fileOnly.serverOptions.apiKeys]).to.deep.equal(['file-key-1', ['file-key-2']]);
      await writeFile(file, '# nothing\n');
      expect(() => parseServerFlags({ apiKeyFile: file }, {})).to.throw(CliError, /no key in the file/);
      expect(() => parseServerFlags({ apiKeyFile: path.join(dir, 'missing') }, {})).to.throw(CliError, /cannot be read \(ENOENT\)/);
      expect(parseServerFlags({}, { LINKSOCKS_API_KEY: 'env' }).serverOptions.apiKey).to.equal('env');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('client and provider: --access-rule and --deny-targets go to the client options', () => {
    const p = parseClientFlags('provider', { token: 'P', accessRule: ['192.168.1.10-20:22,80'], denyTargets: ['local'] }, {});
    expect(p.clientOptions.accessRules).to.deep.equal([{ addrs: ['192.168.1.10-20'], ports: [22, 80] }]);
    expect(p.clientOptions.denyTargets).to.deep.equal(['local']);
    expect(() => parseClientFlags('client', { accessRule: ['host.example:80'] }, {})).to.throw(CliError, /invalid --access-rule/);
  });
});
