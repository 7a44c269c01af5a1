// A TokenAdmin backed directly by a TokenStore, for API tests that need no WebSocket server.
import type { TokenAdmin } from '../../src/api/types.js';
import type { ServerStatus } from '../../src/server/tokens.js';
import type { TokenStore } from '../../src/server/token-store.js';
import { tokenDetailEntries } from '../../src/server/admin-views.js';
import { AccessRules } from '../../src/access/index.js';
import { applyPolicyChange, type TokenPolicyChange } from '../../src/server/token-policy-input.js';

const parsed = (rules: unknown): AccessRules | undefined => (rules === undefined ? undefined : AccessRules.parse(rules));
const checked = (policy: TokenPolicyChange | undefined) => (policy === undefined ? undefined : applyPolicyChange(undefined, policy));

export const TEST_VERSION = 'v1.8.9';

export function storeAdmin(store: TokenStore, clientsCount: (token: string) => number = () => 0): TokenAdmin {
  return {
    addForwardToken: (token, rules, policy) => store.addForward(token, parsed(rules), checked(policy)).token,
    addReverseToken: (request) => {
      const record = store.addReverse({ ...request, rules: parsed(request.rules), policy: checked(request.policy) });
      return { token: record.token, port: record.port ?? -1 };
    },
    addConnectorToken: (token, reverseToken, rules, policy) => store.addConnector(token, reverseToken, parsed(rules), checked(policy)).token,
    updateToken: (token, change) => store.update(token, change).policy,
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
