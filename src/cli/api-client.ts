/**
 * Client of a running server's token API (../shared/spec/API.md §4–§5), over global fetch. Works
 * against the Go server and ours alike. Every refusal becomes an ApiClientError carrying the
 * server's own error text, so the CLI can print exactly what the server said.
 */
import type { AccessRule } from '../access/index.js';
import { LinkSocksError } from '../errors.js';
import type { TokenClientEntry } from '../server/admin-views.js';

export type ApiClientErrorCode =
  | 'ERR_LINKSOCKS_API_UNREACHABLE' // no HTTP answer at all
  | 'ERR_LINKSOCKS_API_REFUSED' // the server answered with success false or an error status
  | 'ERR_LINKSOCKS_API_RESPONSE'; // an answer that is not what the API sends

export class ApiClientError extends LinkSocksError {
  override readonly name = 'ApiClientError';
  declare readonly code: ApiClientErrorCode;
  /** HTTP status, when there was an answer. */
  readonly status: number | undefined;

  constructor(code: ApiClientErrorCode, message: string, status?: number, cause?: unknown) {
    super(code, message, { cause });
    this.status = status;
  }
}

export interface AddTokenRequest {
  type: 'forward' | 'reverse' | 'connector';
  token?: string;
  port?: number;
  username?: string;
  password?: string;
  reverse_token?: string;
  allow_manage_connector?: boolean;
  /** Destination rules of the token (access control). */
  rules?: AccessRule[];
  /** [linksocks-ts] */
  strategy?: string;
  /** [linksocks-ts] Token policy (sizes and durations as strings the server parses, e.g. "5MB", "30d"). */
  max_channels?: number;
  rate_limit?: number | string;
  quota_bytes?: number | string;
  quota_period?: string;
  expires_at?: string;
}

/** [linksocks-ts] Body of PATCH /api/token/{token}: null clears a field. */
export interface TokenPolicyPatch {
  max_channels?: number | null;
  rate_limit?: number | string | null;
  quota_bytes?: number | string | null;
  quota_period?: string | null;
  expires_at?: string | null;
  disabled?: boolean;
  strategy?: string | null;
}

/** [linksocks-ts] The answer to a PATCH: the token's policy after the change. */
export interface TokenPolicyResult {
  success: true;
  token: string;
  policy: Record<string, unknown>;
}

/** The API's TokenResponse on success. */
export interface TokenResult {
  success: true;
  token: string;
  port?: number;
}

export interface StatusEntry {
  token: string;
  type: 'forward' | 'reverse';
  clients_count: number;
  port?: number;
  connector_tokens?: string[];
  /** [linksocks-ts] */
  policy?: Record<string, unknown>;
  usage?: Record<string, unknown>;
}

export interface ServerStatusReply {
  version: string;
  tokens: StatusEntry[];
  [extra: string]: unknown;
}

/** [linksocks-ts] One connected client of a token (`GET /api/token/{token}/clients`), as the server writes it. */
export type TokenClient = TokenClientEntry;

export interface ApiClientOptions {
  /** Server base URL, e.g. http://127.0.0.1:8765 (a path prefix is kept). */
  url: string;
  apiKey: string;
}

export class ApiClient {
  private readonly base: string;
  private readonly apiKey: string;

  constructor(options: ApiClientOptions) {
    this.base = options.url.replace(/\/+$/, '');
    this.apiKey = options.apiKey;
  }

  async addToken(request: AddTokenRequest): Promise<TokenResult> {
    return this.tokenCall('POST', request);
  }

  /** Sends the token in the body rather than the path, so any token text survives unchanged. */
  async removeToken(token: string): Promise<TokenResult> {
    return this.tokenCall('DELETE', { token });
  }

  /** [linksocks-ts] PATCH /api/token/{token}; servers without it (Go) answer 405. */
  async updateToken(token: string, patch: TokenPolicyPatch): Promise<TokenPolicyResult> {
    const { status, body } = await this.call('PATCH', `/api/token/${encodeURIComponent(token)}`, JSON.stringify(patch));
    if (status !== 200 || !isObject(body) || body['success'] !== true) throw refusal(status, body);
    if (!isObject(body['policy'])) throw new ApiClientError('ERR_LINKSOCKS_API_RESPONSE', 'answer without a policy', status);
    return body as unknown as TokenPolicyResult;
  }

  async status(): Promise<ServerStatusReply> {
    const { status, body } = await this.call('GET', '/api/status');
    if (status !== 200) throw refusal(status, body);
    if (!isObject(body) || !Array.isArray(body['tokens'])) {
      throw new ApiClientError('ERR_LINKSOCKS_API_RESPONSE', 'unexpected /api/status answer', status);
    }
    return body as ServerStatusReply;
  }

  /** [linksocks-ts] The connected clients of `token`; refused (404) for an unknown token. */
  async tokenClients(token: string): Promise<TokenClient[]> {
    const { status, body } = await this.call('GET', `/api/token/${encodeURIComponent(token)}/clients`);
    if (status !== 200) throw refusal(status, body);
    if (!isObject(body) || !Array.isArray(body['clients'])) {
      throw new ApiClientError('ERR_LINKSOCKS_API_RESPONSE', 'unexpected answer to the client list', status);
    }
    return body['clients'] as TokenClient[];
  }

  /** [linksocks-ts] Disconnects client `id` of `token`; refused (404) when either is unknown. */
  async kickClient(token: string, id: number): Promise<{ success: true; id: number }> {
    const { status, body } = await this.call('DELETE', `/api/token/${encodeURIComponent(token)}/clients/${id}`);
    if (status !== 200 || !isObject(body) || body['success'] !== true) throw refusal(status, body);
    return { success: true, id };
  }

  private async tokenCall(method: 'POST' | 'DELETE', payload: unknown): Promise<TokenResult> {
    const { status, body } = await this.call(method, '/api/token', JSON.stringify(payload));
    // Go answers most refusals with 200 and success false (API.md §4.1), so both are checked.
    if (status !== 200 || !isObject(body) || body['success'] !== true) throw refusal(status, body);
    if (typeof body['token'] !== 'string') {
      throw new ApiClientError('ERR_LINKSOCKS_API_RESPONSE', 'answer without a token', status);
    }
    return body as unknown as TokenResult;
  }

  private async call(method: string, path: string, body?: string): Promise<{ status: number; body: unknown }> {
    let response: Response;
    let text: string;
    try {
      response = await fetch(`${this.base}${path}`, {
        method,
        headers: { 'X-API-Key': this.apiKey, ...(body !== undefined && { 'Content-Type': 'application/json' }) },
        ...(body !== undefined && { body }),
      });
      text = await response.text();
    } catch (err) {
      const reason = (err as { cause?: { message?: string } }).cause?.message ?? (err as Error).message;
      throw new ApiClientError('ERR_LINKSOCKS_API_UNREACHABLE', `cannot reach ${this.base}: ${reason}`, undefined, err);
    }
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // plain-text answers (404 page, 400 Bad Request) stay text
    }
    return { status: response.status, body: parsed };
  }
}

/** The server's own error text when it sent one, otherwise the status and body. */
function refusal(status: number, body: unknown): ApiClientError {
  if (isObject(body) && typeof body['error'] === 'string' && body['error'] !== '') {
    return new ApiClientError('ERR_LINKSOCKS_API_REFUSED', body['error'], status);
  }
  const text = typeof body === 'string' ? body.trim() : JSON.stringify(body);
  return new ApiClientError('ERR_LINKSOCKS_API_REFUSED', `HTTP ${status}${text ? `: ${text}` : ''}`, status);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
