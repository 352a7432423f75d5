/**
 * A DOUBLE of the `pulumi` CLI (tests only; it is not Pulumi: no Pulumi CLI can be installed here), backed by the
 * ENGINE EMULATOR (./engineEmulator.ts), for the real `@pulumi/pulumi/automation` package (3.248.0, the lockfile's) to
 * drive. `installPulumiDouble()` puts it on a PATH of its own (`<dir>/bin/pulumi`); tests hand that PATH to the CLI
 * they spawn (test/cliEndToEnd.test.ts), never to the test runner.
 *
 * It implements exactly the command lines the Automation API sends for what the CLI uses
 * (automation/pulumiEngine.ts: `LocalWorkspace.create`, `Stack.select` without `stack select`, `up`, `preview`,
 * `outputs`, `history`), as built by node_modules/@pulumi/pulumi/automation:
 *
 *   cmd.js `PulumiCommand.get`            version
 *   cmd.js `run` (every other command)    ... --non-interactive (appended last)
 *   stack.js `runPulumiCmd`               ... --stack <name> (before --non-interactive)
 *   stack.js `up`                         up --yes --skip-preview [--parallel N] [--color C] --exec-kind auto.local [--event-log F]
 *   stack.js `preview`                    preview [--parallel N] [--color C] --exec-kind auto.local --event-log F
 *   localWorkspace.js `stackOutputs`      stack output --json [--show-secrets] --stack S   (both, masked first)
 *   stack.js `history` / `info`           stack history --json [--show-secrets] [--page-size N --page N]
 *   localWorkspace.js `selectStack`       stack select --stack S  (the CLI never sends it: pulumiEngine.ts openStack)
 *
 * Any other subcommand or flag is REFUSED: exit 2, "error: pulumi CLI double: unimplemented ..." on stderr, and a line
 * in `<dir>/refused.jsonl`; every argv is logged to `<dir>/calls.jsonl`. A test asserts that nothing was refused, so
 * an Automation API that starts sending something new fails the tests instead of meeting a lenient double.
 *
 * Behaviour copied from the pulumi CLI (pulumi/pulumi, cited where used):
 * - backend: `PULUMI_BACKEND_URL=file://<dir>` (a DIY backend; the emulator's FileBackend keeps the DIY layout);
 * - stack config: `Pulumi.<stack>.yaml` in the working directory (the Automation API's workDir), plus test-only
 *   overrides from PULUMI_DOUBLE_CONFIG_OVERRIDES (JSON `{ "rotation:key": value }`), which the real CLI has no
 *   equivalent of: it is how a test points the stack at its local servers;
 * - `up`/`preview` run the real program (rotation/program, what index.ts runs) through the emulator with the
 *   process environment (ROTATION_REQUEST included): real side effects for `up`, none for `preview`;
 * - "no stack named '<name>' found" for a stack not in the backend (pkg/cmd/pulumi/stack/io.go `RequireStack`);
 * - the DIY backend's lock text for a stack another update holds (pkg/backend/diy/lock.go `checkForLock`, in
 *   emulator/backend.ts), which automation/errors.js classifies as ConcurrentUpdateError;
 * - SIGINT/SIGTERM during up/preview: the first cancels ("^C received; cancelling. If you would like to terminate
 *   immediately, press ^C again."; in-flight operations finish, then exit 1), the second terminates
 *   at once ("^C received; terminating") (pkg/backend/cancellation_scope.go `NewScope`). Each signal is appended to
 *   `<dir>/signals.log`, so a test can count them; `<dir>/running` holds the pid while an up/preview runs;
 * - output: the program's and commands' lines while the update runs, then "Diagnostics:" (a failed update: the
 *   stack's "update failed" and each resource's error, as the display prints them), "Resources:" and "Duration:" on
 *   stdout; a failed or cancelled update adds nothing on stderr and exits 1 (a bail); `--event-log` gets the prelude
 *   and summary events (with a cancel event after a cancel), which is where the SDK takes a preview's change counts;
 * - `stack history --json`: updateInfoJSON (stack_history.go), a cancelled update recorded as "failed".
 *
 * Environment: PULUMI_DOUBLE_DIR (logs; required), PULUMI_BACKEND_URL (file://...; required for stack commands),
 * PULUMI_DOUBLE_CONFIG_OVERRIDES (test-only config), PULUMI_DOUBLE_KUBERNETES (test-only emulator Kubernetes
 * behaviour, JSON, e.g. rollout delays).
 */
import { appendFileSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

/** The version `pulumi version` prints: the lockfile's @pulumi/pulumi, so the SDK's version checks pass as they would. */
export const DOUBLE_VERSION = "v3.248.0";

/** A flag the double accepts: a switch, or one that takes a value (`--flag value` or `--flag=value`). */
interface FlagSpec {
    readonly value: boolean;
    /** Accepted values; any value when absent. */
    readonly values?: readonly string[];
}

const STACK: FlagSpec = { value: true };
const NON_INTERACTIVE: FlagSpec = { value: false };
const COLOR: FlagSpec = { value: true, values: ["always", "never", "raw", "auto"] };

/**
 * Every command line the double implements: the subcommand words and the flags each takes (see the module comment
 * for where the Automation API builds each one). Exported for the test that compares it with what the SDK sends.
 */
export const IMPLEMENTED: Readonly<Record<string, Readonly<Record<string, FlagSpec>>>> = {
    version: {},
    up: {
        "--yes": { value: false },
        "--skip-preview": { value: false },
        "--parallel": { value: true },
        "--color": COLOR,
        "--exec-kind": { value: true, values: ["auto.local"] },
        "--event-log": { value: true },
        "--stack": STACK,
        "--non-interactive": NON_INTERACTIVE,
    },
    preview: {
        "--parallel": { value: true },
        "--color": COLOR,
        "--exec-kind": { value: true, values: ["auto.local"] },
        "--event-log": { value: true },
        "--stack": STACK,
        "--non-interactive": NON_INTERACTIVE,
    },
    "stack output": { "--json": { value: false }, "--show-secrets": { value: false }, "--stack": STACK, "--non-interactive": NON_INTERACTIVE },
    "stack history": {
        "--json": { value: false },
        "--show-secrets": { value: false },
        "--page-size": { value: true },
        "--page": { value: true },
        "--stack": STACK,
        "--non-interactive": NON_INTERACTIVE,
    },
    "stack select": { "--stack": STACK, "--non-interactive": NON_INTERACTIVE },
};

export interface ParsedCommand {
    readonly command: string;
    readonly flags: Readonly<Record<string, string | true>>;
}

/** Parses an argv against {@link IMPLEMENTED}; a string is the refusal (what is not implemented). */
export function parseArgv(args: readonly string[]): ParsedCommand | string {
    const words: string[] = [];
    let i = 0;
    while (i < args.length && !args[i].startsWith("-")) words.push(args[i++]);
    const command = words.join(" ");
    const spec = IMPLEMENTED[command];
    if (!spec) return `subcommand \`${command || "(none)"}\``;
    const flags: Record<string, string | true> = {};
    for (; i < args.length; i++) {
        const arg = args[i];
        const eq = arg.indexOf("=");
        const name = eq > 0 ? arg.slice(0, eq) : arg;
        const flag = spec[name];
        if (!arg.startsWith("--") || !flag) return `\`${arg}\` of \`${command}\``;
        if (name in flags) return `\`${name}\` given twice to \`${command}\``;
        let value: string | true = true;
        if (flag.value) {
            value = eq > 0 ? arg.slice(eq + 1) : args[++i];
            if (value === undefined) return `\`${name}\` of \`${command}\` without a value`;
            if (flag.values && !flag.values.includes(value)) return `\`${name} ${value}\` of \`${command}\``;
        } else if (eq > 0) {
            return `\`${arg}\` of \`${command}\``;
        }
        flags[name] = value;
    }
    return { command, flags };
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* installation (used by tests)                                                                                      */
/* ---------------------------------------------------------------------------------------------------------------- */

const HERE = __dirname;
const ROOT = join(HERE, "..", "..");

export interface PulumiDouble {
    /** Logs (calls.jsonl, refused.jsonl, signals.log, running). */
    readonly dir: string;
    /** The directory holding `pulumi`: put it first on the CLI's PATH. */
    readonly binDir: string;
    /** PATH with the double first, node's directory and the system's; PULUMI_DOUBLE_DIR; PULUMI_BACKEND_URL. */
    readonly env: Record<string, string>;
    calls(): string[][];
    /** What was refused: `{ args, refused }` per refused invocation. */
    refused(): { args: string[]; refused: string }[];
    signals(): string[];
    running(): boolean;
    remove(): void;
}

/** Creates `<dir>/bin/pulumi` running this double (node with tsx), with `backendDir` as its file backend. */
export function installPulumiDouble(backendDir: string): PulumiDouble {
    const dir = mkdtempSync(join(tmpdir(), "pulumi-cli-double-"));
    const binDir = join(dir, "bin");
    mkdirSync(binDir);
    const exe = join(binDir, "pulumi");
    // `exec` keeps the PID, so signals sent to `pulumi` reach the double itself. tsx is resolved from the project.
    const tsx = join(ROOT, "node_modules", "tsx", "dist", "loader.mjs");
    writeFileSync(exe, `#!/bin/sh\nexec "${process.execPath}" --import "${tsx}" "${join(HERE, "pulumiCliDoubleBin.ts")}" "$@"\n`);
    chmodSync(exe, 0o755);
    const lines = (file: string) => (existsSync(join(dir, file)) ? readFileSync(join(dir, file), "utf8").split("\n").filter(Boolean) : []);
    return {
        dir,
        binDir,
        env: {
            PATH: `${binDir}:${dirname(process.execPath)}:/usr/bin:/bin`,
            PULUMI_DOUBLE_DIR: dir,
            PULUMI_BACKEND_URL: `file://${backendDir}`,
        },
        calls: () => lines("calls.jsonl").map((l) => JSON.parse(l) as string[]),
        refused: () => lines("refused.jsonl").map((l) => JSON.parse(l) as { args: string[]; refused: string }),
        signals: () => lines("signals.log"),
        running: () => existsSync(join(dir, "running")),
        remove: () => rmSync(dir, { recursive: true, force: true }),
    };
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* the double's process                                                                                              */
/* ---------------------------------------------------------------------------------------------------------------- */

/**
 * The exit status of every failure here: pkg/cmd/pulumi/cmd/exit_codes.go `ExitCodeFor` maps a bail (a failed or
 * cancelled update, whose diagnostics were already printed) and an untyped error (RequireStack's "no stack named",
 * the DIY lock error) to ExitCodeError, 1. The Automation API only tests for non-zero (automation/cmd.js `exec`).
 */
const EXIT_ERROR = 1;

class Exit extends Error {
    constructor(
        readonly code: number,
        readonly stderr?: string,
    ) {
        super(stderr ?? `exit ${code}`);
    }
}

function backendDir(env: NodeJS.ProcessEnv): string {
    const url = env.PULUMI_BACKEND_URL ?? "";
    // The double knows only a DIY file backend (https://www.pulumi.com/docs/iac/concepts/state-and-backends/#local-filesystem).
    if (!url.startsWith("file://")) throw new Exit(2, `error: pulumi CLI double: PULUMI_BACKEND_URL must be file://<dir> (got ${url || "nothing"})`);
    return url.slice("file://".length);
}

function projectName(cwd: string): string {
    const { parse } = require("yaml") as typeof import("yaml");
    return (parse(readFileSync(join(cwd, "Pulumi.yaml"), "utf8")) as { name: string }).name;
}

/** pulumi/pulumi pkg/cmd/pulumi/stack/io.go `RequireStack` with an explicit name and --non-interactive. */
async function requireStack(env: NodeJS.ProcessEnv, cwd: string, stack: string) {
    const { FileBackend } = await import("./emulator/backend");
    const backend = new FileBackend(backendDir(env), projectName(cwd));
    if (!backend.hasStack(stack)) throw new Exit(EXIT_ERROR, `error: no stack named '${stack}' found`);
    return backend;
}

/** ui.PrintJSON (pkg/cmd/pulumi/ui): four-space indentation, a final newline. */
const printJson = (value: unknown) => `${JSON.stringify(value, null, 4)}\n`;

/**
 * `stack output --json [--show-secrets]` (pkg/cmd/pulumi/stack/stack_output.go): the root stack's outputs; without
 * --show-secrets every secret, at any depth, is the string "[secret]" (display.MassageSecrets), which is how
 * localWorkspace.js `stackOutputs` tells secret outputs apart.
 */
async function stackOutput(env: NodeJS.ProcessEnv, cwd: string, p: ParsedCommand): Promise<string> {
    const backend = await requireStack(env, cwd, String(p.flags["--stack"]));
    const { isSecret, plain } = await import("./emulator/wire");
    const mask = (v: unknown): unknown => {
        if (isSecret(v)) return p.flags["--show-secrets"] ? plain(v.value) : "[secret]";
        if (Array.isArray(v)) return v.map(mask);
        if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, mask(x)]));
        return v;
    };
    const outputs = backend.stackOutputs(String(p.flags["--stack"]));
    return printJson(Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, mask(v)])));
}

