/**
 * {@link RotationEngine} over the Pulumi Automation API with the local program: `selectStack` (so a typo'd stack
 * fails instead of being created) in the project directory; the request reaches the program in its environment.
 */
import {
    ConcurrentUpdateError,
    LocalWorkspace,
    OpMap,
    OutputMap,
    Stack,
    StackNotFoundError,
} from "@pulumi/pulumi/automation";
import { REQUEST_ENV } from "../rotation/config";
import { EngineError, RotationEngine, RunOptions, StackOutputs } from "./engine";
import { PROJECT_DIR } from "./stacks";

async function select(stack: string, request?: RunOptions["request"]): Promise<Stack> {
    try {
        return await LocalWorkspace.selectStack(
            { stackName: stack, workDir: PROJECT_DIR },
            { envVars: request === undefined ? {} : { [REQUEST_ENV]: JSON.stringify(request) } },
        );
    } catch (err) {
        throw classify(err);
    }
}

/** Maps an Automation API failure to the kind the CLI turns into an exit code. Exported for tests. */
export function classify(err: unknown): EngineError {
    if (err instanceof EngineError) return err;
    if (err instanceof StackNotFoundError) return new EngineError("stack-not-found", firstLine(err.message));
    if (err instanceof ConcurrentUpdateError) return new EngineError("concurrent", firstLine(err.message));
    if ((err as { name?: string }).name === "AbortError") return new EngineError("cancelled", "the operation was cancelled");
    const message = err instanceof Error ? err.message : String(err);
    if (/spawn pulumi ENOENT|Failed to find Pulumi CLI|pulumi: (command )?not found/i.test(message)) {
        return new EngineError("unavailable", "the Pulumi CLI is not installed or not on PATH (https://www.pulumi.com/docs/install/)");
    }
    return new EngineError("failed", lastMeaningfulLine(message));
}

function firstLine(text: string): string {
    return text.trim().split("\n")[0];
}

/**
 * Automation API errors carry the whole CLI output. The useful line is the last specific error (a resource's, e.g.
 * the health check's), else Pulumi's generic "error: update failed". Pulumi masks secrets in its output.
 */
function lastMeaningfulLine(text: string): string {
    const lines = text
        .split("\n")
        .map((l) => l.trim().replace(/^(stdout|stderr|err\?):\s*/i, ""))
        .filter((l) => l && !/^code:/i.test(l));
    const errors = lines.filter((l) => /error:/i.test(l));
    const specific = errors.filter((l) => !/^error: (update|preview|refresh) failed$/i.test(l));
    return (specific.pop() ?? errors.pop() ?? lines.pop() ?? "pulumi failed").slice(0, 500);
}

function outputsOf(map: OutputMap): StackOutputs {
    return Object.fromEntries(Object.entries(map).filter(([, v]) => !v.secret).map(([k, v]) => [k, v.value]));
}

const counts = (ops: OpMap | undefined) => ({ ...(ops ?? {}) }) as Record<string, number>;

/** Selects the stack (with the request in the program's environment) and runs `fn`, classifying any failure. */
async function onStack<T>(stack: string, request: RunOptions["request"] | undefined, fn: (s: Stack) => Promise<T>): Promise<T> {
    const s = await select(stack, request);
    try {
        return await fn(s);
    } catch (err) {
        throw classify(err);
    }
}

/** Creates the Automation API engine. Requires the Pulumi CLI on PATH. */
export function createEngine(): RotationEngine {
    return {
        outputs: (stack) => onStack(stack, undefined, async (s) => outputsOf(await s.outputs())),
        preview: (stack, opts) =>
            onStack(stack, opts.request, async (s) => {
                const res = await s.preview({ onOutput: opts.onOutput, signal: opts.signal, color: "never" });
                return { changes: counts(res.changeSummary) };
            }),
        up: (stack, opts) =>
            onStack(stack, opts.request, async (s) => {
                const res = await s.up({ onOutput: opts.onOutput, signal: opts.signal, color: "never" });
                return { changes: counts(res.summary.resourceChanges), outputs: outputsOf(res.outputs) };
            }),
        history: (stack, limit) =>
            onStack(stack, undefined, async (s) => {
                // Never with secrets; and only the fields below leave this function (not `config`/`environment`).
                const updates = await s.history(limit, 1, false);
                return updates.map((u) => ({
                    version: u.version,
                    kind: u.kind,
                    result: u.result,
                    startTime: new Date(u.startTime).toISOString(),
                    endTime: u.endTime ? new Date(u.endTime).toISOString() : undefined,
                    changes: counts(u.resourceChanges),
                }));
            }),
    };
}
