/**
 * Access-control flags shared by server and client: `--access-rule ADDR:PORT` (repeatable, see
 * access/policy.ts for the syntax), `--deny-targets PRESET` (repeatable), and the server's extra
 * API keys (`--api-key` more than once, `--api-key-file`).
 */
import * as fs from 'node:fs';
import { AccessRuleError, isTargetPreset, parseAccessRuleSpec, type AccessRule, type TargetPreset } from '../access/index.js';
import { CliError } from './errors.js';

export function parseAccessRuleFlags(specs: readonly string[] | undefined): AccessRule[] | undefined {
  if (specs === undefined || specs.length === 0) return undefined;
  return specs.map((spec) => {
    try {
      return parseAccessRuleSpec(spec);
    } catch (err) {
      if (err instanceof AccessRuleError) throw new CliError('ERR_CLI_INVALID_FLAG', `invalid --access-rule: ${err.message}`);
      throw err;
    }
  });
}

export function parseDenyTargetFlags(values: readonly string[] | undefined): TargetPreset[] | undefined {
  if (values === undefined || values.length === 0) return undefined;
  return values.flatMap((value) => value.split(',')).map((name) => {
    const preset = name.trim().toLowerCase();
    if (!isTargetPreset(preset)) throw new CliError('ERR_CLI_INVALID_FLAG', `invalid --deny-targets: ${JSON.stringify(name)} (supported: local, private)`);
    return preset;
  });
}

/**
 * Keys of an `--api-key-file`: one per line, blank lines and `#` comments ignored, surrounding
 * white space trimmed. The file's content is never echoed in errors (it holds secrets).
 */
export function readApiKeyFile(path: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (err) {
    throw new CliError('ERR_CLI_INVALID_FLAG', `--api-key-file ${path}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const keys = text.split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'));
  if (keys.length === 0) throw new CliError('ERR_CLI_INVALID_FLAG', `--api-key-file ${path}: no key in the file`);
  return keys;
}