/**
 * `stack history --json` (pkg/cmd/pulumi/stack/stack_history.go `buildUpdatesJSON`, updateInfoJSON): newest first,
 * `--page-size` (default 10) and `--page` (default 1); times by cmd.FormatTime (RFC 5424, milliseconds) from whole
 * seconds; `resourceChanges` holds the operations that happened (the engine's map has no zero entries).
 */
async function stackHistory(env: NodeJS.ProcessEnv, cwd: string, p: ParsedCommand): Promise<string> {
    const backend = await requireStack(env, cwd, String(p.flags["--stack"]));
    const pageSize = Number(p.flags["--page-size"] ?? 10);
    const page = Math.max(1, Number(p.flags["--page"] ?? 1));
    const time = (iso: string) => new Date(Math.floor(Date.parse(iso) / 1000) * 1000).toISOString();
    const updates = backend.history(String(p.flags["--stack"])).slice((page - 1) * pageSize, page * pageSize);
    return printJson(
        updates.map((u) => ({
            version: u.version,
            kind: u.kind,
            startTime: time(u.startTime),
            message: "",
            environment: { "exec.kind": "auto.local" },
            config: {},
            // pkg/backend/updates.go UpdateResult: in-progress, succeeded, failed; a cancelled update ended failed.
            result: u.result === "cancelled" ? "failed" : u.result,
            endTime: time(u.endTime),
            resourceChanges: nonZero(u.resourceChanges as unknown as Record<string, number>),
        })),
    );
}

