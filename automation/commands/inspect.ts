import type { Argv, CommandModule } from "yargs";
import type { HistoryArgs } from "../actions/history";
import { CliContext, GlobalArgs } from "../context";
import { lazy } from "./shared";

/** `status`: per secret, policy and AWS facts; exit 5 when something needs attention. */
export function statusCommand(ctx: CliContext): CommandModule<GlobalArgs, GlobalArgs> {
    return lazy(ctx, {
        command: "status",
        describe: "Show each secret's stamp, slot, age, next due date and AWS state (exit 5 if overdue, missing, drifted or held)",
        builder: (y: Argv<GlobalArgs>) => y.example("$0 status --stack production --json", "for alerting"),
        load: () => (require("../actions/status") as typeof import("../actions/status")).runStatus,
    });
}

/** `history`: past updates and the audit trail. */
export function historyCommand(ctx: CliContext): CommandModule<GlobalArgs, HistoryArgs> {
    return lazy(ctx, {
        command: "history",
        describe: "Show past rotations: the stack's updates and the audit trail (never secrets); --verify checks the audit file's hash chain",
        builder: (y: Argv<GlobalArgs>) =>
            y
                .option("limit", { type: "number", default: 20, describe: "how many entries of each" })
                .option("verify", {
                    type: "boolean",
                    default: false,
                    describe: "check the audit file's hash chain instead (offline; exit 1 naming each line that breaks it)",
                })
                .example("$0 history --verify", "was a line of the audit trail edited, inserted or deleted?") as unknown as Argv<HistoryArgs>,
        load: () => (require("../actions/history") as typeof import("../actions/history")).runHistory,
    });
}
