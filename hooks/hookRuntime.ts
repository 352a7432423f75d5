/**
 * Shared plumbing of the hook programs that `command.local.Command` runs: progress on stderr, one-line errors with
 * every known secret redacted, exit codes (0 ok, 1 failed, 2 bad input or a refused target, nothing changed), and the
 * error classes the hooks classify by. Inputs are decoded by each hook's contract (`hooks/contracts.ts`), never here.
 */
import { isolatedHook } from "./isolateEnv";

/** Bad input to a hook: a missing or malformed environment variable, or a link it refuses (no TLS). Exit code 2. */
export class HookInputError extends Error {
    override readonly name = "HookInputError";
}

/**
 * The target is one a rotation must never touch (a privileged role, the admin's own user): the hook refused it
 * before changing anything. Exit code 2.
 */
export class GuardrailError extends Error {
    override readonly name = "GuardrailError";
}

/**
 * The source refused, or is in a state a rotation cannot work with (a missing role, no ACL support, a deployment
 * that failed), in words already meant for the operator: callers pass it on as it is instead of wrapping it in their
 * own "could not ..." line. Exit code 1.
 */
export class SourceError extends Error {
    override readonly name = "SourceError";
}

/** Where a hook's progress goes: one line each. */
export type Log = (message: string) => void;

/** Progress lines go to stderr, prefixed with the hook's name. */
export function stderrLogger(hook: string): Log {
    return (message) => process.stderr.write(`[${hook}] ${message}\n`);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The first line of an error's message: drivers append detail lines (hints, positions) that a one-line error drops. */
export function firstErrorLine(err: unknown): string {
    return ((err as Error | undefined)?.message ?? String(err)).split("\n")[0];
}

/** Shorter values are not credentials (the program's are 40–64 characters); replacing them would garble messages. */
const MIN_REDACTED_LENGTH = 8;

/**
 * A function that replaces, in a text, each of `secrets` in the forms it could take there — as it is,
 * percent-encoded (in a URL), base64 and base64url — with `[redacted]`.
 */
export function redactor(secrets: readonly string[]): (text: string) => string {
    const forms = [
        ...new Set(
            secrets
                .filter((s) => s.length >= MIN_REDACTED_LENGTH)
                .flatMap((s) => [s, encodeURIComponent(s), Buffer.from(s).toString("base64"), Buffer.from(s).toString("base64url")]),
        ),
    ].sort((a, b) => b.length - a.length); // a longer form first: it may contain a shorter one
    return (text) => forms.reduce((t, form) => t.split(form).join("[redacted]"), text);
}

/** Secrets a hook learns while it runs (an admin credential read from Secrets Manager): `runHook` redacts them too. */
const learnedSecrets: string[] = [];

/** Adds values to what `runHook` redacts from every line it prints from now on. */
export function redactFromNowOn(...values: readonly string[]): void {
    learnedSecrets.push(...values.filter((v) => v !== ""));
}

/**
 * The entry point of a hook: runs `main` with a logger, prints a failure as one line and sets the exit code. Every
 * line it prints has `secrets` redacted (a second line of defence: no message is meant to hold one). Only this
 * function decides the process's exit code. A hook whose environment was not isolated (hooks/isolateEnv.ts, the
 * program's first import) does not run.
 */
export function runHook(hook: string, secrets: readonly string[], main: (log: Log) => Promise<void>): void {
    const write = (line: string) => process.stderr.write(`[${hook}] ${redactor([...secrets, ...learnedSecrets])(line)}\n`);
    if (isolatedHook === undefined) {
        write("error: the hook's environment was not isolated (hooks/isolateEnv.ts must be its first import, and it must run as a file under hooks/)");
        process.exitCode = 1;
        return;
    }
    // The AWS SDK warns on every start under Node 20 that future releases need Node 22; the lockfile pins the
    // release we test, so the warning is noise in the rotation's output.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
    main(write).then(
        () => {
            process.exitCode = 0;
        },
        (err: unknown) => {
            const message = err instanceof Error ? err.message : String(err);
            write(`error: ${firstErrorLine(message)}`);
            process.exitCode = err instanceof HookInputError || err instanceof GuardrailError ? 2 : 1;
        },
    );
}
