/**
 * `rotate`, `rotate-all`, `restart`, `rollback`, `retire`, `revoke`: build the request(s), check each against the
 * stack's last state with
 * the pure planner (bad input exits 2 before the engine runs), then preview (`--dry-run`, or production without
 * `--yes`) or update through the engine. Every run leaves one audit record.
 */
import { GROUPS, Group } from "../../rotation/catalog";
import { RotationPlan, planRotation } from "../../rotation/plan";
import { RotationRequest } from "../../rotation/request";
import { Settings } from "../../rotation/settings";
import { pendingAttempt } from "../../rotation/state";
import { Step, describeSteps } from "../../rotation/steps";
import { AuditRecord, Outcome, actor, writeAudit } from "../audit";
import { CliContext, GlobalArgs, progress, result } from "../context";
import { ChangeCounts, EngineError } from "../engine";
import { CliError, EXIT, ExitCode } from "../errors";
import { judgeRequests, judgeStackFileStamps } from "../judge";
import { recordState } from "../lastState";
import { changeSummary, stepList, warningLines } from "../render";
import { engineFailure, readStackState } from "../stackState";
import { ChangeCommand, CommandInput, ProviderChoice, planOrRefuse, requestsFor } from "../request";
import { loadSettings, requireStack } from "../stacks";
import { secretsToAdopt } from "../../rotation/adoption";
import { ADOPTED_FALLBACK } from "../../rotation/catalog";
import { awsClientConfig } from "../awsClient";

export interface ChangeArgs extends GlobalArgs {
    readonly service: readonly string[];
    readonly provider: ProviderChoice;
    readonly stamp?: string;
    readonly dryRun: boolean;
    /** `--first-deployment`: nothing uses the stack's secrets yet (see CommandInput.firstDeployment). */
    readonly firstDeployment?: boolean;
    /** `rollback --revoke` (see CommandInput.revoke). */
    readonly revoke?: boolean;
}

/** Stacks whose live runs need `--yes` (or CI=true). */
const GUARDED_STACKS = ["production"];

export async function runChange(ctx: CliContext, command: ChangeCommand, args: ChangeArgs): Promise<void> {
    const { io } = ctx;
    const stack = requireStack(args.stack);
    // Judge the arguments and the stack file before anything reaches the engine.
    const input: CommandInput = { command, stack, services: args.service as Group[], provider: args.provider, stamp: args.stamp, firstDeployment: args.firstDeployment, revoke: args.revoke };
    let requests = requestsFor(input);
    const settings = loadSettings(stack, io.env);
    const now = io.now();
    // What needs no state is judged before the engine is built: no Pulumi CLI, backend or AWS is needed to refuse it.
    judgeStackFileStamps(stack, settings, now);
    judgeRequests(input, settings, requests, now);
    const title = commandLine(command, args);
    const guarded = GUARDED_STACKS.includes(stack) && !args.yes && io.env.CI !== "true";
    if (guarded && !args.dryRun) {
        // Refused before anything runs, so nothing is audited: a refusal that changed nothing is not an event.
        throw new CliError(EXIT.usage, `a live run against ${stack} needs --yes (or CI=true); nothing was run (preview it with --dry-run)`);
    }
    const previewOnly = args.dryRun || guarded;
    const engine = io.engine();

    let { stored } = await readStackState(engine, stack);
    // adopt: what it reads, listed and judged before the engine runs (the program reads and judges again).
    const adoption = command === "adopt" && stored.committed === undefined && pendingAttempt(stored) === undefined ? await readAdoptionVersions(settings) : undefined;
    // A revoke whose first run committed and whose retire did not finish resumes with the retire.
    if (requests.length > 1 && pendingAttempt(stored)?.request.retire !== undefined) requests = requests.slice(-1);
    const reports: Report[] = [];
    // One result on stdout (one JSON document with --json), however many runs the command makes.
    const flush = () =>
        result(
            io,
            args.json,
            () => reports.map((r) => r.human).join(""),
            () => (reports.length === 1 ? reports[0].document : { command, stack, runs: reports.map((r) => r.document) }),
        );
    for (const [i, request] of requests.entries()) {
        const phase =
            requests.length > 1
                ? ` (${i + 1}/${requests.length}: ${request.retire ? "retire the leaked slot" : request.rollback ? "roll back" : "make the other slot current"})`
                : "";
        const planned = planRotation({ settings, stored, now, request, stack, adoption });
        if (planned.refusal && reports.length > 0) flush();
        const plan = planOrRefuse(planned, input);
        if (previewOnly && i > 0) {
            // The engine cannot preview a run after one it did not make: this part is planned offline from the
            // state the first part would commit.
            const steps = describeSteps(plan);
            reports.push({ code: EXIT.ok, human: `Then${phase}, planned offline:\n${stepList(steps)}`, document: { command, stack, outcome: "planned", request, steps } });
            break;
        }
        // A live adopt previews first: the program reads both stores there and refuses (exit 2, nothing changed)
        // where they disagree, before the update registers anything.
        if (command === "adopt" && !previewOnly) await adoptPreflight(ctx, stack, request);
        let report: Report;
        try {
            report = await runOne(ctx, { command, args, stack, title: `${title}${phase}`, settings, plan, request, now, guarded, previewOnly });
        } catch (err) {
            if (reports.length > 0) flush();
            throw err;
        }
        reports.push(report);
        if (report.code !== EXIT.ok) break;
        if (i + 1 < requests.length) stored = previewOnly ? { committed: plan.nextState } : (await readStackState(engine, stack)).stored;
    }
    flush();
    const failed = reports.find((r) => r.code !== EXIT.ok);
    ctx.exitCode = failed?.code ?? EXIT.ok;
}

