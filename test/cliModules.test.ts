/**
 * Cold-start hygiene: `--help`, `plan`, `preflight` and `status` must not load @pulumi/aws, the Kubernetes provider or
 * the Pulumi program. Checked on the real entry (bin/secrets-rotation.js) by recording every module the process loaded
 * (the project's own code is one bundle, whose contents test/cliBundle.test.ts checks).
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { REAL_BIN, runCli, sandbox } from "./support/cli";
import { ROOT } from "./support/pulumiProgram";

async function modulesLoadedBy(args: string[], env: Record<string, string>): Promise<{ code: number | null; stderr: string; modules: string[] }> {
    const s = sandbox();
    const file = join(s.dir, "modules.txt");
    const r = await runCli(args, { ...env, NODE_OPTIONS: `--require ${join(ROOT, "test", "support", "reportModules.cjs")}`, REPORT_MODULES_FILE: file }, undefined, REAL_BIN);
    return { code: r.code, stderr: r.stderr, modules: readFileSync(file, "utf8").split("\n") };
}

const has = (modules: string[], fragment: string) => modules.some((m) => m.includes(fragment));

/**
 * The process ran the CLI's bundle (bin/bundle.js) and loaded no TypeScript file: the project's own modules are not
 * in the list, so that the program (rotation/program.ts) and its components stay out of every command is checked on
 * the bundle's inputs (test/cliBundle.test.ts).
 */
function ranFromBundle(modules: string[]): void {
    expect(modules).toContain(join(ROOT, "dist", "secrets-rotation.cjs"));
    expect(modules.filter((m) => m.endsWith(".ts"))).toEqual([]);
}

describe("what each command loads", () => {
    it.each([[["--help"]], [["status", "--help"]], [["plan", "rotate-all", "--stack", "staging"]], [["preflight", "rotate-all", "--dry-run", "--stack", "staging"]]])("%j loads no Pulumi and no AWS SDK", async (args) => {
        const { code, modules } = await modulesLoadedBy(args, sandbox().env);
        expect(code).toBe(0);
        expect(modules.length).toBeGreaterThan(10); // the recorder works
        expect(has(modules, "/yargs/")).toBe(true);
        expect(has(modules, "/@pulumi/")).toBe(false);
        expect(has(modules, "/@aws-sdk/")).toBe(false);
        ranFromBundle(modules);
    });

    // With the Pulumi CLI made unreachable (PATH holds only node's directory, HOME is empty), so the real
    // Automation API engine is loaded and fails the same way on every machine.
    it("status with the real engine loads the Automation API but not @pulumi/aws or the program (Pulumi CLI made unreachable)", async () => {
        // No AWS either (nothing listens on port 9; no instance metadata): status says what it could not read from the
        // backend, then fails on AWS, its other source.
        const env = {
            PATH: dirname(process.execPath),
            HOME: sandbox().dir,
            AWS_EC2_METADATA_DISABLED: "true",
            AWS_ACCESS_KEY_ID: "AKIDEXAMPLE",
            AWS_SECRET_ACCESS_KEY: "not-a-real-secret-key",
            AWS_MAX_ATTEMPTS: "1",
            AWS_ENDPOINT_URL: "http://127.0.0.1:9",
            ROTATION_ALLOW_AWS_ENDPOINT: "http://127.0.0.1:9",
        };
        const { code, stderr, modules } = await modulesLoadedBy(["status", "--stack", "staging"], env);
        expect(code).toBe(1);
        expect(stderr.split("\n").filter(Boolean)).toEqual([
            "warning: could not read stack staging's state from the Pulumi backend (the Pulumi CLI is not installed or not on PATH (https://www.pulumi.com/docs/install/)), and none is recorded on this machine; stamps and slots are unknown, AWS facts only",
            expect.stringMatching(/^error: could not list secrets under buywhere\/staging\/ in ap-southeast-1: /),
        ]);
        expect(has(modules, "/@pulumi/pulumi/automation/")).toBe(true);
        expect(has(modules, "/@pulumi/aws/")).toBe(false);
        expect(has(modules, "/@pulumi/kubernetes/")).toBe(false);
        // Nor the half of the SDK the Automation API does not use (automation/automationApi.ts).
        expect(has(modules, "/node_modules/typescript/")).toBe(false);
        expect(has(modules, "/@npmcli/arborist/")).toBe(false);
        ranFromBundle(modules);
    });
});
