// Token policy values: the API's JSON fields, the library's numbers and the state file's form,
// each bad value refused with the field named and nothing applied.
import { expect } from 'chai';
import {
  applyPolicyChange,
  checkStoredPolicy,
  formatPeriod,
  parsePeriod,
  parseRfc3339,
  parseSize,
  policyChangeFromJson,
  policyToJson,
  type TokenPolicyChange,
} from '../../src/server/token-policy-input.js';
import { TokenError } from '../../src/server/token-error.js';

const NOW = Date.parse('2026-06-01T00:00:00Z');

function refusal(run: () => unknown): TokenError {
  try {
    run();
  } catch (err) {
    expect(err).to.be.instanceOf(TokenError);
    expect((err as TokenError).code).to.equal('ERR_LINKSOCKS_INVALID_POLICY');
    return err as TokenError;
  }
  throw new Error('expected a TokenError');
}

const fields = (object: Record<string, unknown>): Map<string, unknown> => new Map(Object.entries(object));

describe('unit: token policy input', function () {
  it('sizes: plain bytes, decimal and binary units, fractions, case', function () {
    const table: [string, number | undefined][] = [
      ['1000', 1000],
      ['5MB', 5_000_000],
      ['5mb', 5_000_000],
      ['5M', 5_000_000],
      ['5MiB', 5 * 1024 * 1024],
      ['512k', 512_000],
      ['512KiB', 512 * 1024],
      ['1.5GB', 1_500_000_000],
      ['10GB', 10_000_000_000],
      ['2TiB', 2 * 1024 ** 4],
      ['1 MB', 1_000_000],
      ['100B', 100],
      ['5XB', undefined],
      ['-5MB', undefined],
      ['MB', undefined],
      ['', undefined],
      ['5MB5', undefined],
    ];
    for (const [text, bytes] of table) expect(parseSize(text), text).to.equal(bytes);
  });

  it('periods: s m h d w, combined, and formatted back', function () {
    const table: [string, number | undefined][] = [
      ['30d', 30 * 86_400_000],
      ['12h', 12 * 3_600_000],
      ['1d12h', 36 * 3_600_000],
      ['90m', 90 * 60_000],
      ['1w', 7 * 86_400_000],
      ['1.5h', 90 * 60_000],
      ['45s', 45_000],
      ['30', undefined],
      ['30x', undefined],
      ['-1d', undefined],
      ['', undefined],
    ];
    for (const [text, ms] of table) expect(parsePeriod(text), text).to.equal(ms);
    expect(formatPeriod(30 * 86_400_000)).to.equal('30d');
    expect(formatPeriod(36 * 3_600_000)).to.equal('1d12h');
    expect(formatPeriod(90 * 60_000)).to.equal('1h30m');
    expect(formatPeriod(1500)).to.equal('1500ms');
  });

  it('RFC 3339 times: Z and offsets, fractions; other forms refused', function () {
    expect(parseRfc3339('2027-01-01T00:00:00Z')).to.equal(Date.UTC(2027, 0, 1));
    expect(parseRfc3339('2027-01-01T01:00:00+01:00')).to.equal(Date.UTC(2027, 0, 1));
    expect(parseRfc3339('2027-01-01T00:00:00.250Z')).to.equal(Date.UTC(2027, 0, 1) + 250);
    for (const bad of ['2027-01-01', '2027-01-01T00:00:00', 'tomorrow', '2027-13-01T00:00:00Z', '1767225600', '2027-01-01T25:00:00Z']) {
      expect(parseRfc3339(bad), bad).to.equal(undefined);
    }
  });

  it('API fields: every field parsed, strings and numbers', function () {
    const change = policyChangeFromJson(
      fields({ max_channels: 100, rate_limit: '5MB', quota_bytes: '10GB', quota_period: '30d', expires_at: '2027-01-01T00:00:00Z' }),
      'create',
    );
    expect(change).to.deep.equal({
      maxChannels: 100,
      rateLimit: 5_000_000,
      quotaBytes: 10_000_000_000,
      quotaPeriodMs: 30 * 86_400_000,
      expiresAt: Date.UTC(2027, 0, 1),
    });
    const policy = applyPolicyChange(undefined, change, NOW);
    expect(policyToJson(policy!)).to.deep.equal({
      max_channels: 100,
      rate_limit: 5_000_000,
      quota_bytes: 10_000_000_000,
      quota_period: '30d',
      expires_at: '2027-01-01T00:00:00.000Z',
    });
  });

  it('API fields: each bad value refused with the field named', function () {
    const table: [Record<string, unknown>, string][] = [
      [{ max_channels: -1 }, 'max_channels'],
      [{ max_channels: 0 }, 'max_channels'],
      [{ max_channels: 1.5 }, 'max_channels'],
      [{ max_channels: '10' }, 'max_channels'],
      [{ rate_limit: -5 }, 'rate_limit'],
      [{ rate_limit: 'fast' }, 'rate_limit'],
      [{ rate_limit: true }, 'rate_limit'],
      [{ quota_bytes: '10 parsecs' }, 'quota_bytes'],
      [{ quota_bytes: 0 }, 'quota_bytes'],
      [{ quota_period: 30 }, 'quota_period'],
      [{ quota_period: 'monthly' }, 'quota_period'],
      [{ expires_at: 'next week' }, 'expires_at'],
      [{ expires_at: 1767225600 }, 'expires_at'],
      [{ disabled: true }, 'disabled'],
    ];
    for (const [body, field] of table) {
      const err = refusal(() => policyChangeFromJson(fields(body), 'create'));
      expect(err.field, JSON.stringify(body)).to.equal(field);
      expect(err.message.startsWith(`${field}: `), err.message).to.equal(true);
    }
    const patchTable: [Record<string, unknown>, string][] = [
      [{ disabled: 'yes' }, 'disabled'],
      [{ strategy: 'fastest' }, 'strategy'],
      [{ max_channels: -3 }, 'max_channels'],
    ];
    for (const [body, field] of patchTable) expect(refusal(() => policyChangeFromJson(fields(body), 'patch')).field).to.equal(field);
  });

  it('null: absent on create, clears on patch', function () {
    expect(policyChangeFromJson(fields({ max_channels: null, disabled: null }), 'create')).to.deep.equal({});
    expect(policyChangeFromJson(fields({ max_channels: null, expires_at: null, disabled: false, strategy: null }), 'patch')).to.deep.equal({
      maxChannels: null,
      expiresAt: null,
      disabled: false,
      strategy: null,
    });
  });

  it('applying: null clears, absent keeps, nothing left is undefined, the input is not touched', function () {
    const current = applyPolicyChange(undefined, { maxChannels: 5, rateLimit: 1000, disabled: true }, NOW)!;
    expect(current).to.deep.equal({ maxChannels: 5, rateLimit: 1000, disabled: true });
    const next = applyPolicyChange(current, { maxChannels: null, rateLimit: 2000, disabled: false }, NOW);
    expect(next).to.deep.equal({ rateLimit: 2000 });
    expect(current).to.deep.equal({ maxChannels: 5, rateLimit: 1000, disabled: true });
    expect(applyPolicyChange(next, { rateLimit: null }, NOW)).to.equal(undefined);
  });

  it('applying: library numbers checked like API values; the whole change or nothing', function () {
    const table: [TokenPolicyChange, string][] = [
      [{ maxChannels: -1 }, 'max_channels'],
      [{ maxChannels: Number.NaN }, 'max_channels'],
      [{ rateLimit: 0.5 }, 'rate_limit'],
      [{ quotaBytes: Infinity }, 'quota_bytes'],
      [{ quotaBytes: 100, quotaPeriodMs: 10 }, 'quota_period'],
      [{ quotaPeriodMs: 86_400_000 }, 'quota_period'], // needs quota_bytes
      [{ expiresAt: NOW - 1 }, 'expires_at'],
      [{ expiresAt: NOW }, 'expires_at'],
      [{ expiresAt: new Date(Number.NaN) }, 'expires_at'],
      [{ maxChannels: 10, expiresAt: NOW - 1000 }, 'expires_at'],
    ];
    for (const [change, field] of table) expect(refusal(() => applyPolicyChange(undefined, change, NOW)).field, JSON.stringify(change)).to.equal(field);
    expect(applyPolicyChange(undefined, { expiresAt: new Date(NOW + 1000) }, NOW)).to.deep.equal({ expiresAt: NOW + 1000 });
    // Clearing quota_bytes while a period stays is refused too.
    const withQuota = applyPolicyChange(undefined, { quotaBytes: 100, quotaPeriodMs: 86_400_000 }, NOW);
    expect(refusal(() => applyPolicyChange(withQuota, { quotaBytes: null }, NOW)).field).to.equal('quota_period');
    expect(applyPolicyChange(withQuota, { quotaBytes: null, quotaPeriodMs: null }, NOW)).to.equal(undefined);
  });

  it('stored form: checked shape, past expiry accepted', function () {
    expect(checkStoredPolicy({ maxChannels: 3, expiresAt: 1000, disabled: true })).to.deep.equal({ maxChannels: 3, expiresAt: 1000, disabled: true });
    expect(checkStoredPolicy({ maxChannels: -3 })).to.be.a('string');
    expect(checkStoredPolicy({ disabled: 'no' })).to.be.a('string');
    expect(checkStoredPolicy([])).to.be.a('string');
  });
});
