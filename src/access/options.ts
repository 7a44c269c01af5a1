/**
 * Checks of access-control options for the options resolvers of server and client: each throws
 * AccessRuleError naming the option and the offending entry, and returns a frozen copy.
 */
import { DenyList, type TargetPreset } from './policy.js';
import { AccessRuleError, AccessRules, type AccessRuleInput } from './rules.js';

export function checkAccessRuleList(name: string, value: unknown): readonly AccessRuleInput[] | undefined {
  if (value === undefined) return undefined;
  AccessRules.parse(value, name);
  return Object.freeze([...(value as AccessRuleInput[])]);
}

export function checkTargetPresets(name: string, value: unknown): readonly TargetPreset[] {
  if (value === undefined) return Object.freeze([]);
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw new AccessRuleError(`${name}: must be a list of preset names`);
  }
  return Object.freeze([...DenyList.fromPresets(value as string[]).presets]);
}
