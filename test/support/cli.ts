/**
 * Runs the `secrets-rotation` CLI as a real process: by default through the test entry (test/support/standInBin.ts:
 * the CLI's own process wiring with the STAND-IN engine, test/support/standInEngine.ts, in place of the Automation
 * API); or through the real `bin/secrets-rotation.js` when a test asks for it.
 */
import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { AuditRecord } from "../../automation/audit";
import { loadSettings } from "../../automation/stacks";
import { planRotation } from "../../rotation/plan";
import { parseStamp } from "../../rotation/stamp";
import type { RotationRequest } from "../../rotation/request";
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

/** The real entry, as users run it. */
export const REAL_BIN = join(ROOT, "bin", "secrets-rotation.js");
/** The test entry with the stand-in engine. */
export const STANDIN_BIN = join(ROOT, "test", "support", "standInBin.ts");

/** A fresh directory holding the stand-in's state, the call log and the audit file. */
export function sandbox(): Sandbox {
    const dir = mkdtempSync(join(tmpdir(), "rotation-cli-"));
    const env: Record<string, string> = {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? dir,
        ROTATION_STANDIN_DIR: join(dir, "engine"),
        ROTATION_AUDIT_FILE: join(dir, "audit.jsonl"),
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

/** The node arguments that run `bin` (a `.ts` entry through tsx, as the project's own bin does). */
export function nodeArgs(bin: string, args: readonly string[]): string[] {
    return bin.endsWith(".ts") ? ["--import", "tsx", bin, ...args] : [bin, ...args];
}

/**
 * Spawns the CLI with exactly `env` (nothing inherited: no CI, GITHUB_* or AWS_* leaks in from the test runner).
 * `bin` picks the entry: the stand-in test entry by default, {@link REAL_BIN}, or an entry in a copy of the project.
 */
export function runCli(
    args: readonly string[],
    env: Record<string, string | undefined>,
    onSpawn?: (pid: number) => void,
    bin = STANDIN_BIN,
): Promise<CliResult> {
    const clean = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)) as Record<string, string>;
    return new Promise((resolve) => {
        const child = spawn(process.execPath, nodeArgs(bin, args), { cwd: ROOT, env: clean });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        child.on("spawn", () => onSpawn?.(child.pid!));
        child.on("close", (code) => resolve({ code, stdout, stderr }));
    });
}

/**
 * A copy of the project (its code; node_modules linked) with extra or replaced files, e.g. a stack file. The CLI finds
 * its stack files beside its own code, so a test that needs another stack file runs the copy's entry
 * (`join(dir, "test", "support", "standInBin.ts")`).
 */
export function projectWith(files: Readonly<Record<string, string>>): string {
    const dir = mkdtempSync(join(tmpdir(), "rotation-project-"));
    for (const entry of ["automation", "rotation", "hooks", "bin", "index.ts", "package.json", "Pulumi.yaml", "tsconfig.json", "test"]) {
        cpSync(join(ROOT, entry), join(dir, entry), { recursive: true });
    }
    symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    return dir;
}

/** No Pulumi CLI anywhere: PATH holds only node's own directory (as on a laptop before Pulumi is installed). */
export const NO_PULUMI_PATH = dirname(process.execPath);

/**
 * Gives the stand-in engine's backend a stack deployed at its stack file's stamps (slot a active everywhere), without
 * running the CLI: the state the planner commits for a first deployment. `firstDeployment: true` says that nothing uses
 * the secrets yet (a planner that does not know the flag ignores it).
 */
export function seedDeployed(s: Sandbox, stack: string, project = ROOT): void {
    const settings = loadSettings(stack, {}, project);
    const planned = planRotation({
        settings,
        stored: {},
        // Deployed when the stack file's period started, as `plan` assumes: a minimum interval counts from then.
        now: parseStamp(settings.stamp, "rotation:stamp").start,
        request: { firstDeployment: true } as RotationRequest,
        stack,
    });
    if (planned.refusal) throw new Error(`cannot seed ${stack}: ${planned.refusal.kind}`);
    const dir = join(s.dir, "engine");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${stack}.json`), JSON.stringify({ outputs: { rotationState: planned.plan.nextState, secrets: {} }, history: [] }, null, 2));
}