interface Report {
    readonly code: ExitCode;
    readonly human: string;
    readonly document: object;
}

interface Run {
    readonly command: ChangeCommand;
    readonly args: ChangeArgs;
    readonly stack: string;
    readonly title: string;
    readonly settings: Settings;
    readonly plan: RotationPlan;
    readonly request: RotationRequest;
    readonly now: Date;
    readonly guarded: boolean;
    readonly previewOnly: boolean;
}

/** One preview or update through the engine and its audit record; returns its exit code and report. */
async function runOne(ctx: CliContext, run: Run): Promise<Report> {
    const { io } = ctx;
    const { command, args, stack, title, settings, plan, request, now, guarded, previewOnly } = run;
    const started = Date.now();
    const engine = io.engine();
    for (const line of warningLines(plan.warnings, stack, (ctx.warned ??= new Set()))) progress(io, line);
    if (plan.mode.kind === "resume" || plan.mode.kind === "abandon") progress(io, `${plan.mode.kind === "resume" ? "resuming" : "rolling back"} an unfinished run: ${plan.mode.summary}`);
    const steps = describeSteps(plan);

    const audit = (outcome: Outcome, changes: ChangeCounts, error?: string) =>
        writeAudit(auditRecord(stack, title, args, plan, outcome, changes, Date.now() - started, io.env, now, error), {
            env: io.env,
            region: settings.aws.region,
            warn: (m) => progress(io, m),
        });

    progress(io, `${previewOnly ? "previewing" : "running"} \`${title}\` on stack ${stack}...`);
    // Every restart may wait on its rollout at the same time: enough workers for all of them, and the rest of the graph.
    const parallel = Math.max(16, plan.restarts.length + 8);
    const runOpts = { request, onOutput: (text: string) => io.stderr.write(text), signal: io.signal, parallel };
    let changes: ChangeCounts;
    try {
        // Ctrl-C before the engine started: start nothing.
        if (io.signal.aborted) throw new EngineError("cancelled", "the operation was cancelled before Pulumi started");
        const ran = previewOnly ? await engine.preview(stack, runOpts) : await engine.up(stack, runOpts);
        changes = ran.changes;
        // What this run committed, kept for `status` and `plan rollback` when the backend cannot be read (lastState.ts).
        if (!previewOnly && ran.outputs !== undefined) recordState(io.env, stack, ran.outputs, new Date(), (m) => progress(io, `warning: ${m}`));
    } catch (err) {
        if (!(err instanceof EngineError)) throw err;
        // Whether the run was cancelled is decided by the interrupt, not by how the failure is labelled: the
        // Automation API reports a cancelled `pulumi` as a plain CommandError (automation/cmd.js `exec`).
        const cause = io.signal.aborted && err.kind !== "cancelled" ? new EngineError("cancelled", "the operation was cancelled") : err;
        // The program's refusal of the values an adopt read: bad input, nothing changed (not audited).
        const adoptRefusal = command === "adopt" ? /cannot adopt: [^\n]*/.exec(cause.message)?.[0] : undefined;
        if (adoptRefusal) throw new CliError(EXIT.usage, adoptRefusal);
        const failure = engineFailure(cause, stack);
        const outcome: Outcome = cause.kind === "concurrent" ? "concurrent" : cause.kind === "cancelled" ? "cancelled" : "failed";
        await audit(outcome, {}, failure.message);
        throw failure;
    }

    const outcome: Outcome = args.dryRun ? "dry-run" : guarded ? "refused" : "succeeded";
    const refusal = guarded && !args.dryRun ? `not applied: a live run against ${stack} needs --yes (or CI=true)` : undefined;
    await audit(outcome, changes, refusal);
    if (refusal) progress(io, `error: ${refusal}`);
    return {
        code: refusal ? EXIT.usage : EXIT.ok,
        human: humanReport(title, stack, outcome, steps, changes, refusal),
        document: { command, stack, outcome, request, steps, changes, warnings: plan.warnings, ...(refusal ? { error: refusal } : {}) },
    };
}

