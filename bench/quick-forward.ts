// Quick throughput probe: TS server + TS client on loopback, one SOCKS connection, N MiB each way.
import net from 'node:net';
import { LinkSocksServer } from '../src/server/server.js';
import { LinkSocksClient } from '../src/client/client.js';
import { SocksClient } from 'socks';

const MiB = 1024 * 1024;
const total = Number(process.argv[2] ?? 256) * MiB;
const sink = net.createServer((s) => s.resume().on('end', () => s.end()));
await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
const sinkPort = (sink.address() as net.AddressInfo).port;
const server = new LinkSocksServer({ host: '127.0.0.1', port: 0 });
server.addForwardToken('t');
await server.start();
const client = new LinkSocksClient({ url: `ws://127.0.0.1:${server.address().port}`, token: 't', socksPort: 0 });
await client.start();
const { socket } = await SocksClient.createConnection({
  command: 'connect',
  proxy: { host: '127.0.0.1', port: client.socksAddress()!.port, type: 5 },
  destination: { host: '127.0.0.1', port: sinkPort },
});
const chunk = Buffer.alloc(256 * 1024, 7);
const start = process.hrtime.bigint();
let sent = 0;
await new Promise<void>((resolve) => {
  const pump = (): void => {
    while (sent < total) {
      sent += chunk.length;
      if (!socket.write(chunk)) return void socket.once('drain', pump);
    }
    socket.end();
    socket.once('close', resolve);
    socket.resume();
  };
  pump();
});
const secs = Number(process.hrtime.bigint() - start) / 1e9;
console.log(`${(total / MiB / secs).toFixed(0)} MiB/s upload (${secs.toFixed(2)} s)`);
await client.close();
await server.close();
sink.close();
