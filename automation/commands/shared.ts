import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { GROUPS } from "../../rotation/catalog";
import { CliContext, GlobalArgs } from "../context";
import { PROVIDER_CHOICES } from "../request";

/** `--service`, repeatable; yargs rejects anything but a group name. */
export function serviceOption<T>(y: Argv<T>) {
    return y.option("service", {
        type: "string",
        array: true,
        choices: GROUPS,
        default: [] as string[],
        describe: "rotation group (repeatable)",
    });
}

/** `--stamp`, for commands that move a stamp. */
export function stampOption<T>(y: Argv<T>) {
    return y.option("stamp", {
        type: "string",
        describe: "explicit stamp (YYYY-MM, YYYY-MM-DD or YYYY-MM-DDTHHMMZ, UTC); default: from the clock",
    });
}

/**
 * For commands about another command (`plan <command>`, `preflight <command>`): the positional and the options that
 * command takes, so both accept exactly its arguments.
 */
export function aboutCommand<T>(y: Argv<T>, commands: readonly string[], describe: string) {
    return stampOption(serviceOption(y))
        .positional("command", { choices: commands, demandOption: true, describe })
        .option("provider", { choices: PROVIDER_CHOICES, default: "all" as const, describe: "limit to one provider's stores and consumers, as for the command" });
}

/** A command's implementation: sets `ctx.exitCode`, throws `CliError` for a one-line failure. */
export type Action<A> = (ctx: CliContext, args: ArgumentsCamelCase<A>) => Promise<void>;

export interface LazyCommand<A> {
    readonly command: string;
    readonly describe: string;
    readonly builder: (y: Argv<GlobalArgs>) => Argv<A>;
    /**
     * Loads the implementation; called only when the command runs, so `--help` and the other commands load neither
     * Pulumi nor the AWS SDK. Use `require` with a literal path, not `import()`: tsx keeps `import()` as native ESM
     * resolution.
     */
    readonly load: () => Action<A>;
}

/** A yargs command module whose handler lazy-loads its implementation. */
export function lazy<A>(ctx: CliContext, spec: LazyCommand<A>): CommandModule<GlobalArgs, A> {
    return {
        command: spec.command,
        describe: spec.describe,
        builder: spec.builder,
        handler: (args) => spec.load()(ctx, args),
    };
}