const nonZero = (changes: Record<string, number>) => Object.fromEntries(Object.entries(changes).filter(([, n]) => n > 0));

/**
 * The engine events the Automation API reads for `--event-log`: since 3.206 a `tcp://host:port` address of its
 * Events gRPC service (stack.js `setupEventLog`: the `pulumirpc.Events/StreamEvents` client stream of EventRequest{
 * event: <JSON> }, proto/events_grpc_pb.js), else a file of JSON lines. Shapes: sdk/go/common/apitype/events.go
 * (EngineEvent, SummaryEvent), as automation/events.d.ts types them.
 */
async function sendEvents(target: string, events: readonly object[]): Promise<void> {
    if (!target.startsWith("tcp://")) {
        for (const e of events) appendFileSync(target, `${JSON.stringify(e)}\n`);
        return;
    }
    const grpc = require("@grpc/grpc-js") as typeof import("@grpc/grpc-js");
    const { EventsClient } = require("@pulumi/pulumi/proto/events_grpc_pb");
    const { EventRequest } = require("@pulumi/pulumi/proto/events_pb");
    const client = new EventsClient(target.slice("tcp://".length), grpc.credentials.createInsecure());
    await new Promise<void>((resolve, reject) => {
        const call = client.streamEvents((err: Error | null) => (err ? reject(err) : resolve()));
        for (const e of events) {
            const req = new EventRequest();
            req.setEvent(JSON.stringify(e));
            call.write(req);
        }
        call.end();
    });
    client.close();
}

