/**
 * `plan <command>`: the ordered steps a command would take, offline — from the stack file and the same planner the
 * Pulumi program uses. No credentials, no Pulumi CLI, nothing touched.
 *
 * Without `--state`, the plan assumes the stack is deployed exactly at its stack file's stamps (slot a active,
 * nothing held, nothing unfinished); with `--state <file>` (the JSON of `pulumi stack output --json`, or of its
 * `rotationState` alone) it is exact.
 */
import { readFileSync } from "node:fs";
import { Group } from "../../rotation/catalog";
import { planRotation } from "../../rotation/plan";
import { parseStamp } from "../../rotation/stamp";
import { StoredState, parseStored } from "../../rotation/state";
import { describeSteps } from "../../rotation/steps";
import { CliContext, GlobalArgs, result } from "../context";
import { CliError, EXIT } from "../errors";
import { stepList, warningLines } from "../render";
import { ChangeCommand, CommandInput, ProviderChoice, planOrRefuse, requestFor } from "../request";
import { judgeStackFileStamps, storedStampProblem } from "../judge";
import { RecordedState, readRecordedState } from "../lastState";
import { loadSettings, requireStack } from "../stacks";

export interface PlanArgs extends GlobalArgs {
    readonly command: ChangeCommand;
    readonly service: readonly string[];
    readonly provider: ProviderChoice;
    readonly stamp?: string;
    readonly state?: string;
}

export async function runPlan(ctx: CliContext, args: PlanArgs): Promise<void> {
    const { io } = ctx;
    const stack = requireStack(args.stack);
    const input: CommandInput = { command: args.command, stack, services: args.service as Group[], provider: args.provider, stamp: args.stamp };
    const request = requestFor(input);
    const settings = loadSettings(stack, io.env);
    const now = io.now();
    judgeStackFileStamps(stack, settings, now);
    // A rollback depends on which slot is active, which the stack file does not say: without --state it is planned
    // from the state this machine's last run recorded (lastState.ts), or refused naming the --state it needs.
    const recorded = args.state === undefined && args.command === "rollback" ? readRecordedState(io.env, stack) : undefined;
    const exact = args.state !== undefined || recorded !== undefined;
    let stored: StoredState;
    if (args.state !== undefined) {
        stored = readState(args.state, now);
    } else if (recorded !== undefined) {
        stored = parseRecorded(recorded, now);
    } else {
        if (args.command === "rollback") {
            throw new CliError(
                EXIT.usage,
                `plan rollback needs the stack's state, and none is recorded on this machine: pass --state <file>, written by \`pulumi stack output --json --stack ${stack} > <file>\``,
            );
        }
        // The assumption "the stack file's stamps are deployed" is a first deployment that happened: the planner's
        // guard against a first deployment replacing credentials in use has nothing to guard here.
        // Deployed when the stack file's period started (not now): a minimum interval counts from then.
        const deployedAt = earlierDate(parseStamp(settings.stamp, "rotation:stamp").start, now);
        stored = { committed: planOrRefuse(planRotation({ settings, stored: {}, now: deployedAt, stack, request: { firstDeployment: true } }), input).nextState };
    }
    const plan = planOrRefuse(planRotation({ settings, stored, now, request, stack }), input);
    const steps = describeSteps(plan);
    const title = [args.command, ...args.service.map((s) => `--service ${s}`), args.provider !== "all" ? `--provider ${args.provider}` : ""]
        .filter(Boolean)
        .join(" ");
    result(
        io,
        args.json,
        () =>
            `Plan for \`${title}\` on stack ${stack}` +
            (recorded ? ` (from the state recorded ${recorded.recordedAt} in ${recorded.file}; pass --state for the backend's)` : "") +
            (exact ? "" : " (offline: assumes the stack file's stamps are deployed, slot a active; pass --state for exact slots)") +
            `:\n${stepList(steps)}` +
            warningLines(plan.warnings, stack, new Set()).map((line) => `${line}\n`).join(""),
        () => ({ command: args.command, stack, exact, ...(recorded ? { stateRecordedAt: recorded.recordedAt } : {}), request, steps, warnings: plan.warnings }),
    );
    ctx.exitCode = EXIT.ok;
}

/** The recorded state, judged like a --state file. */
function parseRecorded(recorded: RecordedState & { readonly file: string }, now: Date): StoredState {
    let stored: StoredState;
    try {
        stored = parseStored(recorded.outputs.rotationState, recorded.outputs.rotationAttempt);
    } catch (err) {
        throw new CliError(EXIT.usage, `${recorded.file}: ${(err as Error).message}; pass --state <file> instead`);
    }
    const problem = storedStampProblem(stored, now);
    if (problem) throw new CliError(EXIT.usage, `${recorded.file}: ${problem}; pass --state <file> instead`);
    return stored;
}

/** The stored state in a `--state` file: `pulumi stack output --json`, or its `rotationState` alone. */
function readState(file: string, now: Date): StoredState {
    const stored = parseStateFile(file);
    // The planner compares stamps; one that is no stamp, or of a future period, is this file's problem, named as such.
    const problem = storedStampProblem(stored, now);
    if (problem) throw new CliError(EXIT.usage, `--state ${file}: ${problem}`);
    return stored;
}

function parseStateFile(file: string): StoredState {
    let value: unknown;
    try {
        value = JSON.parse(readFileSync(file, "utf8"));
    } catch (err) {
        throw new CliError(EXIT.usage, `--state ${file}: ${(err as Error).message.split("\n")[0]}`);
    }
    const outputs = value as { rotationState?: unknown; rotationAttempt?: unknown } | null;
    try {
        return outputs !== null && typeof outputs === "object" && "rotationState" in outputs
            ? parseStored(outputs.rotationState, outputs.rotationAttempt)
            : parseStored(value, undefined);
    } catch (err) {
        throw new CliError(EXIT.usage, `--state ${file}: ${(err as Error).message}`);
    }
}

/** The earlier of two instants (a stamp in the file is never after now; judged above). */
function earlierDate(a: Date, b: Date): Date {
    return a.getTime() <= b.getTime() ? a : b;
}
