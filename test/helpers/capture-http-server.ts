import http from 'node:http';

/**
 * Runs `body` while `http.createServer` hands every server it creates to `seen`, so a test can
 * reach the HTTP server a LinkSocksServer created for itself (to make it fail, for instance).
 */
export async function withCapturedHttpServers<T>(body: (seen: http.Server[]) => Promise<T>): Promise<T> {
  const original = http.createServer;
  const seen: http.Server[] = [];
  const capturing = ((...args: Parameters<typeof http.createServer>) => {
    const server = (original as (...a: unknown[]) => http.Server)(...args);
    seen.push(server);
    return server;
  }) as typeof http.createServer;
  http.createServer = capturing;
  try {
    return await body(seen);
  } finally {
    http.createServer = original;
  }
}
