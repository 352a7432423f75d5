/**
 * `plan <command>`: the ordered steps a command would take, offline — from the stack file and the same pure model
 * the Pulumi program uses. No credentials, no Pulumi CLI, nothing touched.
 *
 * Without `--state`, the plan assumes the stack is deployed exactly at its stack file's stamps (slot a active,
 * nothing held); with `--state <file>` (the JSON of `pulumi stack output rotationState`) it is exact.
 */
import { readFileSync } from "node:fs";
import { planRotation, RotationState } from "../../rotation/plan";
import { parseState } from "../../rotation/state";
import { describeSteps } from "../../rotation/steps";
import { CliContext, GlobalArgs, result } from "../context";
import { CliError, EXIT } from "../errors";
import { ChangeCommand, ProviderChoice, buildRequest } from "../request";
import { stepList } from "../render";
import { loadSettings, requireStack } from "../stacks";
import { RotationInputError } from "../../rotation/errors";

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
    const settings = loadSettings(stack, io.env);
    const now = io.now();
    const exact = args.state !== undefined;
    const last = exact ? readState(args.state!) : planRotation(settings, undefined, now).nextState;
    const request = buildRequest({ command: args.command, services: args.service, provider: args.provider, stamp: args.stamp }, settings, last, now);
    let plan;
    try {
        plan = planRotation(settings, last, now, request);
    } catch (err) {
        if (err instanceof RotationInputError) throw new CliError(EXIT.usage, err.message);
        throw err;
    }
    const steps = describeSteps(settings, plan);
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

function readState(file: string): RotationState {
    let value: unknown;
    try {
        value = JSON.parse(readFileSync(file, "utf8"));
    } catch (err) {
        throw new CliError(EXIT.usage, `--state ${file}: ${(err as Error).message.split("\n")[0]}`);
    }
    try {
        return parseState(value);
    } catch (err) {
        throw new CliError(EXIT.usage, `--state ${file}: ${(err as Error).message}`);
    }
}
