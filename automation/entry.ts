/**
 * The process entry and composition root: wires real streams, environment, clock, terminal width and Ctrl-C to
 * {@link main}, builds the engine when a command first needs one, and sets the exit code. The only place that
 * decides how the process ends.
 */
import type { RotationEngine } from "./engine";
import { interruptFromTerminal, onInterrupt } from "./interrupt";
import { main } from "./main";

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

    const cancel = new AbortController();
    const pulumiInterrupts = new AbortController().signal;
    let interrupts = 0;
    const interrupt = (fromTerminal: boolean) => {
        const action = onInterrupt(++interrupts, fromTerminal);
        process.stderr.write(`\n${action.message}\n`);
        if (action.exit) process.exit(130);
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
        stdout: process.stdout,
        stderr: process.stderr,
        env: process.env,
        now: () => new Date(),
        signal: cancel.signal,
        columns: process.stdout.columns,
        engine: () => (engine ??= createEngine(pulumiInterrupts)),
    }).then(
        (code) => {
            process.exitCode = interrupts > 0 && code === 0 ? 130 : code;
        },
        (err: unknown) => {
            process.stderr.write(`error: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}\n`);
            process.exitCode = 1;
        },
    );
}

/** `secrets-rotation`: the CLI over the Pulumi Automation API (loaded only when a command needs the engine). */
export function runCli(): void {
    runProcess((pulumiInterrupts) => (require("./pulumiEngine") as typeof import("./pulumiEngine")).createEngine({ pulumiInterrupts }));
}
