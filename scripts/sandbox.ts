/**
 * `npm run sandbox`: starts the `local` stack's servers on 127.0.0.1 (test/support/localSandbox.ts), prints the
 * variables a `pulumi up --stack local` or `secrets-rotation ... --stack local` needs as `export` lines on stdout,
 * and stops and deletes every server on Ctrl-C (SIGINT) or SIGTERM.
 *
 * package.json runs it as `node --import tsx`, not through the `tsx` command: that wrapper relays a signal and, when
 * the child has not reported it back within 30 ms, sends SIGKILL (node_modules/tsx/dist/cli.mjs `relaySignalToChild`),
 * which killed the sandbox in the middle of stopping PostgreSQL and left its data directory behind.
 *
 * The printed admin URLs and keys are secrets, printed on purpose: each is random, made at this start, and valid only
 * on a throwaway server bound to 127.0.0.1 that is deleted when the sandbox stops (rotation/settings.ts refuses any
 * non-loopback address in Pulumi.local.yaml). No credential of a real environment is ever involved.
 */
import { LOCAL_STACK } from "../rotation/settings";
import { exportLines, startLocalSandbox } from "../test/support/localSandbox";

async function main(): Promise<number> {
    const log = (line: string) => process.stderr.write(`sandbox: ${line}\n`);
    let sandbox;
    try {
        sandbox = await startLocalSandbox({ log });
    } catch (err) {
        process.stderr.write(`sandbox: could not start: ${(err as Error).message.split("\n")[0]}\n`);
        return 1;
    }
    let exports: string;
    try {
        exports = exportLines(sandbox.env);
    } catch (err) {
        process.stderr.write(`sandbox: ${(err as Error).message}\n`);
        await sandbox.stop();
        return 1;
    }
    process.stdout.write(
        [
            `# The ${LOCAL_STACK} sandbox is up. In another shell, export these (throwaway credentials of loopback servers):`,
            exports,
            `# A passphrase for the local backend's stack (no real secret is kept there):`,
            `export PULUMI_CONFIG_PASSPHRASE=''`,
            `# then: pulumi login --local && pulumi stack init ${LOCAL_STACK}   (once)`,
            `#       ./bin/secrets-rotation.js rotate-all --stack ${LOCAL_STACK}`,
            "",
        ].join("\n"),
    );
    log("running; Ctrl-C stops every server and deletes its data");
    // `on`, not `once`: a terminal's Ctrl-C reaches the whole process group, and tsx relays it again, so a second
    // signal arrives while the servers are being stopped; it must not end the process before they are gone.
    await new Promise<void>((resolve) => {
        let stopping = false;
        const onSignal = () => {
            if (stopping) return log("still stopping; every server is stopped and its data deleted before exit");
            stopping = true;
            resolve();
        };
        process.on("SIGINT", onSignal);
        process.on("SIGTERM", onSignal);
    });
    log("stopping");
    await sandbox.stop();
    log("stopped");
    return 0;
}

main().then((code) => process.exit(code));
