/**
 * {@link RotationEngine} over the Pulumi Automation API with the local program (`index.ts` in the project
 * directory); the request reaches the program in its environment. Built by the composition root (`entry.ts`).
 */
import type { ConcurrentUpdateError, OpMap, OutputMap, PulumiCommand, Stack, StackNotFoundError } from "@pulumi/pulumi/automation";
import { loadAutomationApi } from "./automationApi";
import { REQUEST_ENV, encodeRequest } from "../rotation/request";
import { EngineError, RotationEngine, RunOptions, StackOutputs } from "./engine";
import { PROJECT_DIR } from "./stacks";

export interface PulumiEngineOptions {
    /**
     * Never aborted: the composition root dispatches one `abort` event on it per Ctrl-C that the terminal did not
     * already deliver to `pulumi` (`interrupt.ts`). Passed to `up`/`preview`, whose abort handler sends `pulumi` one
     * SIGINT per event (@pulumi/pulumi 3.248.0 automation/cmd.js `exec`).
     */
    readonly pulumiInterrupts: AbortSignal;
}

/**
 * The stack, without selecting it. `LocalWorkspace.selectStack` runs `pulumi stack select --stack <name>` for a
 * local workspace (@pulumi/pulumi 3.248.0 automation/localWorkspace.js `selectStack`: only a remote workspace skips
 * `select`, "which would modify global state"), which would change the stack the checkout's raw `pulumi` commands
 * use. Selection is not needed: every command a `Stack` runs carries `--stack <name>` (automation/stack.js
 * `runPulumiCmd`; `stackOutputs` in localWorkspace.js passes it too), and with an explicit name and
 * `--non-interactive` (cmd.js `run`) the CLI neither selects nor creates a stack: it fails with "no stack named '<name>'
 * found" (pulumi/pulumi pkg/cmd/pulumi/stack/io.go @1f2ac952, `RequireStack`), which the Automation API raises as
 * `StackNotFoundError` (automation/errors.js `createCommandError`). So a typo'd stack still fails, on the first
 * command instead of a separate `stack select`.
 */
async function openStack(stack: string, request: RunOptions["request"] | undefined, pulumi: PulumiCommand): Promise<Stack> {
    const { LocalWorkspace, Stack } = loadAutomationApi();
    const workspace = await LocalWorkspace.create({
        workDir: PROJECT_DIR,
        envVars: request === undefined ? {} : { [REQUEST_ENV]: encodeRequest(request) },
        pulumiCommand: pulumi,
    });
    // `Stack.select` only calls `workspace.selectStack(name)` (automation/stack.js, the "select" constructor mode).
    workspace.selectStack = async () => undefined;
    return Stack.select(stack, workspace);
}

/**
 * Maps an Automation API failure to the kind the CLI turns into an exit code. Exported for tests.
 *
 * @param cancelled the run's signal was aborted. Every failure of a `pulumi` run reaches us as a `CommandError` built
 *        by `createCommandError` (automation/cmd.js `exec` wraps even the rejection of a process it killed), never as an
 *        `AbortError`: whether the user cancelled is known from the signal, not from the error.
 */
export function classify(err: unknown, cancelled = false): EngineError {
    if (err instanceof EngineError) return err;
    const { ConcurrentUpdateError, StackNotFoundError } = loadAutomationApi();
    if (cancelled) return new EngineError("cancelled", "the operation was cancelled");
    // Their message starts with "code: <n>" (automation/cmd.js CommandResult.toString): the CLI's own line is in stderr.
    if (err instanceof StackNotFoundError) return new EngineError("stack-not-found", stderrLine(err, /no stack named.*found/));
    if (err instanceof ConcurrentUpdateError) return new EngineError("concurrent", stderrLine(err, /\[409\] Conflict|the stack is currently locked by/));
    const message = err instanceof Error ? err.message : String(err);
    if (/spawn pulumi ENOENT|Failed to find Pulumi CLI|pulumi: (command )?not found/i.test(message)) {
        return new EngineError("unavailable", "the Pulumi CLI is not installed or not on PATH (https://www.pulumi.com/docs/install/)");
    }
    return new EngineError("failed", lastMeaningfulLine(message));
}

/** The line of the failed command's stderr that matches (without Pulumi's "error: "), else the message's first line. */
function stderrLine(err: StackNotFoundError | ConcurrentUpdateError, pattern: RegExp): string {
    const stderr = (err as unknown as { commandResult?: { stderr?: string } }).commandResult?.stderr ?? "";
    const line = stderr.split("\n").find((l) => pattern.test(l));
    return (line ?? err.message.trim().split("\n")[0]).trim().replace(/^error:\s*/, "");
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

/** Opens the stack (with the request in the program's environment) and runs `fn`, classifying any failure. */
async function onStackWith<T>(pulumi: () => Promise<PulumiCommand>, stack: string, run: RunOptions | undefined, fn: (s: Stack) => Promise<T>): Promise<T> {
    const cancelled = () => run?.signal.aborted === true;
    try {
        const s = await openStack(stack, run?.request, await pulumi());
        // A Ctrl-C that came before `pulumi up` started reached no `pulumi`: do not start it.
        if (cancelled()) throw new EngineError("cancelled", "the operation was cancelled before Pulumi started");
        return await fn(s);
    } catch (err) {
        throw classify(err, cancelled());
    }
}

/** Creates the Automation API engine. Requires the Pulumi CLI on PATH. */
export function createEngine(options: PulumiEngineOptions): RotationEngine {
    const signal = options.pulumiInterrupts;
    // One `pulumi version` per process, not one per workspace: `LocalWorkspace.create` runs `PulumiCommand.get()`
    // (which runs `pulumi version` to check the minimum version) unless given a `pulumiCommand`
    // (@pulumi/pulumi 3.248.0 automation/localWorkspace.js constructor, cmd.js `PulumiCommand.get`), and a
    // `rotate` opens a workspace to read the last outputs and another to preview or update.
    let command: Promise<PulumiCommand> | undefined;
    const pulumi = () => (command ??= loadAutomationApi().PulumiCommand.get());
    const onStack = <T>(stack: string, run: RunOptions | undefined, fn: (s: Stack) => Promise<T>) => onStackWith(pulumi, stack, run, fn);
    return {
        outputs: (stack) => onStack(stack, undefined, async (s) => outputsOf(await s.outputs())),
        preview: (stack, opts) =>
            onStack(stack, opts, async (s) => {
                const res = await s.preview({ onOutput: opts.onOutput, signal, color: "never", parallel: opts.parallel });
                return { changes: counts(res.changeSummary) };
            }),
        up: (stack, opts) =>
            onStack(stack, opts, async (s) => {
                const res = await s.up({ onOutput: opts.onOutput, signal, color: "never", parallel: opts.parallel });
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
