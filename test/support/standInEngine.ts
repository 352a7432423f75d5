/**
 * STAND-IN for the Pulumi Automation API, used only by the CLI's process-level tests (the Pulumi CLI and its
 * plugins cannot run here). The test entry `standInBin.ts` hands it to the CLI's composition root. It is not Pulumi:
 * it runs the pure planner on the stack file, the stored state and the request, keeps the resulting state in a JSON
 * file per stack, and records every call so tests can see what the CLI asked of the engine.
 *
 * Its only use of the planner is `planRotation` in `run()` (reading `plan.nextState` and, per secret, `spec.name`,
 * `awsSecretId`, `version.aws` and `changed`).
 *
 * Environment: ROTATION_STANDIN_DIR (state and call log), ROTATION_STANDIN_STACKS (stacks that exist in the
 * "backend", default staging,production), ROTATION_STANDIN_FAIL (`concurrent`, `up`, `preview` or `outputs`: fail
 * that way), ROTATION_STANDIN_FAIL_MESSAGE (the failure's message, instead of the stand-in's own), ROTATION_STANDIN_OUTPUT
 * (engine output preview/up print before anything else, as Pulumi's own output reaches `onOutput`) in pieces of
 * ROTATION_STANDIN_OUTPUT_CHUNK characters (default: all at once), ROTATION_STANDIN_SLEEP_MS (make preview/up take
 * this long, honouring the abort signal).
 */
import { createHash } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ChangeCounts, EngineError, RotationEngine, RunOptions, StackOutputs, UpdateRecord } from "../../automation/engine";
import { loadSettings } from "../../automation/stacks";
import { RotationPlan, planRotation } from "../../rotation/plan";
import { parseStored } from "../../rotation/state";

interface StackFile {
    outputs: StackOutputs;
    history: UpdateRecord[];
}

/** One call the CLI made, as the call log records it. */
export interface StandInCall {
    readonly op: "outputs" | "preview" | "up" | "history";
    readonly stack: string;
    readonly request?: unknown;
}

function dir(): string {
    const d = process.env.ROTATION_STANDIN_DIR;
    if (!d) throw new Error("ROTATION_STANDIN_DIR is not set");
    mkdirSync(d, { recursive: true });
    return d;
}

function load(stack: string): StackFile {
    const file = join(dir(), `${stack}.json`);
    return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as StackFile) : { outputs: {}, history: [] };
}

function record(call: StandInCall): void {
    appendFileSync(join(dir(), "calls.jsonl"), `${JSON.stringify(call)}\n`);
}

function check(stack: string, op: string): void {
    const stacks = (process.env.ROTATION_STANDIN_STACKS ?? "staging,production").split(",");
    if (!stacks.includes(stack)) throw new EngineError("stack-not-found", `no stack named '${stack}' found`);
    if (process.env.ROTATION_STANDIN_FAIL === "concurrent" && op !== "outputs") {
        throw new EngineError("concurrent", "[409] Conflict: Another update is currently in progress.");
    }
    if (process.env.ROTATION_STANDIN_FAIL === op) {
        throw new EngineError("failed", process.env.ROTATION_STANDIN_FAIL_MESSAGE || `error: ${op} failed in the stand-in engine`);
    }
}

/** Prints ROTATION_STANDIN_OUTPUT through `onOutput`, in chunks that may split a line (and a secret) anywhere. */
function emitOutput(opts: RunOptions): void {
    const text = process.env.ROTATION_STANDIN_OUTPUT ?? "";
    const size = Number(process.env.ROTATION_STANDIN_OUTPUT_CHUNK ?? 0) || text.length;
    for (let i = 0; i < text.length; i += size) opts.onOutput(text.slice(i, i + size));
}

/**
 * Waits ROTATION_STANDIN_SLEEP_MS. On abort it fails the way the real Automation API does: a plain failure (a
 * CommandError with Pulumi's output), not a "cancelled" one, so the CLI must tell a cancellation from the signal.
 */
async function pause(signal: AbortSignal): Promise<void> {
    const ms = Number(process.env.ROTATION_STANDIN_SLEEP_MS ?? 0);
    if (ms <= 0) return;
    await new Promise<void>((resolve, reject) => {
        const t = setTimeout(resolve, ms);
        signal.addEventListener("abort", () => {
            clearTimeout(t);
            reject(new EngineError("failed", "error: update canceled"));
        });
    });
}

/** Resource operation counts, roughly as the program would report them: a replaced SecretVersion per new AWS value. */
function changesOf(plan: RotationPlan): ChangeCounts {
    const replace = plan.secrets.filter((s) => s.changed.aws).length;
    const update = plan.secrets.filter((s) => s.changed.k8s).length;
    return { replace, update, same: 40 - replace - update };
}

function run(stack: string, opts: RunOptions): { plan: RotationPlan; file: StackFile } {
    const file = load(stack);
    const planned = planRotation({
        settings: loadSettings(stack, process.env),
        stored: parseStored(file.outputs.rotationState, file.outputs.rotationAttempt),
        now: new Date(),
        request: opts.request,
        stack,
    });
    if (planned.refusal !== undefined) throw new EngineError("failed", `error: the program refused the run (${planned.refusal.kind})`);
    const { plan } = planned;
    opts.onOutput(`[stand-in engine] ${stack}: ${plan.secrets.filter((s) => s.changed.aws || s.changed.k8s).length} secrets change\n`);
    return { plan, file };
}

export function createEngine(): RotationEngine {
    return {
        async outputs(stack) {
            record({ op: "outputs", stack });
            check(stack, "outputs");
            return load(stack).outputs;
        },
        async preview(stack, opts) {
            record({ op: "preview", stack, request: opts.request });
            emitOutput(opts);
            check(stack, "preview");
            await pause(opts.signal);
            return { changes: changesOf(run(stack, opts).plan) };
        },
        async up(stack, opts) {
            record({ op: "up", stack, request: opts.request });
            emitOutput(opts);
            check(stack, "up");
            await pause(opts.signal);
            const { plan, file } = run(stack, opts);
            const previous = file.outputs.secrets ?? {};
            const secrets = Object.fromEntries(
                plan.secrets.map((s) => {
                    const id = createHash("sha256").update(`${s.awsSecretId}|${s.version.aws}`).digest("hex");
                    const versionId = s.changed.aws ? `${id.slice(0, 8)}-${id.slice(8, 12)}-${id.slice(12, 16)}-${id.slice(16, 20)}-${id.slice(20, 32)}` : previous[s.spec.name]?.awsVersionId;
                    return [s.spec.name, { awsSecretId: s.awsSecretId, awsVersionId: versionId }];
                }),
            );
            const changes = changesOf(plan);
            const now = new Date().toISOString();
            const next: StackFile = {
                outputs: { rotationState: plan.nextState, secrets },
                history: [{ version: file.history.length + 1, kind: "update", result: "succeeded", startTime: now, endTime: now, changes }, ...file.history],
            };
            writeFileSync(join(dir(), `${stack}.json`), JSON.stringify(next, null, 2));
            return { changes, outputs: next.outputs };
        },
        async history(stack, limit) {
            record({ op: "history", stack });
            check(stack, "history");
            return load(stack).history.slice(0, limit);
        },
    };
}
