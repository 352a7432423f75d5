/**
 * Exit codes of the CLI, and the error that carries one. Handlers return codes; only the entry point exits.
 */
export const EXIT = {
    /** Everything done and, for `status`, everything in policy. */
    ok: 0,
    /** A rotation, restart or check failed, or an unexpected error. */
    failed: 1,
    /** Bad usage or config: nothing was changed. */
    usage: 2,
    /** The stack does not exist (no stack file, or not initialised in the backend). */
    stackNotFound: 3,
    /** Another update of the stack is in progress; safe to retry later. */
    concurrent: 4,
    /** `status` only: a secret is overdue, missing, drifted or held back. */
    outOfPolicy: 5,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error the CLI reports as one line with a chosen exit code. The message never holds a secret. */
export class CliError extends Error {
    constructor(
        readonly code: ExitCode,
        message: string,
    ) {
        super(message);
        this.name = "CliError";
    }
}
