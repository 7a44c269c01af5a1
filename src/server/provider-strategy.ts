/** How a reverse token's pool chooses the provider of each new channel (`strategy` of the token). */
export const PROVIDER_STRATEGIES = ['round-robin', 'least-channels', 'random', 'sticky'] as const;
export type ProviderStrategy = (typeof PROVIDER_STRATEGIES)[number];
export const DEFAULT_PROVIDER_STRATEGY: ProviderStrategy = 'round-robin';

export function isProviderStrategy(value: unknown): value is ProviderStrategy {
  return typeof value === 'string' && (PROVIDER_STRATEGIES as readonly string[]).includes(value);
}

/** The error text for a bad `strategy` value (API, CLI, state file): it names the field. */
export function strategyError(value: unknown): string {
  return `strategy: unknown value ${JSON.stringify(value)} (one of ${PROVIDER_STRATEGIES.join(', ')})`;
}
