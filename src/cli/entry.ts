/**
 * Process entry of the `linksocks-ts` command (the bin script and the single executable): runs
 * `main` on the process arguments and turns its result into the exit status.
 */
import { main } from './main.js';

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
