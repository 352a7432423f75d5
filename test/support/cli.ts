/**
 * Runs the `secrets-rotation` CLI as a real process (bin/secrets-rotation.js), with the Automation API replaced by
 * the STAND-IN engine (test/support/standInEngine.ts) unless a test asks for the real one.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AuditRecord } from "../../automation/audit";
import type { StandInCall } from "./standInEngine";
import { ROOT } from "./pulumiProgram";

export interface CliResult {
    readonly code: number | null;
    readonly stdout: string;
    readonly stderr: string;
}

export interface Sandbox {
    readonly dir: string;
    /** Environment for a CLI run in this sandbox. */
    readonly env: Record<string, string>;
    run(args: readonly string[], env?: Record<string, string | undefined>, opts?: { onSpawn?: (pid: number) => void }): Promise<CliResult>;
    /** Calls the CLI made of the stand-in engine. */
    calls(): StandInCall[];
    audit(): AuditRecord[];
    /** The stand-in's stored outputs of a stack. */
    stackFile(stack: string): any;
}

const STANDIN = join(ROOT, "test", "support", "standInEngine.ts");

/** A fresh directory holding the stand-in's state, the call log and the audit file. */
export function sandbox(): Sandbox {
    const dir = mkdtempSync(join(tmpdir(), "rotation-cli-"));
    const env: Record<string, string> = {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? dir,
        ROTATION_ENGINE_MODULE: STANDIN,
        ROTATION_STANDIN_DIR: join(dir, "engine"),
        ROTATION_AUDIT_FILE: join(dir, "audit.jsonl"),
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    };
    const readLines = <T>(file: string): T[] =>
        existsSync(file) ? readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as T) : [];
    return {
        dir,
        env,
        run: (args, extra = {}, opts = {}) => runCli(args, { ...env, ...extra }, opts.onSpawn),
        calls: () => readLines<StandInCall>(join(dir, "engine", "calls.jsonl")),
        audit: () => readLines<AuditRecord>(join(dir, "audit.jsonl")),
        stackFile: (stack) => {
            const f = join(dir, "engine", `${stack}.json`);
            return existsSync(f) ? JSON.parse(readFileSync(f, "utf8")) : undefined;
        },
    };
}

/**
 * Spawns the CLI with exactly `env` (nothing inherited: no CI, GITHUB_* or AWS_* leaks in from the test runner).
 * `bin` runs another copy of the project's CLI.
 */
export function runCli(
    args: readonly string[],
    env: Record<string, string | undefined>,
    onSpawn?: (pid: number) => void,
    bin = join(ROOT, "bin", "secrets-rotation.js"),
): Promise<CliResult> {
    const clean = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)) as Record<string, string>;
    return new Promise((resolve) => {
        const child = spawn(process.execPath, [bin, ...args], { cwd: ROOT, env: clean });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        child.on("spawn", () => onSpawn?.(child.pid!));
        child.on("close", (code) => resolve({ code, stdout, stderr }));
    });
}
