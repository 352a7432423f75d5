import type { Argv, CommandModule } from "yargs";
import type { PreflightArgs } from "../actions/preflight";
import { CliContext, GlobalArgs } from "../context";
import { PREFLIGHT_COMMANDS } from "../credentials";
import { aboutCommand, lazy } from "./shared";

/** `preflight <command>`: before a live run, check its environment holds the admin credentials it needs. */
export function preflightCommand(ctx: CliContext): CommandModule<GlobalArgs, PreflightArgs> {
    return lazy(ctx, {
        command: "preflight <command>",
        describe: "Check that the environment holds the admin credentials a live run of the command needs, and with --reach that every endpoint it touches answers (exit 2 naming each one missing)",
        builder: (y: Argv<GlobalArgs>) =>
            aboutCommand(y, PREFLIGHT_COMMANDS, "the command about to run")
                .option("dry-run", { type: "boolean", default: false, describe: "the run is a preview: it needs no admin credential" })
                .option("reach", {
                    type: "boolean",
                    default: false,
                    describe: "also check TCP/TLS reach to every endpoint the live run touches (databases, Redis, Typesense, R2, health URLs)",
                })
                .option("reach-timeout", { type: "number", default: 5, describe: "seconds each endpoint may take to answer (with --reach)" })
                .example([
                    ["$0 preflight rotate-all --reach --stack production", "from the runner, before the monthly rotation: credentials and network reach"],
                    ["$0 preflight rotate-all --stack production", "before the monthly rotation"],
                    ["$0 preflight rotate --service database --stack staging", "needs ROTATION_PG_ADMIN_URL"],
                ]) as unknown as Argv<PreflightArgs>,
        load: () => (require("../actions/preflight") as typeof import("../actions/preflight")).runPreflight,
    });
}
