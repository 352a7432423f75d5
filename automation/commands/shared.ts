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

/**
 * A yargs command module whose handler lazy-loads its implementation. Its builder records the options the command
 * declares (yargs `getOptions()` after the builder ran: only the matched command's builder runs), so main.ts can refuse
 * a single-valued option given twice, a boolean given a value other than true/false, and word an unknown option.
 */
export function lazy<A>(ctx: CliContext, spec: LazyCommand<A>): CommandModule<GlobalArgs, A> {
    const name = spec.command.split(" ")[0];
    return {
        command: spec.command,
        describe: spec.describe,
        builder: (y: Argv<GlobalArgs>) => {
            const built = spec.builder(y);
            const o = (built as unknown as { getOptions(): { key: Record<string, unknown>; boolean: string[]; array: string[] } }).getOptions();
            const hidden = ["help", "version"];
            ctx.parsing = {
                command: name,
                names: Object.keys(o.key).filter((k) => !hidden.includes(k)),
                booleans: o.boolean.filter((k) => !hidden.includes(k)),
                arrays: [...o.array],
            };
            return built;
        },
        handler: (args) => spec.load()(ctx, args),
    };
}

/** `--yes`, for the commands that change a stack: a live run against production needs it (or CI=true). */
export function yesOption<T>(y: Argv<T>) {
    return y.option("yes", { type: "boolean", default: false, describe: "confirm a live run against production (CI=true also confirms)" });
}
