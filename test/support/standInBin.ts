/**
 * Test-only entry of the `secrets-rotation` CLI: the real process wiring (automation/entry.ts `runProcess`: streams,
 * environment, Ctrl-C, exit code) with the STAND-IN engine (./standInEngine.ts) in place of the Automation API.
 * Run as `node --import tsx test/support/standInBin.ts <args>` (test/support/cli.ts does).
 */
import { runProcess } from "../../automation/entry";

// Loaded when a command first needs the engine, as the real entry loads the Automation API.
runProcess(() => (require("./standInEngine") as typeof import("./standInEngine")).createEngine());
