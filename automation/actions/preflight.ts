/**
 * `preflight <command>`: offline, before a live run changes anything, checks that the environment holds every admin
 * credential that run needs (`credentials.ts`), and that the stack file is valid. Prints names, never values. Exit 0
 * when nothing is missing, 2 (nothing changed) naming each missing variable.
 */
import { Group } from "../../rotation/catalog";
import { CliContext, GlobalArgs, result } from "../context";
import { PreflightCommand, credentialsFor, groupsRegenerated, missingFrom } from "../credentials";
import { CliError, EXIT } from "../errors";
import { loadSettings, requireStack } from "../stacks";

export interface PreflightArgs extends GlobalArgs {
    readonly command: PreflightCommand;
    readonly service: readonly Group[];
    readonly provider: string;
    readonly stamp?: string;
    readonly dryRun: boolean;
}

export async function runPreflight(ctx: CliContext, args: PreflightArgs): Promise<void> {
    const { io } = ctx;
    const stack = requireStack(args.stack);
    // A bad stack file fails here too (exit 2), before the live run would. `--provider` and `--stamp` are accepted so
    // that preflight takes exactly the command's arguments; they do not change which credentials it needs.
    const settings = loadSettings(stack, io.env);
    const groups = groupsRegenerated(args.command, args.service, args.dryRun);
    const required = credentialsFor(groups, settings);
    const missing = missingFrom(io.env, required);
    const run = `${args.dryRun ? "dry run of" : "live"} \`${args.command}\` on ${stack}`;
    if (missing.length > 0) {
        throw new CliError(
            EXIT.usage,
            `a ${run} needs ${missing.join(", ")} in the environment (regenerates ${groups.join(", ")}; README, "Source appliers"); nothing was run`,
        );
    }
    result(
        io,
        args.json,
        () => `preflight: a ${run} ${required.length === 0 ? "needs no admin credential" : `has ${required.join(", ")}`}\n`,
        () => ({ command: args.command, stack, dryRun: args.dryRun, groups, required, missing }),
    );
    ctx.exitCode = EXIT.ok;
}
