/**
 * Shared plumbing of the hook programs that `command.local.Command` runs: progress on stderr, one-line errors, exit
 * codes (0 ok, 1 failed, 2 bad input), and the two error classes the hooks classify by. Inputs are decoded by each
 * hook's contract (`hooks/contracts.ts`), never here.
 */

/** Bad input to a hook: a missing or malformed environment variable. Exit code 2. */
export class HookInputError extends Error {
    override readonly name = "HookInputError";
}

/**
 * The source refused, or is in a state a rotation cannot work with (a missing role, no ACL support, a deployment
 * that failed), in words already meant for the operator: callers pass it on as it is instead of wrapping it in their
 * own "could not ..." line. Exit code 1.
 */
export class SourceError extends Error {
    override readonly name = "SourceError";
}

/** Progress lines go to stderr, prefixed with the hook's name. */
export function stderrLogger(hook: string): (message: string) => void {
    return (message) => process.stderr.write(`[${hook}] ${message}\n`);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The first line of an error's message: drivers append detail lines (hints, positions) that a one-line error drops. */
export function firstErrorLine(err: unknown): string {
    return ((err as Error | undefined)?.message ?? String(err)).split("\n")[0];
}

/**
 * The entry point of a hook: runs `main`, prints a failure as one line and sets the exit code. Only this function
 * decides the process's exit code.
 */
export function runHook(hook: string, main: () => Promise<void>): void {
    // The AWS SDK warns on every start under Node 20 that future releases need Node 22; the lockfile pins the
    // release we test, so the warning is noise in the rotation's output.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
    main().then(
        () => {
            process.exitCode = 0;
        },
        (err: unknown) => {
            const message = err instanceof Error ? err.message : String(err);
            process.stderr.write(`[${hook}] error: ${message}\n`);
            process.exitCode = err instanceof HookInputError ? 2 : 1;
        },
    );
}
