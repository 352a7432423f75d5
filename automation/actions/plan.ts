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
import { StoredState, parseStored } from "../../rotation/state";
import { describeSteps } from "../../rotation/steps";
import { CliContext, GlobalArgs, result } from "../context";
import { CliError, EXIT } from "../errors";
import { stepList } from "../render";
import { ChangeCommand, CommandInput, ProviderChoice, planOrRefuse, requestFor } from "../request";
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
    const exact = args.state !== undefined;
    let stored: StoredState;
    if (exact) {
        stored = readState(args.state!);
    } else {
        if (args.command === "rollback") {
            throw new CliError(EXIT.usage, "plan rollback needs the stack's state: pass --state <file> (from `pulumi stack output --json --stack " + stack + "`)");
        }
        stored = { committed: planOrRefuse(planRotation({ settings, stored: {}, now, stack }), input).nextState };
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
            (exact ? "" : " (offline: assumes the stack file's stamps are deployed, slot a active; pass --state for exact slots)") +
            `:\n${stepList(steps)}` +
            plan.warnings.map((w) => `warning: ${w}\n`).join(""),
        () => ({ command: args.command, stack, exact, request, steps, warnings: plan.warnings }),
    );
    ctx.exitCode = EXIT.ok;
}

/** The stored state in a `--state` file: `pulumi stack output --json`, or its `rotationState` alone. */
function readState(file: string): StoredState {
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
