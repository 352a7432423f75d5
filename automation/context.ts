/**
 * What every command runs with: its streams, environment, clock and cancellation signal. Passed in, so the CLI
 * can be driven in-process by tests and by `main` alike.
 */
import { ExitCode } from "./errors";

export interface CliIo {
    readonly stdout: NodeJS.WritableStream;
    readonly stderr: NodeJS.WritableStream;
    readonly env: NodeJS.ProcessEnv;
    readonly now: () => Date;
    /** Aborted on Ctrl-C: passed to preview/up so the engine cancels cleanly. */
    readonly signal: AbortSignal;
}

export interface CliContext {
    readonly io: CliIo;
    /** Set by the command that ran. */
    exitCode: ExitCode;
}

/** Options every command accepts. */
export interface GlobalArgs {
    readonly stack?: string;
    readonly json: boolean;
    readonly verbose: boolean;
    readonly yes: boolean;
}

/** Progress goes to stderr; results go to stdout. */
export function progress(io: CliIo, message: string): void {
    io.stderr.write(`${message}\n`);
}

/** Writes the result: exactly one JSON document with `--json`, else the human text. */
export function result(io: CliIo, json: boolean, human: () => string, document: () => unknown): void {
    io.stdout.write(json ? `${JSON.stringify(document(), null, 2)}\n` : human());
}
