import type { Argv, CommandModule } from "yargs";
import type { BootstrapArgs } from "../actions/bootstrap";
import type { HistoryArgs } from "../actions/history";
import { CliContext, GlobalArgs } from "../context";

/** `status`: per secret, policy and AWS facts; exit 5 when something needs attention. */
export function statusCommand(ctx: CliContext): CommandModule<GlobalArgs, GlobalArgs> {
    return {
        command: "status",
        describe: "Show each secret's stamp, slot, age, next due date and AWS state (exit 5 if overdue, missing, drifted or held)",
        builder: (y: Argv<GlobalArgs>) => y.example("$0 status --stack production --json", "for alerting"),
        // AWS SDK and Automation API are loaded only when status runs.
        handler: (args) => (require("../actions/status") as typeof import("../actions/status")).runStatus(ctx, args),
    };
}

/** `history`: past updates and the audit trail. */
export function historyCommand(ctx: CliContext): CommandModule<GlobalArgs, HistoryArgs> {
    return {
        command: "history",
        describe: "Show past rotations: the stack's updates and the audit trail (never secrets)",
        builder: (y: Argv<GlobalArgs>) =>
            y.option("limit", { type: "number", default: 20, describe: "how many entries of each" }) as unknown as Argv<HistoryArgs>,
        handler: (args) => (require("../actions/history") as typeof import("../actions/history")).runHistory(ctx, args),
    };
}

/** `bootstrap`: create the PostgreSQL roles and the Redis ACL user the appliers expect. */
export function bootstrapCommand(ctx: CliContext): CommandModule<GlobalArgs, BootstrapArgs> {
    return {
        command: "bootstrap",
        describe: "Create (idempotently) the PostgreSQL group role + alternating login roles and the Redis ACL user; --print shows them",
        builder: (y: Argv<GlobalArgs>) =>
            y
                .option("print", { type: "boolean", default: false, describe: "print the SQL and ACL command; touch nothing" })
                .example("ROTATION_PG_ADMIN_URL=... ROTATION_REDIS_ADMIN_URL=... $0 bootstrap --stack staging", "once per environment") as unknown as Argv<BootstrapArgs>,
        handler: (args) => (require("../actions/bootstrap") as typeof import("../actions/bootstrap")).runBootstrap(ctx, args),
    };
}
