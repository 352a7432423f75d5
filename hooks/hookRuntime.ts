/**
 * Shared plumbing of the hook programs that `command.local.Command` runs: inputs from the environment, progress
 * on stderr, one-line errors, exit codes (0 ok, 1 failed, 2 bad input). Inputs arrive in the environment, never on
 * the command line, so nothing a hook is given shows up in `ps`.
 */

/** Bad input to a hook: a missing or malformed environment variable. Exit code 2. */
export class HookInputError extends Error {}

/** A required, non-empty environment variable. */
export function requireEnv(env: NodeJS.ProcessEnv, name: string): string {
    const value = env[name];
    if (value === undefined || value.trim() === "") {
        throw new HookInputError(`environment variable ${name} is required`);
    }
    return value;
}

/** A positive number from the environment (fractions allowed), or the default when unset. */
export function numberEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
    const raw = env[name];
    if (raw === undefined || raw.trim() === "") {
        return fallback;
    }
    const value = Number(raw);
    if (!Number.isFinite(value) || value <= 0) {
        throw new HookInputError(`environment variable ${name} must be a positive number (got ${JSON.stringify(raw)})`);
    }
    return value;
}

/** Progress lines go to stderr, prefixed with the hook's name. */
export function stderrLogger(hook: string): (message: string) => void {
    return (message) => process.stderr.write(`[${hook}] ${message}\n`);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

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
