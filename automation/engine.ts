/**
 * The one narrow interface between the CLI and Pulumi. The real implementation drives the Automation API with the
 * local program (`index.ts`, the same program `pulumi up` runs); tests put a stand-in behind the same interface.
 */
import { RotationRequest } from "../rotation/config";
import { RotationInputError } from "../rotation/errors";
import { RotationState } from "../rotation/plan";
import { parseState } from "../rotation/state";
import { CliError, EXIT } from "./errors";

/** Resource operation counts of a preview or update (`same`, `create`, `update`, `replace`, `delete`, ...). */
export type ChangeCounts = Readonly<Record<string, number>>;

/** What the stack's last successful update left in its outputs (no secret is ever among them). */
export interface StackOutputs {
    /** The `rotationState` output, unvalidated; undefined if the stack was never deployed. */
    readonly rotationState?: unknown;
    /** The `secrets` output: per secret, non-secret facts including `awsVersionId`. */
    readonly secrets?: Readonly<Record<string, { readonly awsVersionId?: string; readonly awsSecretId?: string }>>;
}

export interface RunOptions {
    readonly request: RotationRequest;
    /** Engine output, line by line (goes to stderr). */
    readonly onOutput: (text: string) => void;
    readonly signal: AbortSignal;
}

export interface RunResult {
    readonly changes: ChangeCounts;
    readonly outputs?: StackOutputs;
}

/** One past update of the stack, as `history` shows it. */
export interface UpdateRecord {
    readonly version: number;
    readonly kind: string;
    readonly result: string;
    readonly startTime: string;
    readonly endTime?: string;
    readonly changes: ChangeCounts;
}

export interface RotationEngine {
    /** The stack's current outputs. @throws EngineError("stack-not-found") */
    outputs(stack: string): Promise<StackOutputs>;
    /** `pulumi preview` with the request: changes nothing. */
    preview(stack: string, opts: RunOptions): Promise<RunResult>;
    /** `pulumi up` with the request. @throws EngineError("failed" | "concurrent" | "cancelled") */
    up(stack: string, opts: RunOptions): Promise<RunResult>;
    /** Past updates, newest first. */
    history(stack: string, limit: number): Promise<UpdateRecord[]>;
}

export type EngineErrorKind = "stack-not-found" | "concurrent" | "cancelled" | "unavailable" | "failed";

/** A failure of the engine, classified so the CLI can pick the exit code. Its message never holds a secret. */
export class EngineError extends Error {
    constructor(
        readonly kind: EngineErrorKind,
        message: string,
    ) {
        super(message);
        this.name = "EngineError";
    }
}

/** The CLI's exit code and one-line message for an engine failure. */
export function engineFailure(err: EngineError, stack: string): CliError {
    switch (err.kind) {
        case "stack-not-found":
            return new CliError(EXIT.stackNotFound, `stack ${stack} does not exist in the Pulumi backend (pulumi stack init ${stack}): ${err.message}`);
        case "concurrent":
            return new CliError(EXIT.concurrent, `another update of stack ${stack} is in progress; nothing was changed, retry when it has finished`);
        case "cancelled":
            return new CliError(EXIT.failed, `cancelled: ${err.message}`);
        case "unavailable":
            return new CliError(EXIT.failed, err.message);
        case "failed":
            return new CliError(EXIT.failed, err.message);
    }
}

/**
 * The stack's outputs and its validated rotation state (undefined if never deployed), with engine failures and an
 * unreadable state turned into the CLI's errors.
 */
export async function readStackState(engine: RotationEngine, stack: string): Promise<{ outputs: StackOutputs; state?: RotationState }> {
    try {
        const outputs = await engine.outputs(stack);
        return { outputs, state: outputs.rotationState === undefined ? undefined : parseState(outputs.rotationState) };
    } catch (err) {
        if (err instanceof EngineError) throw engineFailure(err, stack);
        if (err instanceof RotationInputError) throw new CliError(EXIT.failed, err.message);
        throw err;
    }
}

/**
 * The engine to use: the Automation API, unless `ROTATION_ENGINE_MODULE` names a module exporting
 * `createEngine()` — the seam the CLI's process-level tests use for their stand-in.
 */
export function loadEngine(env: NodeJS.ProcessEnv): RotationEngine {
    const module = env.ROTATION_ENGINE_MODULE;
    if (module) {
        return (require(module) as { createEngine(): RotationEngine }).createEngine();
    }
    return (require("./pulumiEngine") as typeof import("./pulumiEngine")).createEngine();
}
