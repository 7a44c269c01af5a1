// Runs the CLI from TypeScript sources (tests spawn this with `node --import tsx`).
import '../../src/cli/entry.js';
