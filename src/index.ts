/**
 * linksocks-ts as a library: the server and client classes with their options and errors, metrics
 * helpers, and the protocol codec for tools that speak LinkSocks themselves.
 */
export { LinkSocksError, InvalidArgumentError } from './errors.js';
export type { LinkSocksErrorCode, LinkSocksErrorOptions, ErrorArea } from './errors.js';
export { LinkSocksServer } from './server/server.js';
export { SERVER_DEFAULTS } from './server/options.js';
export type { LinkSocksServerOptions, ResolvedServerOptions, PortRange, ClusterOptions } from './server/options.js';
export { MemoryCluster } from './cluster/memory-directory.js';
export { ClusterError } from './cluster/redis.js';
export type { ClusterErrorCode } from './cluster/redis.js';
export type { ClusterDirectory, ClusterDirectoryEvents, RemoteProviders } from './cluster/directory.js';
export type { ClusterCounters } from './cluster/cluster-counters.js';
export type { ReverseTokenOptions, ServerStatus, TokenStatus, TokenUsage, Role } from './server/tokens.js';
export type { TokenPolicy } from './server/token-policy.js';
export type { TokenPolicyChange, TokenPolicyJson } from './server/token-policy-input.js';
export type { ClientEntry, ClientRole, TokenClientEntry } from './server/admin-views.js';
export { LinkSocksClient } from './client/client.js';
export { CLIENT_DEFAULTS, MAX_SERVER_URLS } from './client/options.js';
export type { LinkSocksClientOptions, ResolvedClientOptions } from './client/options.js';
export { AuthError, ConnectorError, LinkSocksClientError } from './client/errors.js';
export type { ClientErrorCode } from './client/errors.js';
export { TokenError } from './server/token-error.js';
export type { TokenErrorCode } from './server/token-error.js';
export { StateFileError } from './server/state-file.js';
export type { StateFileErrorCode } from './server/state-file.js';
export { AccessRuleError, AccessRules, TARGET_PRESETS, parseAccessRuleSpec } from './access/index.js';
export type { AccessRule, AccessRuleInput, AccessRuleJson, PortSpec, TargetPreset } from './access/index.js';
export { UpstreamProxyError, UpstreamDialError } from './relay/upstream.js';
export type { UpstreamErrorCode } from './relay/upstream.js';
export { DialError } from './relay/dial.js';
export { Socks5Error } from './socks5/errors.js';
export { BodyError } from './socks5/http-body.js';
export type { Socks5ErrorCode } from './socks5/errors.js';
export { InvalidBodyError, BodyTooLargeError } from './api/token-request.js';
export { ApiClientError } from './cli/api-client.js';
export type { ApiClientErrorCode } from './cli/api-client.js';
export { CliError } from './cli/errors.js';
export type { CliErrorCode } from './cli/errors.js';
export { RelayCounters } from './relay/counters.js';
export type {
  ChannelInfo,
  ChannelStats,
  ConnectResult,
  ChannelMode,
  ChannelOpenEvent,
  ChannelCloseEvent,
  ConnectEvent,
} from './relay/observer.js';
export type { LinkSocksServerEvents, ClientConnectionEvent, ClientDisconnectedEvent, AuthFailedEvent, PolicyRefusedEvent } from './server/events.js';
export type { LinkSocksClientEvents, ClientCloseEvent } from './client/events.js';
export { attachMetrics, tokenLabel } from './metrics/metrics.js';
export type { MetricsOptions, MetricsSource } from './metrics/metrics.js';
export { serveMetrics } from './metrics/http.js';
export { VERSION } from './version.js';
export * from './protocol/index.js';
