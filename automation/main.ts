/**
 * The `secrets-rotation` CLI: yargs over one module per command. Command modules lazy-import their
 * implementations, so `--help` loads neither Pulumi nor a provider.
 */
import yargs from "yargs";
import { CliContext, CliIo, CommandOptions, GlobalArgs } from "./context";
import { PREFLIGHT_COMMANDS } from "./credentials";
import { COMMANDS } from "./request";
import { CliError, EXIT, ExitCode } from "./errors";
import { changeCommands } from "./commands/change";
import { planCommand } from "./commands/plan";
import { bootstrapCommand } from "./commands/bootstrap";
import { historyCommand, statusCommand } from "./commands/inspect";
import { preflightCommand } from "./commands/preflight";
import { policyCommand } from "./commands/policy";

const HELP_EPILOGUE = `Exit codes: 0 ok, 1 failed, 2 usage or config error (nothing changed), 3 stack not found,
4 another update in progress (retry later), 5 status: something overdue, missing, drifted or held back.
Progress goes to stderr; results to stdout (one JSON document with --json).`;

/** Runs the CLI and returns its exit code. Never exits the process itself. */
export async function main(argv: readonly string[], io: CliIo): Promise<ExitCode> {
    const ctx: CliContext = { io, exitCode: EXIT.ok };
    const parser = yargs([...argv])
        .scriptName("secrets-rotation")
        .usage("$0 <command> [options]\n\nZero-downtime rotation of the BuyWhere API's secrets (AWS Secrets Manager + Kubernetes).")
        .option("stack", { type: "string", describe: "stack to act on (a Pulumi.<stack>.yaml): staging, production, or local (the sandbox)", global: true })
        .option("json", { type: "boolean", default: false, describe: "print the result as one JSON document", global: true })
        .option("verbose", { type: "boolean", default: false, describe: "print stack traces with errors", global: true })
        .command(changeCommands(ctx))
        .command(statusCommand(ctx))
        .command(historyCommand(ctx))
        .command(planCommand(ctx))
        .command(preflightCommand(ctx))
        .command(policyCommand(ctx))
        .command(bootstrapCommand(ctx))
        // Before yargs' own validation: how each option was written, which the parsed arguments no longer show.
        .middleware(() => judgeOptionForms(argv, ctx.parsing), true)
        .demandCommand(1, "a command is required")
        .strict()
        .recommendCommands()
        .epilogue(HELP_EPILOGUE)
        .wrap(Math.min(120, io.columns ?? 120))
        .exitProcess(false)
        .fail((message, err) => {
            // Thrown, not recorded: yargs would otherwise go on to run the handler after a validation failure.
            // A `coerce` that throws reaches here re-wrapped by yargs (a YError with its message): still a usage error.
            if (err !== undefined && err !== null && !(err instanceof CliError) && err.name === "YError") throw new CliError(EXIT.usage, err.message);
            throw err ?? new CliError(EXIT.usage, reword(message.replace(/\s*\n\s*/g, " "), argv, ctx.parsing));
        })
        .help()
        .alias("h", "help")
        .version(VERSION);
    try {
        await parser.parseAsync();
    } catch (err) {
        return report(io, err, argv.includes("--verbose"));
    }
    return ctx.exitCode;
}

/** The package's version (`--version`). */
const VERSION: string = (require("../package.json") as { version: string }).version;

const usage = (message: string) => new CliError(EXIT.usage, message);

/** `--dryRun` -> `dry-run`: yargs accepts either spelling of an option (yargs-parser "camel-case-expansion"). */
const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/**
 * What yargs would take silently: a single-valued option given twice (yargs-parser turns `--stack a --stack b` into an
 * array, "duplicate-arguments-array", and keeps one of two booleans), and a boolean given a value other than true or
 * false (yargs-parser reads `--json=maybe` as false). Judged on the words as typed, before yargs' own validation.
 */
function judgeOptionForms(argv: readonly string[], options: CommandOptions | undefined): void {
    if (options === undefined) return;
    const seen = new Map<string, string[]>();
    const end = argv.indexOf("--");
    for (const [i, word] of (end < 0 ? argv : argv.slice(0, end)).entries()) {
        if (!word.startsWith("--") || word === "--") continue;
        const eq = word.indexOf("=");
        let name = kebab(word.slice(2, eq < 0 ? undefined : eq));
        const value = eq < 0 ? undefined : word.slice(eq + 1);
        if (name.startsWith("no-") && options.booleans.includes(name.slice(3))) name = name.slice(3);
        if (!options.names.includes(name)) continue; // yargs' strict mode names it
        if (options.booleans.includes(name)) {
            if (value !== undefined && !["true", "false"].includes(value)) {
                throw usage(`${word}: --${name} is a switch: give it alone (or --${name}=true / --${name}=false)`);
            }
        }
        const next = argv[i + 1];
        const shown = value ?? (options.booleans.includes(name) || next === undefined || next.startsWith("-") ? "" : next);
        seen.set(name, [...(seen.get(name) ?? []), shown]);
    }
    for (const [name, values] of seen) {
        if (values.length > 1 && !options.arrays.includes(name)) {
            const given = values.filter(Boolean).map((v) => JSON.stringify(v));
            const what = options.booleans.includes(name) ? "" : ": it takes one value";
            throw usage(`--${name} is given ${values.length} times${given.length ? ` (${given.join(", ")})` : ""}${what}; give it once`);
        }
    }
}

/** yargs' messages in the CLI's words: the input, and what is allowed instead. */
function reword(message: string, argv: readonly string[], options: CommandOptions | undefined): string {
    const unknown = /^Unknown arguments?: (.*)$/.exec(message);
    if (unknown) {
        const names = unknown[1].split(", ");
        const flag = names.find((n) => argv.some((w) => w === `--${n}` || w.startsWith(`--${n}=`) || w === `-${n}`));
        if (options !== undefined && flag !== undefined) {
            const dashes = flag.length === 1 ? "-" : "--";
            return `${dashes}${flag} is not an option of \`${options.command}\`; it takes ${options.names.map((n) => `--${n}`).join(", ")} (see \`secrets-rotation ${options.command} --help\`)`;
        }
        if (options === undefined) return `unknown command ${JSON.stringify(names[0])}: commands are ${[...COMMANDS, "status", "history", "plan", "preflight", "policy", "bootstrap"].join(", ")} (see --help)`;
        return `unexpected argument ${JSON.stringify(names[0])} for \`${options.command}\` (see \`secrets-rotation ${options.command} --help\`)`;
    }
    if (/^Not enough non-option arguments/.test(message) && (options?.command === "plan" || options?.command === "preflight")) {
        const commands = options.command === "plan" ? COMMANDS : PREFLIGHT_COMMANDS;
        return `${options.command} needs the command to ${options.command === "plan" ? "plan" : "check"}: one of ${commands.join(", ")} (e.g. \`secrets-rotation ${options.command} rotate-all --stack staging\`)`;
    }
    return `${message} (see --help)`;
}

function report(io: CliIo, err: unknown, verbose: boolean): ExitCode {
    const code = err instanceof CliError ? err.code : EXIT.failed;
    const message = err instanceof Error ? err.message : String(err);
    io.stderr.write(`error: ${message.split("\n")[0]}\n`);
    if (verbose && err instanceof Error && err.stack) {
        io.stderr.write(`${err.stack}\n`);
    }
    return code;
}

export type { GlobalArgs };
