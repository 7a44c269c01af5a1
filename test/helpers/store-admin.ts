// A TokenAdmin backed directly by a TokenStore, for API tests that need no WebSocket server.
import type { TokenAdmin } from '../../src/api/types.js';
import type { ServerStatus } from '../../src/server/tokens.js';
import type { TokenStore } from '../../src/server/token-store.js';
import { tokenDetailEntries } from '../../src/server/admin-views.js';

export const TEST_VERSION = 'v1.8.9';

export function storeAdmin(store: TokenStore, clientsCount: (token: string) => number = () => 0): TokenAdmin {
  return {
    addForwardToken: (token) => store.addForward(token).token,
    addReverseToken: (request) => {
      const record = store.addReverse(request);
      return { token: record.token, port: record.port ?? -1 };
    },
    addConnectorToken: (token, reverseToken) => store.addConnector(token, reverseToken).token,
    removeToken: (token) => store.remove(token).length > 0,
    status: (): ServerStatus => ({ version: TEST_VERSION, tokens: store.statusEntries(clientsCount) }),
    clients: () => [],
    tokenDetails: () => tokenDetailEntries(store, clientsCount),
  };
}
