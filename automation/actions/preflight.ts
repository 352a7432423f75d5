/**
 * `preflight <command>`: before a live run changes anything, checks that the environment holds every admin credential
 * that run needs (`credentials.ts`), and that the stack file is valid; with `--reach`, also that every endpoint the run
 * will touch answers from here (TCP, and TLS where the link is TLS: `reach.ts`). Prints names and endpoints, never
 * values. Exit 0 when nothing is missing and everything answers; 2 (nothing changed) naming each missing variable, or,
 * in one line, each endpoint that did not answer.
 */
import { Group } from "../../rotation/catalog";
import { CliContext, GlobalArgs, result } from "../context";
import { PreflightCommand, credentialsFor, groupsRegenerated, missingFrom } from "../credentials";
import { CliError, EXIT } from "../errors";
import { ReachResult, checkReach, endpoint, reachTargets, unreachableLine } from "../reach";
import { loadSettings, requireStack } from "../stacks";

export interface PreflightArgs extends GlobalArgs {
    readonly command: PreflightCommand;
    readonly service: readonly Group[];
    readonly provider: string;
    readonly stamp?: string;
    readonly dryRun: boolean;
    /** Also check network reach to every endpoint the live run touches (a dry run touches none). */
    readonly reach?: boolean;
    /** Bound on each endpoint's check, in seconds. */
    readonly reachTimeout?: number;
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
    const reachTimeout = args.reachTimeout ?? 5;
    if (!Number.isFinite(reachTimeout) || reachTimeout <= 0 || reachTimeout > 120) {
        throw new CliError(EXIT.usage, `--reach-timeout must be a number of seconds from 0 to 120 (got ${JSON.stringify(args.reachTimeout)}); nothing was run`);
    }
    // A dry run (pulumi preview) runs no hook, restarts nothing and polls no health URL: it touches no source.
    let reached: ReachResult[] | undefined;
    if (args.reach && !args.dryRun) {
        reached = await checkReach(reachTargets(settings, args.command, groups, io.env), io.env, reachTimeout * 1000);
        const line = unreachableLine(reached);
        if (line !== undefined) throw new CliError(EXIT.usage, `a ${run} ${line}; nothing was run (README, "Where it runs")`);
    }
    result(
        io,
        args.json,
        () =>
            `preflight: a ${run} ${required.length === 0 ? "needs no admin credential" : `has ${required.join(", ")}`}` +
            (reached === undefined ? "" : `; reaches ${reached.length === 0 ? "no endpoint (it touches none)" : reached.map((r) => endpoint(r.target)).join(", ")}`) +
            "\n",
        () => ({
            command: args.command,
            stack,
            dryRun: args.dryRun,
            groups,
            required,
            missing,
            ...(reached === undefined ? {} : { reach: reached.map((r) => ({ name: r.target.name, endpoint: endpoint(r.target), kind: r.target.kind, ok: r.ok, ms: r.ms })) }),
        }),
    );
    ctx.exitCode = EXIT.ok;
}
