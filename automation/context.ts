/**
 * What every command runs with: its streams, environment, clock, cancellation signal and engine. Passed in by the
 * composition root (`entry.ts`), so the CLI can be driven by the real entry and by tests' entries alike.
 */
import type { RotationEngine } from "./engine";
import { ExitCode } from "./errors";

export interface CliIo {
    readonly stdout: NodeJS.WritableStream;
    readonly stderr: NodeJS.WritableStream;
    readonly env: NodeJS.ProcessEnv;
    readonly now: () => Date;
    /** Aborted on the first Ctrl-C: the command stops and reports (and audits) `cancelled`. */
    readonly signal: AbortSignal;
    /** Width of the terminal stdout writes to; undefined when it is not a terminal. */
    readonly columns?: number;
    /** The engine, built on first use (so `--help`, `plan` and `preflight` load no Pulumi). */
    readonly engine: () => RotationEngine;
}

export interface CliContext {
    readonly io: CliIo;
    /** Set by the command that ran. */
    exitCode: ExitCode;
    /** The options the command being parsed declares (recorded by its builder), for the checks and messages of main.ts. */
    parsing?: CommandOptions;
    /** The warnings printed so far (render.ts `warningLines`): each once per command. */
    warned?: Set<string>;
}

/** A command's declared options, as yargs holds them after its builder ran. */
export interface CommandOptions {
    readonly command: string;
    /** Every option name the command takes (globals included). */
    readonly names: readonly string[];
    readonly booleans: readonly string[];
    /** Options that may be given more than once (`--service`). */
    readonly arrays: readonly string[];
}

/** Options every command accepts. */
export interface GlobalArgs {
    readonly stack?: string;
    readonly json: boolean;
    readonly verbose: boolean;
    /** Declared only by the commands that change a stack (`rotate`, `rollback`, ...): the others refuse it. */
    readonly yes?: boolean;
}

/** Progress goes to stderr; results go to stdout. */
export function progress(io: CliIo, message: string): void {
    io.stderr.write(`${message}\n`);
}

/** Writes the result: exactly one JSON document with `--json`, else the human text. */
export function result(io: CliIo, json: boolean, human: () => string, document: () => unknown): void {
    io.stdout.write(json ? `${JSON.stringify(document(), null, 2)}\n` : human());
}
