import { expect } from 'chai';
import { startEmbedded } from '../../examples/embed.js';
import { startHttpServer } from '../helpers/net.js';
import { curlViaSocks } from '../helpers/socks.js';
import { checkNoLeaksAfterSuite } from '../helpers/leaks.js';

describe('embedding example (README)', function () {
  checkNoLeaksAfterSuite();
  it('serves a SOCKS5 tunnel through a proxy mounted on an existing HTTP server', async function () {
    const target = await startHttpServer('embedded\n');
    const embedded = await startEmbedded();
    try {
      const { stdout } = await curlViaSocks(embedded.socksPort, `http://127.0.0.1:${target.port}/`);
      expect(stdout).to.equal('embedded\n');
      const banner = await fetch(`http://127.0.0.1:${embedded.appPort}/`);
      expect(banner.status).to.equal(200);
    } finally {
      await embedded.stop();
      await target.close();
    }
  });
});
