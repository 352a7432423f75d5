/**
 * What the CLI makes of the engine's answers: a failure's exit code and one-line message, and what the stack's last
 * runs left in its outputs, validated.
 */
import { RotationInputError } from "../rotation/errors";
import { RotationState, StoredState, parseStored } from "../rotation/state";
import { EngineError, RotationEngine, StackOutputs } from "./engine";
import { CliError, EXIT } from "./errors";

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
        case "failed":
            return new CliError(EXIT.failed, err.message);
    }
}

/** The stack's outputs, what its last runs left in them, and the committed state (undefined if never deployed). */
export interface StackState {
    readonly outputs: StackOutputs;
    readonly stored: StoredState;
    readonly state?: RotationState;
}

/**
 * Reads the stack's outputs and validates the stored state, with engine failures and an unreadable state turned into
 * the CLI's errors (exit 1: the stack is not in a state the CLI may act on).
 */
export async function readStackState(engine: RotationEngine, stack: string): Promise<StackState> {
    try {
        const outputs = await engine.outputs(stack);
        const stored = parseStored(outputs.rotationState, outputs.rotationAttempt);
        return { outputs, stored, state: stored.committed };
    } catch (err) {
        if (err instanceof EngineError) throw engineFailure(err, stack);
        if (err instanceof RotationInputError) throw new CliError(EXIT.failed, err.message);
        throw err;
    }
}
