import type { Argv, CommandModule } from "yargs";
import type { PlanArgs } from "../actions/plan";
import { CliContext, GlobalArgs } from "../context";
import { COMMANDS } from "../request";
import { aboutCommand, lazy } from "./shared";

/** `plan <command>`: the steps a command would take, offline. */
export function planCommand(ctx: CliContext): CommandModule<GlobalArgs, PlanArgs> {
    return lazy(ctx, {
        command: "plan <command>",
        describe: "Show the ordered steps a command would take, offline from the stack file (no credentials, nothing touched)",
        builder: (y: Argv<GlobalArgs>) =>
            aboutCommand(y, COMMANDS, "the command to plan")
                .option("state", { type: "string", describe: "JSON of `pulumi stack output rotationState`, for exact slots" })
                .example([
                    ["$0 plan rotate-all --stack staging", "what the monthly rotation would do"],
                    ["$0 plan rotate --service database --provider aws --stack production", "an AWS-only database rotation"],
                ]) as unknown as Argv<PlanArgs>,
        load: () => (require("../actions/plan") as typeof import("../actions/plan")).runPlan,
    });
}