function commandLine(command: ChangeCommand, args: ChangeArgs): string {
    return [
        command,
        ...args.service.map((s) => `--service ${s}`),
        args.provider !== "all" ? `--provider ${args.provider}` : "",
        args.stamp ? `--stamp ${args.stamp}` : "",
        args.firstDeployment ? "--first-deployment" : "",
        args.revoke ? "--revoke" : "",
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

/**
 * The AWSCURRENT version id of every secret an adopt run takes (DescribeSecret: names and version ids only, never a
 * value), so the plan and the dry run list exactly what is adopted. A missing secret is refused here (exit 2).
 */
async function readAdoptionVersions(settings: Settings): Promise<{ versions: Record<string, string> }> {
    const { DescribeSecretCommand, SecretsManagerClient } = await import("@aws-sdk/client-secrets-manager");
    const client = new SecretsManagerClient(awsClientConfig(settings.aws.region, settings.aws.endpoint));
    const versions: Record<string, string> = {};
    try {
        for (const name of secretsToAdopt()) {
            const id = `${settings.aws.secretPrefix}${name}`;
            const described = await client.send(new DescribeSecretCommand({ SecretId: id })).catch((err: Error) => {
                if (err.name === "ResourceNotFoundException") return undefined;
                throw new CliError(EXIT.failed, `cannot read Secrets Manager secret \`${id}\`: ${err.name}: ${err.message}`);
            });
            const current = Object.entries(described?.VersionIdsToStages ?? {}).find(([, stages]) => stages.includes("AWSCURRENT"))?.[0];
            // A secret the system before this one did not have (POSTGRES_USER: DATABASE_URL's user is adopted instead).
            if (current === undefined && described === undefined && ADOPTED_FALLBACK[name] !== undefined) continue;
            if (current === undefined) {
                throw new CliError(EXIT.usage, `cannot adopt: Secrets Manager secret \`${id}\` has no current value (AWSCURRENT); adopt takes the values in use, so every secret must exist`);
            }
            versions[name] = current;
        }
    } finally {
        client.destroy();
    }
    return { versions };
}

/** The preview of a live adopt; a refusal of the values read is a usage error (exit 2): nothing was changed. */
async function adoptPreflight(ctx: CliContext, stack: string, request: RotationRequest): Promise<void> {
    const { io } = ctx;
    progress(io, `reading the values in use on stack ${stack} (a preview: nothing is changed)...`);
    try {
        await io.engine().preview(stack, { request, onOutput: () => undefined, signal: io.signal });
    } catch (err) {
        if (err instanceof EngineError) {
            const refusal = /cannot adopt: [^\n]*/.exec(err.message)?.[0];
            if (refusal) throw new CliError(EXIT.usage, refusal);
            throw engineFailure(err, stack);
        }
        throw err;
    }
}
