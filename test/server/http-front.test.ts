import net from 'node:net';
import { expect } from 'chai';
import { LinkSocksServer } from '../../src/server/server.js';
import { withCapturedHttpServers } from '../helpers/capture-http-server.js';
import { checkNoLeaksAfterSuite } from '../helpers/leaks.js';

describe('server HTTP front: errors of its HTTP server', function () {
  checkNoLeaksAfterSuite();

  it('an HTTP server error after listening is emitted as the server\'s error event, and serving goes on', async function () {
    await withCapturedHttpServers(async (seen) => {
      const server = new LinkSocksServer({ host: '127.0.0.1', port: 0 });
      try {
        await server.start();
        expect(seen).to.have.length(1);
        const errors: Error[] = [];
        server.on('error', (err) => errors.push(err));
        const failure = Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' });
        // Before the fix the listener was gone by now, so this emit threw.
        seen[0]!.emit('error', failure);
        expect(errors).to.deep.equal([failure]);
        const banner = await fetch(`http://127.0.0.1:${server.address().port}/`);
        expect(banner.status).to.equal(200);
        await banner.arrayBuffer();
      } finally {
        await server.close();
      }
    });
  });

  it('a listen failure rejects start() and is not also emitted as an error event', async function () {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as net.AddressInfo;
    const server = new LinkSocksServer({ host: '127.0.0.1', port });
    const errors: Error[] = [];
    server.on('error', (err) => errors.push(err));
    try {
      let failure: unknown;
      await server.start().catch((err: unknown) => {
        failure = err;
      });
      expect((failure as NodeJS.ErrnoException | undefined)?.code).to.equal('EADDRINUSE');
      expect(errors).to.deep.equal([]);
    } finally {
      await server.close();
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });
});
