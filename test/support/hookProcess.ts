/**
 * Runs a hook program exactly as the Pulumi program's `local.Command` does: its command string through /bin/sh, in
 * the project directory, with its inputs in the environment.
 */
import { spawn } from "node:child_process";
import { HookName } from "../../hooks/contracts";
import { hookCommand } from "../../rotation/components/hookRun";
import { ROOT } from "./pulumiProgram";

export interface HookResult {
    readonly code: number | null;
    readonly stdout: string;
    readonly stderr: string;
}

/** `env` is the whole environment (plus PATH and HOME): nothing else leaks in from the test runner. */
export function runHookProcess(hook: HookName, env: Record<string, string>): Promise<HookResult> {
    return new Promise((resolve) => {
        const child = spawn("/bin/sh", ["-c", hookCommand(hook)], {
            cwd: ROOT,
            env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env },
        });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        child.on("close", (code) => resolve({ code, stdout, stderr }));
    });
}
