/** CLI entry: `main(argv)` parses, runs one command and resolves to the exit status. */
import { CommanderError, type OutputConfiguration } from 'commander';
import { CliError } from './errors.js';
import { createCliLogger } from './logger.js';
import { applyModeEnv } from './mode-env.js';
import { parseClientFlags } from './parse-client.js';
import { parseServerFlags } from './parse-server.js';
import { fatalToStderr, processReloadSignal, processSignals } from './process-io.js';
import { buildProgram } from './program.js';
import { runClient } from './run-client.js';
import { runServer } from './run-server.js';
import { registerTokenCommand } from './token-command.js';
import type { Env } from './values.js';
import { versionLine } from './version.js';

export interface MainOptions {
  env?: Env;
  /** Where help and commander's errors go; default the process streams. */
  output?: OutputConfiguration;
  /**
   * After a server/client command ends, exit the process even if some handle is still open
   * (a stuck socket must not keep a stopped proxy alive). Off for in-process tests.
   */
  forceExit?: boolean;
}

/** How long a finished command may take to release its handles before the process is ended. */
const FORCE_EXIT_GRACE_MS = 3000;

export async function main(argv: string[], options: MainOptions = {}): Promise<number> {
  const env = options.env ?? process.env;
  const writeErr = options.output?.writeErr ?? ((s: string) => void process.stderr.write(s));
  const writeOut = options.output?.writeOut ?? ((s: string) => void process.stdout.write(s));
  const forceExit = options.forceExit ?? true;

  // Configuration errors are printed like Go's log.Fatal (stderr, status 1).
  const guard = async (run: () => Promise<number>): Promise<number> => {
    let code: number;
    try {
      code = await run();
    } catch (err) {
      if (!(err instanceof CliError)) throw err;
      return fatalToStderr({ writeErr }, err.message);
    }
    if (forceExit) setTimeout(() => process.exit(code), FORCE_EXIT_GRACE_MS).unref();
    return code;
  };

  const { program, exitCode } = buildProgram(
    {
      server: (flags) =>
        guard(async () => {
          const config = parseServerFlags(flags, env);
          const logger = createCliLogger({ debug: config.debug, format: config.logFormat });
          return runServer(config, {
            logger,
            writeErr,
            onShutdownSignal: processSignals,
            onReloadSignal: processReloadSignal,
          });
        }),
      client: (command, flags) =>
        guard(async () => {
          const config = parseClientFlags(command, flags, env);
          const logger = createCliLogger({ debug: config.debug, format: config.logFormat });
          return runClient(config, { logger, writeErr, onShutdownSignal: processSignals });
        }),
      version: () => {
        writeOut(`${versionLine()}\n`);
        return 0;
      },
    },
    options.output,
  );
  // Beyond Go: `token add|remove|list` talks to a running server's HTTP API.
  registerTokenCommand(program, { env, writeOut, writeErr });

  const args = applyModeEnv(argv.slice(2), env.LINKSOCKS_MODE);
  if (args.length === 0) {
    // Go prints help and succeeds when no command is given.
    writeOut(program.helpInformation());
    return 0;
  }
  try {
    await program.parseAsync(args, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 1;
    throw err;
  }
  return exitCode();
}
