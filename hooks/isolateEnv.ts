/**
 * The first import of every hook program. When the process is a hook program (its main module is one of the files
 * of `HOOK_PROGRAMS` in this directory), it removes from `process.env`, before any library is loaded, every admin
 * credential but that hook's own and the variables that would make a library print its traffic
 * (`isolateHookEnvironment`, hooks/adminEnv.ts). Imported by anything else (the CLI's `bootstrap`, tests), it does
 * nothing.
 *
 * This is the one module that works on import: imports run before the body of the module that imports them, so a
 * function called from a hook's body would run after `pg`, `ioredis` or the AWS SDK had been loaded with the whole
 * environment. `runHook` refuses to run a hook whose environment was not isolated.
 *
 * What this cannot do: `/proc/<pid>/environ` shows the environment the process started with, whatever is deleted
 * from `process.env` later; only the process that starts the hook can keep a variable out of it.
 */
import { basename, dirname, extname } from "node:path";
import { HOOK_PROGRAMS, isolateHookEnvironment } from "./adminEnv";

/** The hook this process runs and the variables removed for it; undefined when the process is no hook program. */
export const isolatedHook: { readonly hook: string; readonly removed: readonly string[] } | undefined = isolateIfHookProgram();

function isolateIfHookProgram() {
    const main = require.main?.filename;
    if (main === undefined || dirname(main) !== __dirname) return undefined;
    const hook = basename(main, extname(main));
    return HOOK_PROGRAMS.includes(hook) ? { hook, removed: isolateHookEnvironment(hook, process.env) } : undefined;
}
