/**
 * The CLI end to end, as a process: arguments, help, exit codes, the stdout/stderr split, JSON shape, the
 * production guard, the audit trail, and every bad-input case. The Automation API sits behind one narrow
 * interface; here a STAND-IN engine (test/support/standInEngine.ts) answers for it, through the test entry
 * test/support/standInBin.ts (the real process wiring). The real engine against a `pulumi` double: cliSignals.test.ts.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { sandbox, seedDeployed } from "./support/cli";

const STAMP = /^\d{4}-\d{2}-\d{2}T\d{4}Z$/;

/** A sandbox whose stacks have been deployed once at the stack files' stamps (a first deployment). */
async function deployed(...stacks: string[]) {
    const s = sandbox();
    for (const stack of stacks) {
        const r = await s.run(["rotate-all", "--first-deployment", "--stack", stack, "--stamp", "2026-11-01T0000Z", "--yes"]);
        expect(r.code, r.stderr).toBe(0);
    }
    return s;
}

describe("CLI: help and plan (offline)", () => {
    it("--help lists every command, exits 0, writes only to stdout", async () => {
        const s = sandbox();
        const r = await s.run(["--help"]);
        expect(r.code).toBe(0);
        expect(r.stderr).toBe("");
        for (const cmd of ["rotate", "rotate-all", "restart", "rollback", "status", "history", "plan <command>", "preflight <command>", "bootstrap"]) {
            expect(r.stdout).toContain(`secrets-rotation ${cmd}`);
        }
        expect(r.stdout).toContain("Exit codes: 0 ok, 1 failed, 2 usage or config error");
        expect(s.calls()).toEqual([]);
    });

    it("plan rotate-all prints ordered steps on stdout and touches nothing", async () => {
        const s = sandbox();
        const r = await s.run(["plan", "rotate-all", "--stack", "staging"]);
        expect(r.code).toBe(0);
        expect(r.stderr).toBe("");
        const kinds = [...r.stdout.matchAll(/^\s+\d+\. (\w+)/gm)].map((m) => m[1]);
        expect(kinds).toEqual([...Array(6).fill("generate"), ...Array(5).fill("apply"), "publish", "publish", "restart", "restart", "restart", "restart", "health"]);
        expect(s.calls()).toEqual([]);
        expect(s.audit()).toEqual([]);
    });

    it("plan --json is exactly one JSON document naming the request and steps", async () => {
        const s = sandbox();
        const r = await s.run(["plan", "rotate", "--service", "jwt", "--provider", "aws", "--stack", "production", "--json"]);
        expect(r.code).toBe(0);
        const doc = JSON.parse(r.stdout);
        expect(doc).toMatchObject({ command: "rotate", stack: "production", exact: false });
        // The request says what was asked; the planner picks the stamp from the clock and holds the other provider.
        expect(doc.request).toEqual({ rotate: { groups: ["jwt"], provider: "aws", scheduled: false } });
        expect(doc.steps[0].detail).toMatch(new RegExp(`^rotate 2026-11 -> ${STAMP.source.slice(1, -1)}: regenerate slot b .*; k8s held on slot a$`));
        // Kubernetes keeps its current key; it still learns the new key as JWT_SECRET_KEY_PREVIOUS, so tokens signed
        // by the rotated (AWS) side keep verifying on the held side.
        expect(doc.steps.map((x: { kind: string; target: string }) => `${x.kind} ${x.target}`)).toEqual([
            "generate jwt",
            "publish AWS Secrets Manager (ap-southeast-1)",
            "publish Kubernetes Secret production/buywhere-secrets",
            "restart ECS service buywhere-api/buywhere-api",
            "restart Deployment production/buywhere-api",
            "health https://api.buywhere.io/health, https://api.buywhere.io/health/ready",
        ]);
        expect(doc.steps[2].detail).toBe("keys JWT_SECRET_KEY_PREVIOUS, JWT_KEY_ID_PREVIOUS");
    });

    it("plan --state uses the exact last state", async () => {
        const s = await deployed("staging");
        await s.run(["rotate", "--service", "redis", "--stack", "staging", "--stamp", "2026-11-20T0900Z"]);
        const state = join(s.dir, "state.json");
        writeFileSync(state, JSON.stringify(s.stackFile("staging").outputs.rotationState));
        const r = await s.run(["plan", "rollback", "--service", "redis", "--stack", "staging", "--state", state, "--json"]);
        expect(r.code).toBe(0);
        const doc = JSON.parse(r.stdout);
        expect(doc.exact).toBe(true);
        // A rollback says what it re-enables.
        expect(doc.steps[0]).toEqual({
            kind: "generate",
            target: "redis",
            detail: "roll back to slot a (no regeneration): this re-enables slot a's credential (generation g1, current from 2026-11-01T0000Z until 2026-11-20T0900Z) as the current one",
        });
    });
});

