// The server's authentication decision (server/authenticate.ts) as decision tables: every token
// kind against every way of asking, for both forms (the hashed query and the Auth message).
import { createHash } from 'node:crypto';
import { expect } from 'chai';
import {
  AUTH_ERROR_FORMAT,
  AUTH_ERROR_TOKEN,
  decideByAuthMessage,
  decideByQuery,
} from '../../src/server/authenticate.js';
import type { AuthDecision, TokenRoles } from '../../src/server/authenticate.js';

type Kind = 'forward' | 'reverse' | 'connector' | 'dead-connector' | 'unknown';

const TOKENS: Record<Exclude<Kind, 'unknown'>, string> = {
  forward: 'fwd-token',
  reverse: 'rev-token',
  connector: 'conn-token',
  'dead-connector': 'dead-conn-token',
};
const UNKNOWN = 'not-a-token';

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/** A token store with one token of each kind; a dead connector's reverse token is gone. */
const roles: TokenRoles = {
  isForward: (t) => t === TOKENS.forward,
  isReverse: (t) => t === TOKENS.reverse,
  isLiveConnector: (t) => t === TOKENS.connector,
  tokenForHash: (h) => Object.values(TOKENS).find((t) => sha256(t) === h),
};

function tokenOf(kind: Kind): string {
  return kind === 'unknown' ? UNKNOWN : TOKENS[kind];
}

/** `role` for a success, `!error text` for a refusal. */
function outcome(d: AuthDecision | undefined): string {
  if (d === undefined) return 'no-query-auth';
  return d.ok ? d.role : `!${d.error}`;
}

const DENIED = `!${AUTH_ERROR_TOKEN}`;

describe('unit: authentication decision', function () {
  describe('Auth message (plain token, reverse flag)', function () {
    const table: Array<[Kind, boolean, string]> = [
      ['forward', false, 'forward'],
      ['forward', true, DENIED],
      ['reverse', true, 'reverse'],
      ['reverse', false, DENIED],
      ['connector', false, 'connector'],
      ['connector', true, DENIED],
      ['dead-connector', false, DENIED],
      ['dead-connector', true, DENIED],
      ['unknown', false, DENIED],
      ['unknown', true, DENIED],
    ];
    for (const [kind, reverse, expected] of table) {
      it(`${kind} token, reverse=${reverse} → ${expected}`, function () {
        const decision = decideByAuthMessage({ token: tokenOf(kind), reverse, instance: 'inst-1' }, roles);
        expect(outcome(decision)).to.equal(expected);
        if (decision.ok) expect(decision).to.deep.equal({ ok: true, token: tokenOf(kind), role: expected, instance: 'inst-1' });
      });
    }
  });

  describe('query (SHA-256 of the token, optional reverse parameter)', function () {
    // reverse parameter: absent, or its text; "true"/"1" demand reverse, any other non-empty text forward or connector.
    const table: Array<[Kind, string | null, string]> = [
      ['forward', null, 'forward'],
      ['forward', 'false', 'forward'],
      ['forward', '0', 'forward'],
      ['forward', 'true', DENIED],
      ['forward', '1', DENIED],
      ['reverse', null, 'reverse'],
      ['reverse', 'true', 'reverse'],
      ['reverse', '1', 'reverse'],
      ['reverse', 'false', DENIED],
      ['reverse', 'yes', DENIED],
      ['connector', null, 'connector'],
      ['connector', 'false', 'connector'],
      ['connector', 'true', DENIED],
      ['dead-connector', null, DENIED],
      ['dead-connector', 'false', DENIED],
      ['unknown', null, DENIED],
      ['unknown', 'true', DENIED],
    ];
    for (const [kind, reverse, expected] of table) {
      it(`${kind} token, reverse=${reverse ?? '(absent)'} → ${expected}`, function () {
        const query = new URLSearchParams({ token: sha256(tokenOf(kind)), instance: 'inst-2' });
        if (reverse !== null) query.set('reverse', reverse);
        const decision = decideByQuery(query, roles);
        expect(outcome(decision)).to.equal(expected);
        if (decision?.ok) expect(decision).to.deep.equal({ ok: true, token: tokenOf(kind), role: expected, instance: 'inst-2' });
      });
    }

    it('an empty reverse parameter counts as absent', function () {
      const query = new URLSearchParams({ token: sha256(TOKENS.reverse), reverse: '' });
      expect(outcome(decideByQuery(query, roles))).to.equal('reverse');
    });

    it('no token parameter (or an empty one): not query authentication, the Auth message decides', function () {
      expect(outcome(decideByQuery(new URLSearchParams(), roles))).to.equal('no-query-auth');
      expect(outcome(decideByQuery(new URLSearchParams({ token: '' }), roles))).to.equal('no-query-auth');
      expect(outcome(decideByQuery(new URLSearchParams({ reverse: 'true' }), roles))).to.equal('no-query-auth');
    });

    it('a token parameter that is not 64 characters is a format error, checked before any lookup', function () {
      let lookups = 0;
      const counting: TokenRoles = { ...roles, tokenForHash: (h) => (lookups++, roles.tokenForHash(h)) };
      for (const bad of ['abc', sha256('x').slice(0, 63), `${sha256('x')}0`, TOKENS.forward]) {
        expect(outcome(decideByQuery(new URLSearchParams({ token: bad }), counting))).to.equal(`!${AUTH_ERROR_FORMAT}`);
      }
      expect(lookups).to.equal(0);
    });

    it('a 64-character hash of no token is an invalid token', function () {
      expect(outcome(decideByQuery(new URLSearchParams({ token: sha256('nobody') }), roles))).to.equal(DENIED);
    });

    it('the hash is looked up as sent: upper-case hex of a valid token is an invalid token', function () {
      const upper = sha256(TOKENS.forward).toUpperCase();
      expect(outcome(decideByQuery(new URLSearchParams({ token: upper }), roles))).to.equal(DENIED);
    });

    it('a missing instance parameter is the empty instance', function () {
      const decision = decideByQuery(new URLSearchParams({ token: sha256(TOKENS.forward) }), roles);
      expect(decision).to.deep.include({ ok: true, instance: '' });
    });
  });

  describe("Go's precedence when a token would qualify for more than one role", function () {
    const everything: TokenRoles = {
      isForward: () => true,
      isReverse: () => true,
      isLiveConnector: () => true,
      tokenForHash: () => 'shared',
    };
    const table: Array<[string, () => AuthDecision | undefined, string]> = [
      ['query, no reverse parameter', () => decideByQuery(new URLSearchParams({ token: sha256('shared') }), everything), 'reverse'],
      ['query, reverse=false', () => decideByQuery(new URLSearchParams({ token: sha256('shared'), reverse: 'false' }), everything), 'connector'],
      ['query, reverse=true', () => decideByQuery(new URLSearchParams({ token: sha256('shared'), reverse: 'true' }), everything), 'reverse'],
      ['message, reverse=false', () => decideByAuthMessage({ token: 'shared', reverse: false, instance: '' }, everything), 'connector'],
      ['message, reverse=true', () => decideByAuthMessage({ token: 'shared', reverse: true, instance: '' }, everything), 'reverse'],
    ];
    for (const [how, decide, expected] of table) {
      it(`${how} → ${expected}`, function () {
        expect(outcome(decide())).to.equal(expected);
      });
    }
  });
});
