import type { Argv, CommandModule } from "yargs";
import type { PlanArgs } from "../actions/plan";
import { CliContext, GlobalArgs } from "../context";
import { COMMANDS, PROVIDER_CHOICES } from "../request";
import { lazy, serviceOption, stampOption } from "./shared";

/** `plan <command>`: the steps a command would take, offline. */
export function planCommand(ctx: CliContext): CommandModule<GlobalArgs, PlanArgs> {
    return lazy(ctx, {
        command: "plan <command>",
        describe: "Show the ordered steps a command would take, offline from the stack file (no credentials, nothing touched)",
        builder: (y: Argv<GlobalArgs>) =>
            stampOption(serviceOption(y))
                .positional("command", { choices: COMMANDS, demandOption: true, describe: "the command to plan" })
                .option("provider", { choices: PROVIDER_CHOICES, default: "all" as const, describe: "limit to one provider's stores and consumers" })
                .option("state", { type: "string", describe: "JSON of `pulumi stack output rotationState`, for exact slots" })
                .example("$0 plan rotate-all --stack staging", "what the monthly rotation would do")
                .example("$0 plan rotate --service database --provider aws --stack production", "an AWS-only database rotation") as unknown as Argv<PlanArgs>,
        load: () => (require("../actions/plan") as typeof import("../actions/plan")).runPlan,
    });
}
