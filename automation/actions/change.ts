/**
 * `rotate`, `rotate-all`, `restart`, `rollback`: build the request, check it against the stack's last state with
 * the pure planner (bad input exits 2 before the engine runs), then preview (`--dry-run`, or production without
 * `--yes`) or update through the engine. Every run leaves one audit record.
 */
import { GROUPS, Group } from "../../rotation/catalog";
import { RotationPlan, planRotation } from "../../rotation/plan";
import { Step, describeSteps } from "../../rotation/steps";
import { AuditRecord, Outcome, actor, writeAudit } from "../audit";
import { CliContext, GlobalArgs, progress, result } from "../context";
import { ChangeCounts, EngineError } from "../engine";
import { EXIT } from "../errors";
import { changeSummary, stepList } from "../render";
import { engineFailure, readStackState } from "../stackState";
import { ChangeCommand, CommandInput, ProviderChoice, planOrRefuse, requestFor } from "../request";
import { loadSettings, requireStack } from "../stacks";

export interface ChangeArgs extends GlobalArgs {
    readonly service: readonly string[];
    readonly provider: ProviderChoice;
    readonly stamp?: string;
    readonly dryRun: boolean;
}

/** Stacks whose live runs need `--yes` (or CI=true). */
const GUARDED_STACKS = ["production"];

export async function runChange(ctx: CliContext, command: ChangeCommand, args: ChangeArgs): Promise<void> {
    const { io } = ctx;
    const started = Date.now();
    const stack = requireStack(args.stack);
    // Judge the arguments and the stack file before anything reaches the engine.
    const input: CommandInput = { command, stack, services: args.service as Group[], provider: args.provider, stamp: args.stamp };
    const request = requestFor(input);
    const settings = loadSettings(stack, io.env);
    const engine = io.engine();
    const now = io.now();

    const { stored } = await readStackState(engine, stack);
    const plan = planOrRefuse(planRotation({ settings, stored, now, request, stack }), input);
    for (const w of plan.warnings) progress(io, `warning: ${w}`);
    if (plan.mode.kind !== "normal") progress(io, `${plan.mode.kind === "resume" ? "resuming" : "rolling back"} an unfinished run: ${plan.mode.summary}`);
    const steps = describeSteps(plan);
    const title = commandLine(command, args);

    const guarded = GUARDED_STACKS.includes(stack) && !args.yes && io.env.CI !== "true";
    const previewOnly = args.dryRun || guarded;
    const audit = (outcome: Outcome, changes: ChangeCounts, error?: string) =>
        writeAudit(auditRecord(stack, title, args, plan, outcome, changes, Date.now() - started, io.env, now, error), {
            env: io.env,
            region: settings.aws.region,
            warn: (m) => progress(io, m),
        });

    progress(io, `${previewOnly ? "previewing" : "running"} \`${title}\` on stack ${stack}...`);
    const runOpts = { request, onOutput: (text: string) => io.stderr.write(text), signal: io.signal };
    let changes: ChangeCounts;
    try {
        // Ctrl-C before the engine started: start nothing.
        if (io.signal.aborted) throw new EngineError("cancelled", "the operation was cancelled before Pulumi started");
        changes = (previewOnly ? await engine.preview(stack, runOpts) : await engine.up(stack, runOpts)).changes;
    } catch (err) {
        if (!(err instanceof EngineError)) throw err;
        // Whether the run was cancelled is decided by the interrupt, not by how the failure is labelled: the
        // Automation API reports a cancelled `pulumi` as a plain CommandError (automation/cmd.js `exec`).
        const cause = io.signal.aborted && err.kind !== "cancelled" ? new EngineError("cancelled", "the operation was cancelled") : err;
        const failure = engineFailure(cause, stack);
        const outcome: Outcome = cause.kind === "concurrent" ? "concurrent" : cause.kind === "cancelled" ? "cancelled" : "failed";
        await audit(outcome, {}, failure.message);
        throw failure;
    }

    const outcome: Outcome = args.dryRun ? "dry-run" : guarded ? "refused" : "succeeded";
    const refusal = guarded && !args.dryRun ? `not applied: a live run against ${stack} needs --yes (or CI=true)` : undefined;
    await audit(outcome, changes, refusal);
    result(
        io,
        args.json,
        () => humanReport(title, stack, outcome, steps, changes, refusal),
        () => ({ command, stack, outcome, request, steps, changes, warnings: plan.warnings, ...(refusal ? { error: refusal } : {}) }),
    );
    if (refusal) progress(io, `error: ${refusal}`);
    ctx.exitCode = refusal ? EXIT.usage : EXIT.ok;
}

function commandLine(command: ChangeCommand, args: ChangeArgs): string {
    return [
        command,
        ...args.service.map((s) => `--service ${s}`),
        args.provider !== "all" ? `--provider ${args.provider}` : "",
        args.stamp ? `--stamp ${args.stamp}` : "",
        args.dryRun ? "--dry-run" : "",
    ]
        .filter(Boolean)
        .join(" ");
}

function humanReport(title: string, stack: string, outcome: Outcome, steps: Step[], changes: ChangeCounts, refusal?: string): string {
    const verb = outcome === "succeeded" ? "Done" : "Would do (nothing was changed)";
    return (
        `${verb}: \`${title}\` on stack ${stack}\n${stepList(steps)}` +
        `Pulumi ${outcome === "succeeded" ? "changed" : "would change"}: ${changeSummary(changes)}` +
        `${changes.same ? ` (${changes.same} unchanged)` : ""}\n` +
        (refusal ? `${refusal}\n` : "")
    );
}

function auditRecord(
    stack: string,
    command: string,
    args: ChangeArgs,
    plan: RotationPlan,
    outcome: Outcome,
    changes: ChangeCounts,
    durationMs: number,
    env: NodeJS.ProcessEnv,
    now: Date,
    error?: string,
): AuditRecord {
    const moved = GROUPS.filter((g) => plan.groups[g].change !== "none");
    return {
        time: now.toISOString(),
        actor: actor(env),
        stack,
        command,
        provider: args.provider,
        groups: moved,
        stamps: Object.fromEntries(
            moved.map((g) => {
                const { last, next } = plan.groups[g];
                return [g, { from: last?.stamp ?? null, to: next.stamp, fromSlot: last?.active ?? null, toSlot: next.active }];
            }),
        ),
        restarts: plan.restarts.filter((r) => r.restarts).map((r) => r.id),
        outcome,
        changes,
        durationMs,
        ...(error ? { error } : {}),
    };
}
