export { AccessRuleError, AccessRules, parseAddressEntry, parsePortSpec } from './rules.js';
export type { AccessRule, AccessRuleInput, AccessRuleJson, PortSpec } from './rules.js';
export { DenyList, DestinationPolicy, TARGET_PRESETS, isTargetPreset, parseAccessRuleSpec } from './policy.js';
export type { TargetPreset } from './policy.js';
export { formatIp, isIpLiteral, parseIp } from './ip.js';
export type { IpValue } from './ip.js';
export { checkAccessRuleList, checkTargetPresets } from './options.js';
export type { AccessRuleErrorCode } from './rules.js';
