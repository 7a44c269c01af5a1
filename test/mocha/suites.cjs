'use strict';
// Which test files form `npm run test:unit`: fast, in-process tests that need no other process,
// no peer and no real waiting (seconds in all). Every other test file is an integration suite, so
// a new file is one unless it is listed here (names, not brace patterns:
// mocha does not expand braces).
const UNIT = [
  'test/unit/**/*.test.ts',
  'test/protocol/**/*.test.ts',
  'test/socks5/parsers.test.ts',
  'test/socks5/http-message.test.ts',
  'test/server/port-pool.test.ts',
  'test/cluster/peer-auth.test.ts',
  'test/cluster/provider-pool-remote.test.ts',
  'test/server/token-store.test.ts',
  'test/cli/logger.test.ts',
  'test/cli/main.test.ts',
  'test/cli/no-http.test.ts',
  'test/cli/operator.test.ts',
  'test/cli/parse-client.test.ts',
  'test/cli/parse-server.test.ts',
  'test/cli/program.test.ts',
  'test/cli/run-client.test.ts',
  'test/cli/run-server.test.ts',
  'test/cli/token-command.test.ts',
  'test/cli/values.test.ts',
  'test/cluster/memory-clients.test.ts',
];

const ALL = ['test/**/*.test.ts', 'interop/**/*.test.ts'];

module.exports = { UNIT, ALL };
