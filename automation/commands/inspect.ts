import type { Argv, CommandModule } from "yargs";
import type { HistoryArgs } from "../actions/history";
import { CliContext, GlobalArgs } from "../context";
import { CliError, EXIT } from "../errors";
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
                .option("limit", {
                    type: "string",
                    default: "20",
                    describe: "how many entries of each (1 to 1000)",
                    // Judged here, before the backend is asked: yargs' `number` type would pass "abc" on as NaN.
                    coerce: (v: string) => {
                        if (!/^\d{1,4}$/.test(String(v)) || Number(v) < 1 || Number(v) > 1000) {
                            throw new CliError(EXIT.usage, `--limit ${JSON.stringify(String(v))} is not a whole number from 1 to 1000`);
                        }
                        return Number(v);
                    },
                })
                .option("verify", {
                    type: "boolean",
                    default: false,
                    describe: "check the audit file's hash chain instead (offline; exit 1 naming each line that breaks it)",
                })
                .example("$0 history --verify", "was a line of the audit trail edited, inserted or deleted?") as unknown as Argv<HistoryArgs>,
        load: () => (require("../actions/history") as typeof import("../actions/history")).runHistory,
    });
}
