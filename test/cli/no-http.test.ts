import { expect } from 'chai';
import { parseClientFlags } from '../../src/cli/parse-client.js';
import { parseServerFlags } from '../../src/cli/parse-server.js';
import { buildProgram } from '../../src/cli/program.js';
import type { RawClientFlags } from '../../src/cli/parse-client.js';
import type { RawServerFlags } from '../../src/cli/parse-server.js';

describe('--no-http', () => {
  it('turns HTTP CONNECT off on the client and server SOCKS ports; absent, the library default stays', async () => {
    let clientFlags: RawClientFlags | undefined;
    let serverFlags: RawServerFlags | undefined;
    const { program } = buildProgram({
      server: async (flags) => {
        serverFlags = flags;
        return 0;
      },
      client: async (_cmd, flags) => {
        clientFlags = flags;
        return 0;
      },
      version: () => 0,
    });
    await program.parseAsync(['node', 'linksocks-ts', 'client', '--no-http']);
    await program.parseAsync(['node', 'linksocks-ts', 'server', '--no-http', '-r']);
    expect(parseClientFlags('client', clientFlags!, {}).clientOptions.httpConnect).to.equal(false);
    expect(parseServerFlags(serverFlags!, {}).serverOptions.httpConnect).to.equal(false);
    expect(parseClientFlags('client', { reconnect: true }, {}).clientOptions.httpConnect).to.equal(undefined);
  });
});
