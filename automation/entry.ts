/**
 * The process entry and composition root: wires real streams, environment, clock, terminal width and Ctrl-C to
 * {@link main}, builds the engine when a command first needs one, and sets the exit code. The only place that
 * decides how the process ends.
 */
import { Writable } from "node:stream";
import type { RotationEngine } from "./engine";
import { interruptFromTerminal, onInterrupt } from "./interrupt";
import { main } from "./main";
import { RedactingLineWriter, redactorFor } from "./redact";

/**
 * Builds the engine. `pulumiInterrupts` is never aborted: it dispatches one `abort` event per interrupt the CLI
 * forwards to Pulumi (see `interrupt.ts`).
 */
export type EngineFactory = (pulumiInterrupts: AbortSignal) => RotationEngine;

/** Runs the CLI in this process with the given engine; the test entry (test/support/standInBin.ts) passes a stand-in. */
export function runProcess(createEngine: EngineFactory): void {
    // The AWS SDK reads this flag from process.env (@aws-sdk/core dist-cjs/submodules/client/index.js,
    // `emitWarningIfUnsupportedVersion`) and otherwise warns on stderr under Node 20 that its releases from 2027 need
    // Node 22; the lockfile pins a release that runs on Node 20, so the warning is noise in every status and audit run.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

    // Everything the CLI writes (results, progress, error lines, the engine output it echoes) passes the redactor
    // (redact.ts): no credential of this environment and no URL password reaches the terminal or the CI log.
    const redact = redactorFor(process.env);
    const stdout = new RedactingLineWriter((t) => process.stdout.write(t), redact);
    const stderr = new RedactingLineWriter((t) => process.stderr.write(t), redact);
    const flush = () => {
        stdout.flush();
        stderr.flush();
    };

    const cancel = new AbortController();
    const pulumiInterrupts = new AbortController().signal;
    let interrupts = 0;
    const interrupt = (fromTerminal: boolean) => {
        const action = onInterrupt(++interrupts, fromTerminal);
        stderr.write(`\n${action.message}\n`);
        if (action.exit) {
            flush();
            process.exit(130);
        }
        // A dispatched (not aborted) event: the Automation API's abort handler sends SIGINT again on every one.
        if (action.forward) pulumiInterrupts.dispatchEvent(new Event("abort"));
        if (action.cancel) cancel.abort();
    };
    process.on("SIGINT", () => interrupt(interruptFromTerminal()));
    // No terminal sends SIGTERM; a cancelled GitHub Actions step gets SIGINT, then SIGTERM 7.5 s later, then its process
    // tree is killed (https://docs.github.com/en/actions/reference/workflow-cancellation-reference): SIGTERM counts as
    // the next interrupt, so Pulumi is told to cancel, then to terminate, before the kill.
    process.on("SIGTERM", () => interrupt(false));

    let engine: RotationEngine | undefined;
    main(process.argv.slice(2), {
        stdout: writable(stdout),
        stderr: writable(stderr),
        env: process.env,
        now: () => new Date(),
        signal: cancel.signal,
        columns: process.stdout.columns,
        engine: () => (engine ??= createEngine(pulumiInterrupts)),
    }).then(
        (code) => {
            flush();
            process.exitCode = interrupts > 0 && code === 0 ? 130 : code;
        },
        (err: unknown) => {
            stderr.write(`error: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}\n`);
            flush();
            process.exitCode = 1;
        },
    );
}

/** A stream over a redacting writer (what {@link CliIo} takes). */
function writable(writer: RedactingLineWriter): NodeJS.WritableStream {
    return new Writable({
        decodeStrings: false,
        write(chunk: string | Buffer, _encoding, done) {
            writer.write(String(chunk));
            done();
        },
    });
}

/** `secrets-rotation`: the CLI over the Pulumi Automation API (loaded only when a command needs the engine). */
export function runCli(): void {
    runProcess((pulumiInterrupts) => (require("./pulumiEngine") as typeof import("./pulumiEngine")).createEngine({ pulumiInterrupts }));
}
