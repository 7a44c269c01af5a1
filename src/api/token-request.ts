/**
 * Request bodies of `/api/token`, read the way Go's json.Decoder fills api.go's request struct:
 * the top level is an object (or null, leaving every field empty), unknown keys are ignored, keys
 * match their field case-insensitively with the last occurrence winning, JSON null leaves a field
 * empty, and any other type mismatch makes the whole body invalid.
 */
import type { IncomingMessage } from 'node:http';
import { LinkSocksError } from '../errors.js';
import { scanFirstValue } from './json-scan.js';
import { POLICY_FIELDS } from '../server/token-policy-input.js';

const POLICY_KEYS: ReadonlySet<string> = new Set(POLICY_FIELDS);
/** Fields a PATCH may carry. */
const PATCH_KEYS: ReadonlySet<string> = new Set([...POLICY_FIELDS, 'strategy']);

export interface TokenRequestBody {
  type: string;
  token: string;
  port: number;
  username: string;
  password: string;
  reverseToken: string;
  allowManageConnector: boolean;
  /** Access rules as sent (any JSON); the server parses them and refuses malformed ones. */
  rules?: unknown;
  /** [linksocks-ts] Raw `strategy` value when the body has one (checked by the route). */
  strategy?: unknown;
  /**
   * [linksocks-ts] The policy fields the body has (`max_channels`, …; lower-cased key → value as
   * sent), absent when it has none; checked by policyChangeFromJson.
   */
  policy?: Map<string, unknown>;
}

/** Body does not fit the request struct; the API answers `invalid request body`. */
export class InvalidBodyError extends LinkSocksError {
  override readonly name = 'InvalidBodyError';
  declare readonly code: 'ERR_LINKSOCKS_API_BODY';

  constructor(message: string, options: { cause?: unknown } = {}) {
    super('ERR_LINKSOCKS_API_BODY', message, options);
  }
}

/** Body larger than the cap; the API answers 413. */
export class BodyTooLargeError extends LinkSocksError {
  override readonly name = 'BodyTooLargeError';
  declare readonly code: 'ERR_LINKSOCKS_API_BODY_TOO_LARGE';

  constructor(message: string) {
    super('ERR_LINKSOCKS_API_BODY_TOO_LARGE', message);
  }
}

/** Go reads any size; a token request is a few hundred bytes, so 64 KiB is generous. */
export const MAX_BODY_BYTES = 64 * 1024;

const STRING_FIELDS = {
  type: 'type',
  token: 'token',
  username: 'username',
  password: 'password',
  reverse_token: 'reverseToken',
} as const;

/** Reads the whole body, refusing (without buffering further) once it exceeds `limit`. */
export function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    return Promise.reject(new BodyTooLargeError(`request body over ${limit} bytes`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.resume(); // discard the rest instead of buffering it
        reject(new BodyTooLargeError(`request body over ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error('request closed before its body ended'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

const INTEGER_LITERAL = /^-?(?:0|[1-9][0-9]*)$/;

/** Throws InvalidBodyError where Go's decoder would fail. */
export function parseTokenRequest(text: string): TokenRequestBody {
  const body: TokenRequestBody = {
    type: '',
    token: '',
    port: 0,
    username: '',
    password: '',
    reverseToken: '',
    allowManageConnector: false,
  };
  // Go's Decode reads the first value only: whatever follows it is never looked at.
  const scanned = scanFirstValue(text);
  let parsed: unknown;
  try {
    parsed = JSON.parse(scanned.first);
  } catch {
    throw new InvalidBodyError('body is not JSON');
  }
  if (parsed === null) return body;
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new InvalidBodyError('body is not a JSON object');
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (value === null) continue;
    const field = key.toLowerCase();
    if (Object.hasOwn(STRING_FIELDS, field)) {
      if (typeof value !== 'string') throw new InvalidBodyError(`${field} is not a string`);
      body[STRING_FIELDS[field as keyof typeof STRING_FIELDS]] = value;
    } else if (field === 'port') {
      // Go's int takes integer literals only: 1.0 and 1e3 are refused although JSON.parse makes integers of them.
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || !INTEGER_LITERAL.test(scanned.members.get(key) ?? '')) {
        throw new InvalidBodyError('port is not an integer');
      }
      body.port = value;
    } else if (field === 'rules') {
      body.rules = value;
    } else if (field === 'strategy') {
      body.strategy = value;
    } else if (POLICY_KEYS.has(field)) {
      (body.policy ??= new Map()).set(field, value);
    } else if (field === 'allow_manage_connector') {
      if (typeof value !== 'boolean') throw new InvalidBodyError('allow_manage_connector is not a boolean');
      body.allowManageConnector = value;
    }
  }
  return body;
}

/**
 * [linksocks-ts] The body of `PATCH /api/token/{token}`: a JSON object of policy fields and
 * `strategy` (keys case-insensitive, the last occurrence winning, JSON null kept: it clears the
 * field). Throws InvalidBodyError for a body that is not a JSON object; returns the unknown keys
 * separately so the route can name them.
 */
export function parsePatchRequest(text: string): { fields: Map<string, unknown>; unknown: string[] } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new InvalidBodyError('body is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new InvalidBodyError('body is not a JSON object');
  const fields = new Map<string, unknown>();
  const unknown: string[] = [];
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    const field = key.toLowerCase();
    if (PATCH_KEYS.has(field)) fields.set(field, value);
    else unknown.push(key);
  }
  return { fields, unknown };
}
