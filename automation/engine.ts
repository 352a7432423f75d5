/**
 * The one narrow interface between the CLI and Pulumi. The real implementation (`pulumiEngine.ts`) drives the
 * Automation API with the local program (`index.ts`, the same program `pulumi up` runs); the composition root
 * (`entry.ts`) builds it and hands it down in {@link CliIo}. Tests put a stand-in behind the same interface.
 */
import type { RotationRequest } from "../rotation/request";

/** Resource operation counts of a preview or update (`same`, `create`, `update`, `replace`, `delete`, ...). */
export type ChangeCounts = Readonly<Record<string, number>>;

/** What the stack's last successful update left in its outputs (no secret is ever among them). */
export interface StackOutputs {
    /** The `rotationState` output (the committed state), unvalidated; undefined if the stack was never deployed. */
    readonly rotationState?: unknown;
    /** The `rotationAttempt` output (the run in progress, if any), unvalidated. */
    readonly rotationAttempt?: unknown;
    /** The `secrets` output: per secret, non-secret facts including `awsVersionId`. */
    readonly secrets?: Readonly<Record<string, { readonly awsVersionId?: string; readonly awsSecretId?: string }>>;
}

export interface RunOptions {
    readonly request: RotationRequest;
    /** Engine output, line by line (goes to stderr). */
    readonly onOutput: (text: string) => void;
    /** Aborted when the user cancels (Ctrl-C): the run stops and the engine reports `cancelled`. */
    readonly signal: AbortSignal;
    /**
     * How many steps Pulumi may run at once (`--parallel`). A restart holds its step until the rollout is ready, and
     * Pulumi's default is 4 x the CPUs (pulumi/pulumi pkg/cmd/pulumi/operations/up.go `defaultParallel`): 8 on a
     * 2-core runner would run 30 restarts in four rounds.
     */
    readonly parallel?: number;
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
