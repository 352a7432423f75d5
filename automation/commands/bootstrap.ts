import type { Argv, CommandModule } from "yargs";
import type { BootstrapArgs } from "../actions/bootstrap";
import { CliContext, GlobalArgs } from "../context";
import { lazy } from "./shared";

/** `bootstrap`: create the PostgreSQL roles and the Redis ACL user the appliers expect. */
export function bootstrapCommand(ctx: CliContext): CommandModule<GlobalArgs, BootstrapArgs> {
    return lazy(ctx, {
        command: "bootstrap",
        describe: "Create (idempotently) the PostgreSQL group role + alternating login roles and the Redis user (ACL SETUSER, or ElastiCache CreateUser + ModifyUserGroup); --print shows them",
        builder: (y: Argv<GlobalArgs>) =>
            y
                .option("print", { type: "boolean", default: false, describe: "print the SQL and the ACL command or ElastiCache calls; touch nothing" })
                .example("ROTATION_PG_ADMIN_URL=... $0 bootstrap --stack staging", "once per environment (ElastiCache: with AWS credentials; kind acl: also ROTATION_REDIS_ADMIN_URL)") as unknown as Argv<BootstrapArgs>,
        load: () => (require("../actions/bootstrap") as typeof import("../actions/bootstrap")).runBootstrap,
    });
}
