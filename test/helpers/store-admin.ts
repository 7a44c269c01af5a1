// A TokenAdmin backed directly by a TokenStore, for API tests that need no WebSocket server.
import type { TokenAdmin } from '../../src/api/types.js';
import type { ServerStatus } from '../../src/server/tokens.js';
import type { TokenStore } from '../../src/server/token-store.js';
import { tokenDetailEntries } from '../../src/server/admin-views.js';
import { AccessRules } from '../../src/access/index.js';

const parsed = (rules: unknown): AccessRules | undefined => (rules === undefined ? undefined : AccessRules.parse(rules));

export const TEST_VERSION = 'v1.8.9';

export function storeAdmin(store: TokenStore, clientsCount: (token: string) => number = () => 0): TokenAdmin {
  return {
    addForwardToken: (token, rules) => store.addForward(token, parsed(rules)).token,
    addReverseToken: (request) => {
      const record = store.addReverse({ ...request, rules: parsed(request.rules) });
      return { token: record.token, port: record.port ?? -1 };
    },
    addConnectorToken: (token, reverseToken, rules) => store.addConnector(token, reverseToken, parsed(rules)).token,
    accessRules: () => {
      const { entry, dial } = store.access;
      return { entry: entry.isEmpty ? null : entry.toJSON(), dial: dial.isEmpty ? null : dial.toJSON() };
    },
    setAccessRules: (change) => {
      const entry = change.entry === undefined ? undefined : AccessRules.parse(change.entry, 'entry');
      const dial = change.dial === undefined ? undefined : AccessRules.parse(change.dial, 'dial');
      store.setAccess({ ...(entry && { entry }), ...(dial && { dial }) });
    },
    removeToken: (token) => store.remove(token).length > 0,
    status: (): ServerStatus => ({ version: TEST_VERSION, tokens: store.statusEntries(clientsCount) }),
    clients: () => [],
    tokenDetails: () => tokenDetailEntries(store, clientsCount),
  };
}
