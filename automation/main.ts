/**
 * The `secrets-rotation` CLI: yargs over one module per command. Command modules lazy-import their
 * implementations, so `--help` loads neither Pulumi nor a provider.
 */
import yargs from "yargs";
import { CliContext, CliIo, GlobalArgs } from "./context";
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
        .option("stack", { type: "string", describe: "stack to act on (a Pulumi.<stack>.yaml): staging or production", global: true })
        .option("json", { type: "boolean", default: false, describe: "print the result as one JSON document", global: true })
        .option("verbose", { type: "boolean", default: false, describe: "print stack traces with errors", global: true })
        .option("yes", { type: "boolean", default: false, describe: "confirm a live run against production (CI=true also confirms)", global: true })
        .command(changeCommands(ctx))
        .command(statusCommand(ctx))
        .command(historyCommand(ctx))
        .command(planCommand(ctx))
        .command(preflightCommand(ctx))
        .command(policyCommand(ctx))
        .command(bootstrapCommand(ctx))
        .demandCommand(1, "a command is required")
        .strict()
        .recommendCommands()
        .epilogue(HELP_EPILOGUE)
        .wrap(Math.min(120, io.columns ?? 120))
        .exitProcess(false)
        .fail((message, err) => {
            // Thrown, not recorded: yargs would otherwise go on to run the handler after a validation failure.
            throw err ?? new CliError(EXIT.usage, `${message.replace(/\s*\n\s*/g, " ")} (see --help)`);
        })
        .help()
        .version(false);
    try {
        await parser.parseAsync();
    } catch (err) {
        return report(io, err, argv.includes("--verbose"));
    }
    return ctx.exitCode;
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