describe("CLI: rotate, dry runs and the production guard", () => {
    it("--dry-run previews exactly that change, writes no state, and leaves a dry-run audit record", async () => {
        const s = await deployed("staging");
        const before = JSON.stringify(s.stackFile("staging"));
        const r = await s.run(["rotate", "--service", "database", "--dry-run", "--stack", "staging"]);
        expect(r.code).toBe(0);
        expect(r.stdout).toMatch(/^Would do \(nothing was changed\): `rotate --service database --dry-run` on stack staging/);
        expect(r.stdout).toContain("regenerate slot b");
        expect(r.stderr).toContain("[stand-in engine] staging: 5 secrets change"); // engine output streams to stderr
        expect(s.calls().map((c) => c.op).slice(-2)).toEqual(["outputs", "preview"]);
        expect(JSON.stringify(s.stackFile("staging"))).toBe(before);
        const audit = s.audit()[1];
        expect(audit).toMatchObject({ stack: "staging", command: "rotate --service database --dry-run", outcome: "dry-run", groups: ["database"] });
        expect(audit.stamps.database).toMatchObject({ from: "2026-11-01T0000Z", fromSlot: "a", toSlot: "b" });
    });

    it("a live rotation on staging updates, records stamps old -> new, and a second one alternates the slot", async () => {
        const s = await deployed("staging");
        const first = await s.run(["rotate", "--service", "database", "--stack", "staging", "--stamp", "2026-11-20T0900Z", "--json"]);
        expect(first.code).toBe(0);
        const doc = JSON.parse(first.stdout);
        expect(doc.outcome).toBe("succeeded");
        expect(doc.request).toEqual({ rotate: { groups: ["database"], stamp: "2026-11-20T0900Z", scheduled: false } });
        expect(s.calls().map((c) => c.op).slice(-2)).toEqual(["outputs", "up"]);
        const second = await s.run(["rotate", "--service", "database", "--stack", "staging", "--stamp", "2026-11-21T0900Z"]);
        expect(second.code).toBe(0);
        expect(second.stdout).toMatch(/rotate 2026-11-20T0900Z -> 2026-11-21T0900Z: regenerate slot a \(generation \w+\) \(slot b stays valid/);
        const state = s.stackFile("staging").outputs.rotationState;
        expect(state.groups.database).toMatchObject({ stamp: "2026-11-21T0900Z", active: "a", activeSince: { a: "2026-11-21T0900Z", b: "2026-11-20T0900Z" } });
        expect(state.groups.jwt.stamp).toBe("2026-11-01T0000Z");
        const audit = s.audit();
        expect(audit.map((a) => a.outcome)).toEqual(["succeeded", "succeeded", "succeeded"]);
        expect(audit[2].stamps.database).toEqual({ from: "2026-11-20T0900Z", to: "2026-11-21T0900Z", fromSlot: "b", toSlot: "a" });
        expect(audit[2].restarts).toEqual(["ecs:buywhere-api-staging", "ecs:buywhere-worker-staging", "k8s:staging/buywhere-api", "k8s:staging/buywhere-search-indexer"]);
        expect(audit[2].actor).toMatch(/\S/);
    });

    it("production without --yes is refused before anything runs (exit 2, nothing audited); --dry-run previews; --yes or CI=true runs it", async () => {
        const s = sandbox();
        seedDeployed(s, "production");
        const refused = await s.run(["rotate-all", "--stack", "production"]);
        expect([refused.code, refused.stdout, refused.stderr]).toEqual([
            2,
            "",
            "error: a live run against production needs --yes (or CI=true); nothing was run (preview it with --dry-run)\n",
        ]);
        expect(s.calls()).toEqual([]);
        expect(s.audit()).toEqual([]);

        const preview = await s.run(["rotate-all", "--stack", "production", "--dry-run", "--stamp", "2026-11-20T0900Z"]);
        expect(preview.code, preview.stderr).toBe(0);
        expect(preview.stdout).toContain("Would do (nothing was changed)");
        expect((await s.run(["rotate-all", "--stack", "production", "--yes", "--stamp", "2026-11-20T0900Z"])).code).toBe(0);
        expect((await s.run(["rotate", "--service", "api-key", "--stack", "production", "--stamp", "2026-11-21T0900Z"], { CI: "true" })).code).toBe(0);
        expect(s.calls().filter((c) => c.op === "up")).toHaveLength(2);
        expect(s.audit().map((a) => a.outcome)).toEqual(["dry-run", "succeeded", "succeeded"]);
    });

    it("rotate --provider aws holds Kubernetes; rotating again is refused until --provider k8s catches it up", async () => {
        const s = await deployed("staging");
        const aws = await s.run(["rotate", "--service", "redis", "--provider", "aws", "--stack", "staging", "--stamp", "2026-11-20T0900Z"]);
        expect(aws.code).toBe(0);
        expect(aws.stdout).toContain("k8s held on slot a");
        expect(aws.stdout).not.toContain("Kubernetes Secret");
        expect(aws.stdout).not.toContain("Deployment");
        expect(s.stackFile("staging").outputs.rotationState.groups.redis.held).toEqual({ k8s: "a" });

        const again = await s.run(["rotate", "--service", "redis", "--stack", "staging", "--stamp", "2026-11-21T0900Z"]);
        expect(again.code).toBe(2);
        expect(again.stderr).toBe(
            "error: redis: k8s still publishes slot a (held back since 2026-11-20T0900Z), which a rotation would regenerate; run `secrets-rotation rotate --service redis --provider k8s --stack staging` to catch it up first\n",
        );
        const catchUp = await s.run(["rotate", "--service", "redis", "--provider", "k8s", "--stack", "staging", "--json"]);
        expect(catchUp.code).toBe(0);
        const doc = JSON.parse(catchUp.stdout);
        expect(doc.request).toEqual({ rotate: { groups: ["redis"], provider: "k8s", scheduled: false } });
        expect(doc.steps.map((x: { kind: string; target: string }) => `${x.kind} ${x.target}`)).toEqual([
            "generate redis",
            "publish Kubernetes Secret staging/buywhere-secrets",
            "restart Deployment staging/buywhere-api",
            "health https://api.staging.buywhere.io/health, https://api.staging.buywhere.io/health/ready",
        ]);
        expect(s.stackFile("staging").outputs.rotationState.groups.redis.held).toEqual({});
    });

    it("revoke: the other slot becomes current and consumers restart onto it, then the leaked slot is regenerated; both end up fresh", async () => {
        const s = await deployed("staging");
        const before = s.stackFile("staging").outputs.rotationState.groups.database;
        expect(before).toMatchObject({ active: "a", generation: { a: "g1", b: "g1" } });
        const r = await s.run(["revoke", "--service", "database", "--stack", "staging", "--json"]);
        expect(r.code, r.stderr).toBe(0);
        const doc = JSON.parse(r.stdout);
        expect(doc.runs.map((x: { request: unknown }) => x.request)).toEqual([
            { rotate: { groups: ["database"], scheduled: false } },
            { retire: { groups: ["database"], endSessions: true } },
        ]);
        const after = s.stackFile("staging").outputs.rotationState.groups.database;
        // Slot b was generated fresh and made current; then slot a (the leaked one) was generated fresh too.
        expect(after.active).toBe("b");
        expect(after.generation.a).not.toBe(before.generation.a);
        expect(after.generation.b).not.toBe(before.generation.b);
        expect(s.audit().slice(-2).map((a) => [a.command, a.outcome])).toEqual([
            ["revoke --service database (1/2: make the other slot current)", "succeeded"],
            ["revoke --service database (2/2: retire the leaked slot)", "succeeded"],
        ]);
        // Without --service it is refused before anything runs.
        const bad = await s.run(["revoke", "--stack", "staging"]);
        expect([bad.code, bad.stdout, bad.stderr]).toEqual([2, "", "error: revoke needs --service <group> (one or more)\n"]);
    });

    it("rollback --revoke: the rolled-back key leaked, so after the rollback its slot is regenerated and it is not kept as the previous one", async () => {
        const s = await deployed("staging");
        expect((await s.run(["rotate", "--service", "api-key", "--stack", "staging", "--stamp", "2026-11-20T0900Z"])).code).toBe(0);
        const rotated = s.stackFile("staging").outputs.rotationState.groups["api-key"];
        expect(rotated).toMatchObject({ active: "b", generation: { a: "g1", b: "g2" } });
        const r = await s.run(["rollback", "--service", "api-key", "--revoke", "--stack", "staging", "--json"]);
        expect(r.code, r.stderr).toBe(0);
        expect(JSON.parse(r.stdout).runs.map((x: { request: unknown }) => x.request)).toEqual([
            { rollback: { groups: ["api-key"] } },
            { retire: { groups: ["api-key"], endSessions: true } },
        ]);
        const after = s.stackFile("staging").outputs.rotationState.groups["api-key"];
        // Slot a (never leaked) is current again; slot b (the leaked key) was regenerated: BUYWHERE_API_KEY_PREVIOUS
        // now holds a fresh key nobody has, not the leaked one.
        expect(after).toMatchObject({ active: "a", rolledBack: true, generation: { a: "g1", b: "g4" } });
        expect(s.audit().slice(-2).map((a) => [a.command, a.outcome])).toEqual([
            ["rollback --service api-key --revoke (1/2: roll back)", "succeeded"],
            ["rollback --service api-key --revoke (2/2: retire the leaked slot)", "succeeded"],
        ]);
        const wrong = await s.run(["rotate", "--service", "api-key", "--revoke", "--stack", "staging"]);
        expect([wrong.code, wrong.stdout]).toEqual([2, ""]);
        expect(wrong.stderr.split("\n").filter(Boolean)).toHaveLength(1);
    });

    it("rollback flips the slot without regenerating (again: nothing to do); restart bumps a restart stamp", async () => {
        const s = await deployed("staging");
        await s.run(["rotate", "--service", "api-key", "--stack", "staging", "--stamp", "2026-11-20T0900Z"]);
        const back = await s.run(["rollback", "--service", "api-key", "--stack", "staging", "--json"]);
        expect(back.code).toBe(0);
        expect(JSON.parse(back.stdout).request).toEqual({ rollback: { groups: ["api-key"] } });
        const rolledBack = s.stackFile("staging").outputs.rotationState.groups["api-key"];
        expect(rolledBack).toMatchObject({ active: "a", rolledBack: true });
        // A repeated rollback is a no-op (the planner's decision): nothing changes, nothing is regenerated.
        const twice = await s.run(["rollback", "--service", "api-key", "--stack", "staging"]);
        expect(twice.code).toBe(0);
        expect(twice.stdout).toContain("nothing to do");
        expect(s.stackFile("staging").outputs.rotationState.groups["api-key"].generation).toEqual(rolledBack.generation);
        const untouched = await s.run(["rollback", "--service", "r2", "--stack", "staging"]);
        expect(untouched.code).toBe(2);
        expect(untouched.stderr).toMatch(/^error: cannot roll back r2: it has not been rotated since its first deployment\n$/);

        const restart = await s.run(["restart", "--provider", "k8s", "--service", "typesense", "--stack", "staging", "--json", "--stamp", "2026-11-20T1000Z"]);
        expect(restart.code).toBe(0);
        const doc = JSON.parse(restart.stdout);
        expect(doc.request).toEqual({ restart: { scopes: ["k8s/typesense"], stamp: "2026-11-20T1000Z" } });
        expect(doc.steps.filter((x: { kind: string }) => x.kind === "restart").map((x: { target: string }) => x.target)).toEqual([
            "Deployment staging/buywhere-api",
            "Deployment staging/buywhere-search-indexer",
        ]);
    });
});

describe("CLI: bad input changes nothing", () => {
    it.each([
        [["rotate", "--service", "databse", "--stack", "staging"], 2, 'error: Invalid values: Argument: service, Given: "databse", Choices: "database", "redis", "jwt", "api-key", "r2", "typesense" (see --help)'],
        [["rotate", "--service", "jwt", "--provider", "gcp", "--stack", "staging"], 2, 'error: Invalid values: Argument: provider, Given: "gcp", Choices: "aws", "k8s", "all" (see --help)'],
        [["rotate", "--service", "jwt", "--stamp", "2026-13", "--stack", "staging"], 2, 'error: --stamp "2026-13" has no such month; expected `YYYY-MM`, `YYYY-MM-DD` or `YYYY-MM-DDTHHMMZ` (UTC)'],
        [["rotate", "--service", "jwt", "--stamp", "2026-10", "--stack", "staging"], 2, "error: 2026-10 for jwt is earlier than its stamp 2026-11 in the stack file (`rotation:stamp`); stamps never go backwards"],
        [["rotate", "--service", "jwt", "--stamp", "2031-01", "--stack", "staging"], 2, "error: --stamp 2031-01 labels a period that starts in the future"],
        [["rotate", "--service", "jwt", "--service", "jwt", "--stack", "staging"], 2, "error: --service jwt is given twice"],
        [["rotate", "--stack", "staging"], 2, "error: rotate needs --service <group> (one or more); use rotate-all for every group"],
        [["rotate", "--service", "jwt", "--stack", "prod"], 3, 'error: unknown stack "prod": no Pulumi.prod.yaml (stacks: local, production, staging)'],
        [["rotate", "--service", "jwt"], 2, "error: --stack is required: one of local, production, staging"],
        [["rotate", "--service", "jwt", "--stack", "staging", "--force"], 2, "error: --force is not an option of `rotate`; it takes --stack, --json, --verbose, --yes, --dry-run, --stamp, --service, --first-deployment, --provider"],
        [["rotate-all", "--service", "jwt", "--stack", "staging"], 2, "error: --service is not an option of `rotate-all`; it takes --stack, --json, --verbose, --yes, --dry-run, --stamp, --first-deployment (see"],
        [["rollback", "--service", "jwt", "--stack", "staging"], 2, /^error: cannot roll back jwt: the stack has never been deployed$/],
        [["launch"], 2, 'error: unknown command "launch": commands are rotate, rotate-all, restart, rollback, retire, revoke, adopt, status, history, plan, preflight, policy, bootstrap'],
        [[], 2, "error: a command is required (see --help)"],
    ])("%j exits %i with one line", async (args, code, message) => {
        const s = sandbox();
        const r = await s.run(args as string[]);
        expect(r.code).toBe(code);
        expect(r.stdout).toBe("");
        expect(r.stderr.split("\n").filter(Boolean)).toHaveLength(1);
        if (typeof message === "string") expect(r.stderr.startsWith(message), r.stderr).toBe(true);
        else expect(r.stderr.trimEnd()).toMatch(message);
        expect(s.calls().filter((c) => c.op === "up" || c.op === "preview")).toEqual([]);
        expect(s.audit()).toEqual([]);
        expect(s.stackFile("staging")).toBeUndefined();
    });

    it("a stamp older than the last rotation is refused after a deployment, with nothing run", async () => {
        const s = await deployed("staging");
        const r = await s.run(["rotate", "--service", "jwt", "--stamp", "2026-11-01T0000Z", "--stack", "staging"]);
        expect(r.code).toBe(2);
        expect(r.stderr).toBe("error: --stamp 2026-11-01T0000Z is not later than jwt's last stamp 2026-11-01T0000Z; a rotation needs a later stamp\n");
        expect(s.calls().filter((c) => c.op === "up")).toHaveLength(1);
        expect(s.audit()).toHaveLength(1);
    });

    it("a bad environment override is a usage error naming the variable", async () => {
        const s = sandbox();
        const r = await s.run(["plan", "rotate-all", "--stack", "staging"], { AWS_REGION: "mars" });
        expect(r.code).toBe(2);
        expect(r.stderr).toBe('error: environment variable `AWS_REGION` "mars" is not an AWS region\n');
    });

    it("a stack missing from the backend exits 3; another update in progress exits 4 and is audited", async () => {
        const s = sandbox();
        const missing = await s.run(["rotate", "--service", "jwt", "--first-deployment", "--stack", "staging"], { ROTATION_STANDIN_STACKS: "production" });
        expect(missing.code).toBe(3);
        expect(missing.stderr).toMatch(/^error: stack staging does not exist in the Pulumi backend/);

        const busy = await s.run(["rotate", "--service", "jwt", "--first-deployment", "--stack", "staging"], { ROTATION_STANDIN_FAIL: "concurrent" });
        expect(busy.code).toBe(4);
        expect(busy.stderr.trim().split("\n").pop()).toBe(
            "error: another update of stack staging is in progress; nothing was changed, retry when it has finished",
        );
        expect(s.audit().map((a) => a.outcome)).toEqual(["concurrent"]);
    });

    it("a failed update exits 1 and is audited as failed", async () => {
        const s = sandbox();
        const r = await s.run(["rotate", "--service", "jwt", "--first-deployment", "--stack", "staging"], { ROTATION_STANDIN_FAIL: "up" });
        expect(r.code).toBe(1);
        expect(r.stderr.trim().split("\n").pop()).toBe("error: error: up failed in the stand-in engine");
        expect(s.audit()).toMatchObject([{ outcome: "failed", error: "error: up failed in the stand-in engine" }]);
        expect(s.stackFile("staging")).toBeUndefined();
    });

    it("Ctrl-C cancels a running update through the abort signal: non-zero exit, audited as cancelled", async () => {
        const s = sandbox();
        let pid = 0;
        const running = s.run(["rotate", "--service", "jwt", "--first-deployment", "--stack", "staging"], { ROTATION_STANDIN_SLEEP_MS: "20000" }, { onSpawn: (p) => (pid = p) });
        // Wait until the engine has been asked to run, then interrupt.
        for (let i = 0; i < 200 && !s.calls().some((c) => c.op === "up"); i++) await new Promise((r) => setTimeout(r, 50));
        process.kill(pid, "SIGINT");
        const r = await running;
        expect(r.code).toBe(1);
        expect(r.stderr).toContain("interrupt: cancelling");
        expect(r.stderr.trim().split("\n").pop()).toBe("error: cancelled: the operation was cancelled");
        expect(s.audit().map((a) => a.outcome)).toEqual(["cancelled"]);
        expect(s.stackFile("staging")).toBeUndefined();
    });
});

describe("CLI: history and audit sinks", () => {
    it("history lists the stack's updates and the audit trail, newest first", async () => {
        const s = sandbox();
        expect((await s.run(["rotate", "--service", "redis", "--first-deployment", "--stack", "staging", "--stamp", "2026-11-20T0900Z"])).code).toBe(0);
        await s.run(["rotate", "--service", "redis", "--stack", "staging", "--stamp", "2026-11-21T0900Z", "--dry-run"]);
        const r = await s.run(["history", "--stack", "staging", "--json"]);
        expect(r.code).toBe(0);
        const doc = JSON.parse(r.stdout);
        expect(doc.updates).toHaveLength(1);
        expect(doc.updates[0]).toMatchObject({ version: 1, kind: "update", result: "succeeded" });
        expect(doc.audit.map((a: { outcome: string }) => a.outcome)).toEqual(["dry-run", "succeeded"]);
        const human = await s.run(["history", "--stack", "staging"]);
        expect(human.stdout).toContain("redis —→2026-11-20T0900Z");
    });

    it("writes a Markdown row to $GITHUB_STEP_SUMMARY and names the GitHub actor", async () => {
        const s = await deployed("staging");
        const summary = join(s.dir, "summary.md");
        await s.run(["rotate", "--service", "api-key", "--stack", "staging", "--stamp", "2026-11-20T0900Z"], { GITHUB_STEP_SUMMARY: summary, GITHUB_ACTOR: "sre-bot" });
        await s.run(["rotate", "--service", "api-key", "--stack", "staging", "--dry-run"], { GITHUB_STEP_SUMMARY: summary, GITHUB_ACTOR: "sre-bot" });
        const md = readFileSync(summary, "utf8").split("\n");
        expect(md[0]).toBe("### Secrets rotation");
        expect(md[2]).toBe("| time (UTC) | stack | command | outcome | stamps | changes | by |");
        expect(md[4]).toMatch(/^\| \S+ \| staging \| rotate --service api-key --stamp 2026-11-20T0900Z \| succeeded \| api-key 2026-11-01T0000Z \(a\) → 2026-11-20T0900Z \(b\) \| \d+ replace, \d+ update \| github:sre-bot \|$/);
        expect(md[5]).toContain("| dry-run |");
        expect(md.filter((l) => l.startsWith("### "))).toHaveLength(1);
        expect(s.audit()[1].actor).toBe("github:sre-bot");
    });
});