/** The change summary as the CLI's display prints it ("Resources:" block, pkg/backend/display). */
function resourcesBlock(changes: Record<string, number>, preview: boolean): string {
    const words: Record<string, [string, string]> = {
        create: ["created", "to create"],
        update: ["updated", "to update"],
        replace: ["replaced", "to replace"],
        delete: ["deleted", "to delete"],
        read: ["read", "to read"],
        import: ["imported", "to import"],
    };
    const sign: Record<string, string> = { create: "+", update: "~", replace: "+-", delete: "-", read: ">", import: "=" };
    const lines = Object.entries(words)
        .filter(([op]) => (changes[op] ?? 0) > 0)
        .map(([op, w]) => `    ${sign[op]} ${changes[op]} ${w[preview ? 1 : 0]}`);
    if (changes.same) lines.push(`    ${changes.same} unchanged`);
    return `Resources:\n${lines.join("\n")}\n`;
}

/** `up` / `preview` through the engine emulator, with the Ctrl-C behaviour of the pulumi CLI. */
async function update(env: NodeJS.ProcessEnv, cwd: string, p: ParsedCommand, dir: string, out: (s: string) => void): Promise<number> {
    const preview = p.command === "preview";
    const stack = String(p.flags["--stack"]);
    const backend = await requireStack(env, cwd, stack);
    const { EngineEmulator } = await import("./engineEmulator");
    const { StackLockedError } = await import("./emulator/backend");
    const overrides = env.PULUMI_DOUBLE_CONFIG_OVERRIDES ? (JSON.parse(env.PULUMI_DOUBLE_CONFIG_OVERRIDES) as Record<string, unknown>) : {};
    const emu = new EngineEmulator({
        backendDir: backend.dir,
        projectDir: cwd,
        env,
        autoCreateStacks: false,
        kubernetes: env.PULUMI_DOUBLE_KUBERNETES ? JSON.parse(env.PULUMI_DOUBLE_KUBERNETES) : undefined,
        // As the CLI's display does, diagnostics and command output appear while the update runs.
        onLog: (line) => out(`    ${line}\n`),
    });

    // pkg/backend/cancellation_scope.go: first signal cancels, second terminates.
    const abort = new AbortController();
    let received = 0;
    const onSignal = (signal: NodeJS.Signals) => {
        received++;
        appendFileSync(join(dir, "signals.log"), `${signal}\n`);
        if (received === 1) {
            out("^C received; cancelling. If you would like to terminate immediately, press ^C again.\n");
            abort.abort();
        } else {
            out("^C received; terminating\n");
            rmSync(join(dir, "running"), { force: true });
            // Exit status not taken from the pulumi source; the Automation API only tests for non-zero.
            process.exit(255);
        }
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    writeFileSync(join(dir, "running"), String(process.pid));

    const started = Date.now();
    out(`${preview ? "Previewing update" : "Updating"} (${stack})\n\n`);
    const parallel = p.flags["--parallel"] === undefined ? undefined : Number(p.flags["--parallel"]);
    let result;
    try {
        result = preview
            ? await emu.preview(stack, { config: overrides, parallel, signal: abort.signal })
            : await emu.up(stack, { config: overrides, parallel, signal: abort.signal });
    } catch (err) {
        if (err instanceof StackLockedError) throw new Exit(EXIT_ERROR, `error: ${err.message}`);
        throw err;
    } finally {
        rmSync(join(dir, "running"), { force: true });
    }
    const changes = result.changes as unknown as Record<string, number>;
    // Diagnostics, as the display prints them (the stack's "update failed" first, then each resource's error).
    if (result.result === "failed") {
        const project = projectName(cwd);
        const diag = [`  pulumi:pulumi:Stack (${project}-${stack})\n    error: ${preview ? "preview" : "update"} failed\n`];
        for (const e of result.errors) {
            const name = e.urn ? `${e.urn.split("::")[2]} (${e.urn.split("::").pop()})` : `pulumi:pulumi:Stack (${project}-${stack})`;
            diag.push(`  ${name}\n    error: ${e.message.replace(/\n$/, "").split("\n").join("\n    ")}\n`);
        }
        out(`Diagnostics:\n${diag.join("\n")}\n`);
    }
    out(`${resourcesBlock(changes, preview)}\nDuration: ${Math.round((Date.now() - started) / 1000)}s\n\n`);
    const target = p.flags["--event-log"];
    if (typeof target === "string") {
        await sendEvents(target, [
            { sequence: 0, timestamp: Math.floor(started / 1000), preludeEvent: { config: {} } },
            {
                sequence: 1,
                timestamp: Math.floor(Date.now() / 1000),
                summaryEvent: { maybeCorrupt: false, durationSeconds: Math.round((Date.now() - started) / 1000), resourceChanges: nonZero(changes), PolicyPacks: {} },
            },
            ...(result.result === "cancelled" ? [{ sequence: 2, timestamp: Math.floor(Date.now() / 1000), cancelEvent: {} }] : []),
        ]);
    }
    // A failed or cancelled update is a bail (deployment_executor.go `Execute`: BailError / BailErrorf("canceled")):
    // its diagnostics are on stdout above, and the CLI prints nothing more (exit_codes.go: "Respect bail semantics
    // first – still a failure, but don't print anything").
    if (result.result !== "succeeded") throw new Exit(EXIT_ERROR);
    return 0;
}

/** Runs one invocation: logs it, refuses what is not implemented, answers the rest. Returns the exit code. */
export async function main(args: readonly string[], env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Promise<number> {
    const dir = env.PULUMI_DOUBLE_DIR;
    if (!dir) {
        process.stderr.write("error: pulumi CLI double: PULUMI_DOUBLE_DIR is not set\n");
        return 2;
    }
    appendFileSync(join(dir, "calls.jsonl"), `${JSON.stringify(args)}\n`);
    const parsed = parseArgv(args);
    if (typeof parsed === "string") {
        appendFileSync(join(dir, "refused.jsonl"), `${JSON.stringify({ args, refused: parsed })}\n`);
        process.stderr.write(`error: pulumi CLI double: unimplemented ${parsed} (the Automation API sent something this double does not implement)\n`);
        return 2;
    }
    const out = (s: string) => process.stdout.write(s);
    try {
        switch (parsed.command) {
            case "version":
                out(`${DOUBLE_VERSION}\n`);
                return 0;
            case "stack select":
                // What `pulumi stack select` does: remember the stack the checkout's raw commands use.
                await requireStack(env, cwd, String(parsed.flags["--stack"]));
                writeFileSync(join(dir, "selected"), String(parsed.flags["--stack"]));
                return 0;
            case "stack output":
                out(await stackOutput(env, cwd, parsed));
                return 0;
            case "stack history":
                out(await stackHistory(env, cwd, parsed));
                return 0;
            default:
                return await update(env, cwd, parsed, dir, out);
        }
    } catch (err) {
        if (err instanceof Exit) {
            if (err.stderr) process.stderr.write(`${err.stderr}\n`);
            return err.code;
        }
        // An internal failure of the double: say so, never as something Pulumi would print.
        process.stderr.write(`error: pulumi CLI double crashed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
        return 70;
    }
}
