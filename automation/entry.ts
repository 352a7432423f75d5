/**
 * The process entry: wires real streams, environment, clock and Ctrl-C to {@link main}, and sets the exit code.
 * The only place that decides how the process ends.
 */
import { main } from "./main";

export function runCli(): void {
    const controller = new AbortController();
    let interrupted = false;
    process.on("SIGINT", () => {
        if (interrupted) process.exit(130); // a second Ctrl-C: stop now
        interrupted = true;
        process.stderr.write("\ninterrupt: cancelling (Ctrl-C again to force)...\n");
        controller.abort();
    });
    main(process.argv.slice(2), {
        stdout: process.stdout,
        stderr: process.stderr,
        env: process.env,
        now: () => new Date(),
        signal: controller.signal,
    }).then(
        (code) => {
            process.exitCode = interrupted && code === 0 ? 130 : code;
        },
        (err: unknown) => {
            process.stderr.write(`error: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}\n`);
            process.exitCode = 1;
        },
    );
}
