/**
 * The CLI end to end through the REAL Automation API (issue 14): the real `bin/secrets-rotation.js`, whose
 * automation/pulumiEngine.ts drives the real `@pulumi/pulumi/automation` (3.248.0), which runs `pulumi` — here the
 * PULUMI CLI DOUBLE on the CLI's PATH (test/support/pulumiCliDouble.ts; it is not Pulumi), backed by the ENGINE
 * EMULATOR running the real program with real side effects on moto, PostgreSQL 15, Redis, the Typesense keys-API double,
 * the R2 double and a local health endpoint (the rotation world, test/support/rotationWorld.ts), state in a file backend.
 *
 * The stack file is the repo's Pulumi.staging.yaml (what the CLI reads); the double gives the program the world's
 * overrides (local servers, short timeouts) through PULUMI_DOUBLE_CONFIG_OVERRIDES, without
 * `rotation:firstDeployment`: a first run needs `--first-deployment`, as in production.
 *
 * Every command line the double gets is logged; anything it does not implement is refused, and the last test asserts
 * that nothing was, so an Automation API that sends something new fails here.
 */
import { ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PutSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import Redis from "ioredis";
import { Client } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditRecord } from "../automation/audit";
import { CliResult, REAL_BIN, nodeArgs, runCli } from "./support/cli";
import { FileBackend } from "./support/emulator/backend";
import { ROOT } from "./support/pulumiProgram";
import { PulumiDouble, installPulumiDouble } from "./support/pulumiCliDouble";
import { AWS_PREFIX, CONTEXT, NAMESPACE, RotationWorld, SECRET_NAME, STACK, startRotationWorld } from "./support/rotationWorld";

let world: RotationWorld;
let double: PulumiDouble;
let dir: string;
let env: Record<string, string>;

const WORLD_ENV = ["ROTATION_PG_ADMIN_URL", "ROTATION_REDIS_ADMIN_URL", "ROTATION_TYPESENSE_ADMIN_KEY", "CLOUDFLARE_API_TOKEN", "ROTATION_R2_ENDPOINT", "ROTATION_ALLOW_R2_ENDPOINT"];

beforeAll(async () => {
    world = await startRotationWorld();
    const backendDir = world.emu.options.backendDir;
    // `pulumi stack init staging` on the file backend; the world seeded the emulated cluster in the same directory.
    world.emu.initStack(STACK);
    double = installPulumiDouble(backendDir);
    dir = mkdtempSync(join(tmpdir(), "cli-e2e-"));
    const { "rotation:firstDeployment": _, ...overrides } = world.config;
    env = {
        ...double.env,
        HOME: dir,
        ROTATION_AUDIT_FILE: join(dir, "audit.jsonl"),
        ...world.moto.env,
        ...Object.fromEntries(WORLD_ENV.map((k) => [k, world.env[k]!])),
        PULUMI_DOUBLE_CONFIG_OVERRIDES: JSON.stringify(overrides),
    };
}, 120_000);

afterAll(async () => {
    double?.remove();
    await world?.stop();
});

/** Exit 0, or the whole stderr in the failure message. */
const succeeded = (r: CliResult) => expect({ code: r.code, stderr: r.code === 0 ? "" : r.stderr }).toEqual({ code: 0, stderr: "" });
const run = (args: readonly string[], extra: Record<string, string> = {}): Promise<CliResult> => runCli(args, { ...env, ...extra }, undefined, REAL_BIN);
const audit = (): AuditRecord[] => (existsSync(join(dir, "audit.jsonl")) ? readFileSync(join(dir, "audit.jsonl"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as AuditRecord) : []);
/** The subcommand of each `pulumi` invocation since `from`. */
const subcommands = (from: number) =>
    double
        .calls()
        .slice(from)
        .map((c) => c.slice(0, c.findIndex((a) => a.startsWith("-")) === -1 ? c.length : c.findIndex((a) => a.startsWith("-"))).join(" "));

/**
 * On-demand stamps (`YYYY-MM-DDTHHMMZ`, minute precision) counted back from the start of the file, so that each run
 * has a later stamp than the one before without waiting for the clock, and a resumed run repeats the same command.
 * (Within the first ten minutes of a month the earliest would precede the stack file's monthly stamp.)
 */
const T0 = Date.now();
const stamp = (minutes: number) => `${new Date(T0 + minutes * 60_000).toISOString().slice(0, 16).replace(":", "")}Z`;

async function until(what: string, condition: () => boolean, ms = 60_000, output?: () => string): Promise<void> {
    const end = Date.now() + ms;
    while (!condition()) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}${output ? `; the CLI printed:\n${output()}` : ""}`);
        await new Promise((r) => setTimeout(r, 25));
    }
}

function collect(child: ChildProcess): Promise<CliResult> {
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d) => (stdout += d));
    child.stderr?.on("data", (d) => (stderr += d));
    return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
}

describe("the CLI through the real Automation API and the pulumi CLI double (engine emulator, real servers)", () => {
    it("bad input and the production guard are refused before Pulumi runs: exit 2, one line, no pulumi invocation, nothing audited", async () => {
        const before = double.calls().length;
        const guard = await run(["rotate", "--service", "jwt", "--stack", "production"]);
        expect(guard).toEqual({ code: 2, stdout: "", stderr: "error: a live run against production needs --yes (or CI=true); nothing was run (preview it with --dry-run)\n" });
        const bad = await run(["rotate", "--service", "nosuch", "--stack", "staging"]);
        expect(bad.code).toBe(2);
        expect(bad.stdout).toBe("");
        expect(bad.stderr.trim().split("\n")).toHaveLength(1);
        expect(bad.stderr).toContain("nosuch");
        // plan is offline.
        const plan = await run(["plan", "rotate", "--service", "database", "--stack", "staging"]);
        expect(plan.code).toBe(0);
        expect(plan.stdout).toContain("database");
        expect(double.calls().length).toBe(before);
        expect(audit()).toEqual([]);
    }, 60_000);

    it("a stack not in the backend: the SDK's StackNotFoundError from pulumi's own text, exit 3", async () => {
        const r = await run(["rotate-all", "--dry-run", "--stack", "production"]);
        expect(r.code).toBe(3);
        expect(r.stdout).toBe("");
        expect(r.stderr.trim().split("\n").pop()).toBe("error: stack production does not exist in the Pulumi backend (pulumi stack init production): no stack named 'production' found");
        expect(subcommands(0)).toContain("stack output");
    }, 60_000);

    it("a stack without state: a plain run is refused naming adopt and --first-deployment (exit 2, only its outputs read)", async () => {
        const before = double.calls().length;
        const r = await run(["rotate", "--service", "jwt", "--stack", "staging"]);
        expect(r.code).toBe(2);
        expect(r.stdout).toBe("");
        expect(r.stderr).toBe(
            "error: the stack has no recorded state, and a first deployment would replace every credential in use: run `secrets-rotation adopt --stack staging` to take over the values in use today, or, only where nothing uses these secrets yet, add --first-deployment\n",
        );
        expect(new Set(subcommands(before))).toEqual(new Set(["version", "stack output"]));
    }, 60_000);

    it("adopt on the world's seed (the Kubernetes Secret lacks the keys AWS has): the program's refusal, read in a preview that streamed its events to the SDK over gRPC; exit 2, one line, nothing changed or audited", async () => {
        const before = double.calls().length;
        const r = await run(["adopt", "--dry-run", "--stack", "staging"]);
        expect(r.code).toBe(2);
        expect(r.stdout).toBe("");
        const errors = r.stderr.split("\n").filter((l) => l.startsWith("error:"));
        expect(errors).toHaveLength(1);
        expect(errors[0]).toMatch(/^error: cannot adopt: Kubernetes Secret staging\/buywhere-secrets .*has no key POSTGRES_PASSWORD, while `buywhere\/staging\/POSTGRES_PASSWORD` has version [0-9a-f-]{36}$/);
        expect(r.stderr.trim().split("\n").pop()).toBe(errors[0]);
        const preview = double.calls().slice(before).find((c) => c[0] === "preview")!;
        // Since 3.206 the SDK serves engine events over gRPC (automation/stack.js setupEventLog).
        expect(preview[preview.indexOf("--event-log") + 1]).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
        expect(await world.awsCurrent("JWT_SECRET_KEY")).toBe("seed-value");
        expect(audit()).toEqual([]);
    }, 120_000);

    it("rotate-all --first-deployment --dry-run previews every group: Pulumi's counts, nothing changed, audited as dry-run", async () => {
        const before = double.calls().length;
        const r = await run(["rotate-all", "--first-deployment", "--dry-run", "--stack", "staging", "--json", "--stamp", stamp(-10)]);
        succeeded(r);
        // One `pulumi version` for the process, though it opens a workspace to read the outputs and one to preview.
        expect(subcommands(before).filter((c) => c === "version")).toEqual(["version"]);
        expect(subcommands(before).at(-1)).toBe("preview");
        const doc = JSON.parse(r.stdout);
        expect(doc).toMatchObject({ command: "rotate-all", outcome: "dry-run" });
        // A preview's counts reach the CLI only through the summary event the double streamed (stack.js `preview`).
        expect(doc.changes.create).toBeGreaterThan(10);
        expect(await world.awsCurrent("JWT_SECRET_KEY")).toBe("seed-value");
        expect(world.emu.resources(STACK)).toEqual([]);
        expect(audit().at(-1)).toMatchObject({ command: `rotate-all --stamp ${stamp(-10)} --first-deployment --dry-run`, outcome: "dry-run" });
    }, 120_000);

    let firstJwt: string;
    it("rotate-all --first-deployment deploys for real: every store written, PostgreSQL logs in, outputs read back through `stack output`", async () => {
        const r = await run(["rotate-all", "--first-deployment", "--stack", "staging", "--json", "--stamp", stamp(-10)]);
        expect(r.stderr.split("\n").filter((l) => l.startsWith("error:"))).toEqual([]);
        succeeded(r);
        const doc = JSON.parse(r.stdout);
        expect(doc).toMatchObject({ command: "rotate-all", stack: "staging", outcome: "succeeded" });
        expect(doc.changes.create).toBeGreaterThan(10);
        firstJwt = await world.awsCurrent("JWT_SECRET_KEY");
        expect(firstJwt).not.toBe("seed-value");
        expect(world.k8sSecret().JWT_SECRET_KEY).toBe(firstJwt);
        expect(await world.canLogIn(await world.awsCurrent("DATABASE_URL"))).toBe(true);
        expect(audit().at(-1)).toMatchObject({ command: `rotate-all --stamp ${stamp(-10)} --first-deployment`, outcome: "succeeded" });
        // The checkout's selected stack was never touched.
        expect(subcommands(0)).not.toContain("stack select");
        // No secret in anything the CLI printed.
        expect(`${r.stdout}${r.stderr}`).not.toContain(firstJwt);
    }, 180_000);

    it("status reads the stack's outputs from the backend and AWS from moto", async () => {
        const r = await run(["status", "--stack", "staging", "--json"]);
        expect([0, 5]).toContain(r.code);
        const doc = JSON.parse(r.stdout);
        expect(doc).toMatchObject({ stack: "staging", stateFrom: "backend" });
    }, 60_000);

    let firstDatabaseUrl: string;
    it("rotate --service database: the other PostgreSQL role gets a new password and is published; the previous URL still logs in", async () => {
        firstDatabaseUrl = await world.awsCurrent("DATABASE_URL");
        const r = await run(["rotate", "--service", "database", "--stack", "staging", "--stamp", stamp(-8)]);
        succeeded(r);
        expect(r.stdout).toMatch(/^Done: `rotate --service database --stamp \S+` on stack staging/);
        expect(r.stdout).toMatch(/Pulumi changed: /);
        const url = await world.awsCurrent("DATABASE_URL");
        expect(url).not.toBe(firstDatabaseUrl);
        expect(world.k8sSecret().DATABASE_URL).toBe(url);
        expect(await world.canLogIn(url)).toBe(true);
        expect(await world.canLogIn(firstDatabaseUrl)).toBe(true);
        expect(audit().at(-1)).toMatchObject({ command: `rotate --service database --stamp ${stamp(-8)}`, outcome: "succeeded", groups: ["database"] });
        expect(`${r.stdout}${r.stderr}`).not.toContain(new URL(url).password);
    }, 120_000);

    it("restart --provider k8s restarts the Deployments without rotating", async () => {
        const before = world.deployments.map((d) => world.restartedAt(d));
        const r = await run(["restart", "--provider", "k8s", "--stack", "staging"]);
        succeeded(r);
        expect(world.deployments.map((d) => world.restartedAt(d))).not.toEqual(before);
        expect(audit().at(-1)).toMatchObject({ command: "restart --provider k8s", outcome: "succeeded" });
    }, 120_000);

    it("rollback --service database makes the first URL current again (no regeneration)", async () => {
        const r = await run(["rollback", "--service", "database", "--stack", "staging"]);
        succeeded(r);
        expect(await world.awsCurrent("DATABASE_URL")).toBe(firstDatabaseUrl);
        expect(await world.canLogIn(firstDatabaseUrl)).toBe(true);
        expect(audit().at(-1)).toMatchObject({ command: "rollback --service database", outcome: "succeeded" });
    }, 120_000);

    it("another update holding the stack's lock: the SDK's ConcurrentUpdateError from the backend's text, exit 4, audited", async () => {
        const release = new FileBackend(world.emu.options.backendDir, world.emu.project).lock(STACK);
        try {
            const r = await run(["rotate", "--service", "redis", "--stack", "staging"]);
            expect(r.code).toBe(4);
            expect(r.stderr.trim().split("\n").pop()).toBe("error: another update of stack staging is in progress; nothing was changed, retry when it has finished");
            expect(audit().at(-1)).toMatchObject({ command: "rotate --service redis", outcome: "concurrent" });
        } finally {
            release();
        }
    }, 60_000);

    it("Ctrl-C (not in a terminal): pulumi gets exactly one SIGINT, cancels, the run is reported and audited as cancelled; the same command then finishes it", async () => {
        const slow = { PULUMI_DOUBLE_KUBERNETES: JSON.stringify({ rollouts: { "*": { delayMs: 8000 } } }) };
        const args = ["rotate", "--service", "api-key", "--stack", "staging", "--stamp", stamp(-6)];
        const child = spawn(process.execPath, nodeArgs(REAL_BIN, args), { cwd: ROOT, env: { ...env, ...slow } });
        let progress = "";
        child.stderr.on("data", (d) => (progress += d));
        const done = collect(child);
        // Interrupt mid-update: once a first consumer is being restarted (its rollout takes 8 s), the run has recorded
        // its attempt and published; what is in flight finishes, nothing else starts.
        await until("a restart to start", () => progress.includes("[ecs-redeploy] forced a new deployment"), 60_000, () => progress);
        child.kill("SIGINT");
        const r = await done;
        expect(double.signals()).toEqual(["SIGINT"]);
        expect(r.code).toBe(1);
        expect(r.stderr).toContain("^C received; cancelling");
        expect(r.stderr.trim().split("\n").pop()).toBe("error: cancelled: the operation was cancelled");
        expect(r.stdout).toBe("");
        expect(audit().at(-1)).toMatchObject({ outcome: "cancelled", error: "cancelled: the operation was cancelled" });
        // The cancelled update's outputs are exactly its last outputs event, which carries the committed run's other
        // outputs too: `status` still finds each secret's AWS version id.
        const kept = world.emu.outputs(STACK);
        expect(Object.keys(kept).sort()).toEqual(["restarts", "rotationAttempt", "rotationState", "secrets"]);
        expect(Object.keys(kept.secrets.value as object)).toContain("BUYWHERE_API_KEY");
        const again = await run(args);
        expect(again.stderr).toContain("resuming an unfinished run");
        succeeded(again);
    }, 180_000);

    it("a failing health check fails the run with its own line (exit 1, audited as failed); the same command finishes once healthy", async () => {
        world.setHealthStatus(503);
        const args = ["rotate", "--service", "redis", "--stack", "staging", "--stamp", stamp(-4)];
        let r: CliResult;
        try {
            r = await run(args);
        } finally {
            world.setHealthStatus(200);
        }
        expect(r.code).toBe(1);
        const last = r.stderr.trim().split("\n").pop()!;
        expect(last).toMatch(/^error: .*health/);
        expect(audit().at(-1)).toMatchObject({ command: `rotate --service redis --stamp ${stamp(-4)}`, outcome: "failed" });
        const again = await run(args);
        succeeded(again);
    }, 180_000);

    it("history lists the backend's updates (through `stack history --json`) and the audit trail", async () => {
        const r = await run(["history", "--stack", "staging", "--json"]);
        succeeded(r);
        const doc = JSON.parse(r.stdout);
        const results = (doc.updates as { result: string; version: number }[]).map((u) => u.result);
        // first deployment, database, restart, rollback, api-key cancelled + finished, redis failed + finished: newest first.
        expect(results).toEqual(["succeeded", "failed", "succeeded", "failed", "succeeded", "succeeded", "succeeded", "succeeded"]);
        expect(doc.audit.length).toBe(audit().length);
    }, 60_000);

    it("bootstrap --print needs no Pulumi (a live bootstrap of the staging file reaches ElastiCache's API, which moto lacks: test/bootstrap.test.ts)", async () => {
        const before = double.calls().length;
        const r = await run(["bootstrap", "--print", "--stack", "staging"]);
        succeeded(r);
        expect(r.stdout).toContain("aws elasticache create-user");
        expect(double.calls().length).toBe(before);
    }, 60_000);

    /** The locks a terminated `pulumi up` left behind, removed as `pulumi cancel` would (the error text says so). */
    const removeLocks = () => rmSync(join(world.emu.options.backendDir, ".pulumi", "locks"), { recursive: true, force: true });
    const SLOW = { PULUMI_DOUBLE_KUBERNETES: JSON.stringify({ rollouts: { "*": { delayMs: 8000 } } }) };

    it("Ctrl-C twice, not in a terminal (CI: SIGINT, then SIGTERM): both are forwarded, pulumi terminates, the run is cancelled", async () => {
        const signalsBefore = double.signals().length;
        const child = spawn(process.execPath, nodeArgs(REAL_BIN, ["rotate", "--service", "typesense", "--stack", "staging", "--stamp", stamp(-3)]), { cwd: ROOT, env: { ...env, ...SLOW } });
        let progress = "";
        child.stderr!.on("data", (d) => (progress += d));
        const done = collect(child);
        await until("a restart to start", () => progress.includes("[ecs-redeploy] forced a new deployment"), 60_000, () => progress);
        child.kill("SIGINT");
        await until("the first SIGINT to reach pulumi", () => double.signals().length === signalsBefore + 1);
        child.kill("SIGTERM");
        const r = await done;
        removeLocks();
        expect(double.signals().slice(signalsBefore)).toEqual(["SIGINT", "SIGINT"]);
        expect(r.stderr).toContain("interrupt: terminating Pulumi");
        expect(r.stderr).toContain("^C received; terminating");
        expect(r.code).toBe(1);
        expect(audit().at(-1)).toMatchObject({ outcome: "cancelled" });
    }, 120_000);

    it("in a terminal: Ctrl-C typed once reaches pulumi exactly once (the terminal's; the CLI forwards none), twice terminates", async () => {
        const signalsBefore = double.signals().length;
        // Not typesense again: the terminated run above already restarted its consumers onto the slot a rerun rebuilds
        // (generation labels come from the committed state), so a rerun has no restart to interrupt.
        const args = ["rotate", "--service", "api-key", "--stack", "staging", "--stamp", stamp(-2)];
        const command = ["exec", ...[process.execPath, ...nodeArgs(REAL_BIN, args)].map((a) => `'${a}'`)].join(" ");
        // util-linux `script` runs the command on a new pseudo-terminal, as its foreground process group, and copies
        // what we write to its stdin to the terminal: a "\x03" there is a typed Ctrl-C.
        const terminal = spawn("script", ["-q", "-e", "-c", command, "/dev/null"], { cwd: ROOT, env: { ...env, ...SLOW } });
        const done = collect(terminal);
        let progress = "";
        terminal.stdout!.on("data", (d) => (progress += d));
        await until("a restart to start", () => progress.includes("[ecs-redeploy] forced a new deployment"), 60_000, () => progress);
        terminal.stdin!.write("\x03");
        await until("the first SIGINT to reach pulumi", () => double.signals().length >= signalsBefore + 1);
        // Give a forwarded duplicate (the defect this guards against) time to arrive before counting.
        await new Promise((r) => setTimeout(r, 750));
        expect(double.signals().slice(signalsBefore)).toEqual(["SIGINT"]);
        terminal.stdin!.write("\x03");
        const r = await done;
        removeLocks();
        expect(double.signals().slice(signalsBefore)).toEqual(["SIGINT", "SIGINT"]);
        expect(r.stdout).toContain("^C received; terminating");
        expect(r.stdout).toContain("error: cancelled: the operation was cancelled");
        expect(r.code).toBe(1);
        expect(audit().at(-1)).toMatchObject({ outcome: "cancelled" });
    }, 120_000);

    it("the double implemented every command line the Automation API sent; the CLI used exactly these", () => {
        expect(double.refused()).toEqual([]);
        expect(new Set(subcommands(0))).toEqual(new Set(["version", "stack output", "preview", "up", "stack history"]));
        for (const up of double.calls().filter((c) => c[0] === "up")) expect(up).toEqual(expect.arrayContaining(["--yes", "--skip-preview"]));
        for (const c of double.calls().filter((c) => c[0] !== "version")) {
            expect(c.at(-1)).toBe("--non-interactive");
            expect(c[c.indexOf("--stack") + 1]).toMatch(/^(staging|production)$/);
        }
    });

    it("(after the check above) an option the CLI never uses, sent through the real Automation API, is refused with the double's own error and logged", async () => {
        const { LocalWorkspace, PulumiCommand, Stack } = await import("@pulumi/pulumi/automation");
        const saved = { dir: process.env.PULUMI_DOUBLE_DIR, url: process.env.PULUMI_BACKEND_URL };
        // `pulumi version` runs with the test process's environment (automation/cmd.js `PulumiCommand.get`).
        process.env.PULUMI_DOUBLE_DIR = double.dir;
        process.env.PULUMI_BACKEND_URL = double.env.PULUMI_BACKEND_URL;
        try {
            const ws = await LocalWorkspace.create({ workDir: ROOT, pulumiCommand: await PulumiCommand.get({ root: double.dir }) });
            ws.selectStack = async () => undefined; // as automation/pulumiEngine.ts openStack
            const stack = await Stack.select(STACK, ws);
            await expect(stack.up({ message: "not something the CLI sends" })).rejects.toThrow(/error: pulumi CLI double: unimplemented `--message` of `up`/);
        } finally {
            if (saved.dir === undefined) delete process.env.PULUMI_DOUBLE_DIR;
            else process.env.PULUMI_DOUBLE_DIR = saved.dir;
            if (saved.url === undefined) delete process.env.PULUMI_BACKEND_URL;
            else process.env.PULUMI_BACKEND_URL = saved.url;
        }
        expect(double.refused()).toEqual([{ args: expect.arrayContaining(["up", "--message"]), refused: "`--message` of `up`" }]);
    }, 60_000);
});

describe("adopt through the CLI, the real Automation API and the pulumi CLI double: a fresh stack whose secrets are in use", () => {
    const LEGACY_USER = "buywhere_legacy_e2e";
    const LEGACY_PG_PASSWORD = "LegacyPgE2e00000000000000000000000000001";
    const LEGACY_REDIS_PASSWORD = "LegacyRedisE2e0000000000000000000000001";
    let adoptEnv: Record<string, string>;
    let legacy: Record<string, string>;
    let versions: Record<string, string>;

    beforeAll(async () => {
        // A new backend and emulated cluster; Secrets Manager back to the seed's ten secrets (rotationWorld freshStack).
        await world.freshStack();
        world.emu.initStack(STACK);
        adoptEnv = { ...env, PULUMI_BACKEND_URL: `file://${world.emu.options.backendDir}` };
        const admin = new Client({ connectionString: world.pg.adminUrl });
        await admin.connect();
        try {
            await admin.query(`CREATE ROLE ${LEGACY_USER} LOGIN PASSWORD '${LEGACY_PG_PASSWORD}'`);
        } finally {
            await admin.end();
        }
        const redis = new Redis(world.redis.adminUrl);
        await redis.call("ACL", "SETUSER", "buywhere-api", "on", `>${LEGACY_REDIS_PASSWORD}`);
        redis.disconnect();
        // What the seed system left in both stores: the same ten values in Secrets Manager and the Kubernetes Secret.
        const port = new URL(world.redis.adminUrl).port;
        legacy = {
            POSTGRES_PASSWORD: LEGACY_PG_PASSWORD,
            DATABASE_URL: `postgresql://${LEGACY_USER}:${LEGACY_PG_PASSWORD}@db.internal:5432/buywhere?sslmode=require`,
            DATABASE_REPLICA_URL: `postgresql://${LEGACY_USER}:${LEGACY_PG_PASSWORD}@db-ro.internal:5432/buywhere?sslmode=require`,
            PGBOUNCER_URL: `postgresql://${LEGACY_USER}:${LEGACY_PG_PASSWORD}@pgbouncer.internal:6432/buywhere?sslmode=require`,
            REDIS_URL: `rediss://buywhere-api:${LEGACY_REDIS_PASSWORD}@cache.internal:${port}/0`,
            JWT_SECRET_KEY: "legacy-jwt-e2e-000000000000000000000000000000000000000000000001",
            BUYWHERE_API_KEY: "legacy-api-key-e2e-000000000000000000000001",
            R2_ACCESS_KEY_ID: "0123456789abcdef0123456789abcdef",
            R2_SECRET_ACCESS_KEY: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            TYPESENSE_API_KEY: "LegacyTypesenseE2e000000000000000000001",
        };
        versions = {};
        for (const [name, value] of Object.entries(legacy)) {
            versions[name] = (await world.sm.send(new PutSecretValueCommand({ SecretId: `${AWS_PREFIX}${name}`, SecretString: value }))).VersionId!;
        }
        world.emu.kubernetes.put(CONTEXT, {
            apiVersion: "v1",
            kind: "Secret",
            metadata: { name: SECRET_NAME, namespace: NAMESPACE },
            type: "Opaque",
            data: Object.fromEntries(Object.entries({ SENTRY_DSN: "https://sentry.example/1", ...legacy }).map(([k, v]) => [k, Buffer.from(v).toString("base64")])),
        });
    }, 120_000);

    it("adopt --dry-run lists every secret it takes with its AWS version (read by the CLI), previews, changes nothing", async () => {
        const r = await runCli(["adopt", "--dry-run", "--stack", "staging"], adoptEnv, undefined, REAL_BIN);
        succeeded(r);
        expect(r.stdout).toMatch(/^Would do \(nothing was changed\): `adopt --dry-run` on stack staging/);
        for (const name of Object.keys(legacy)) expect(r.stdout).toContain(`${name} version ${versions[name]}`);
        expect(world.emu.resources(STACK)).toEqual([]);
    }, 120_000);

    it("adopt: the values in use become slot a, nothing is published or restarted, the state names the versions; adopt again is refused", async () => {
        const k8sBefore = world.k8sSecret();
        const r = await runCli(["adopt", "--stack", "staging", "--json"], adoptEnv, undefined, REAL_BIN);
        succeeded(r);
        expect(JSON.parse(r.stdout)).toMatchObject({ command: "adopt", stack: "staging", outcome: "succeeded" });
        for (const name of Object.keys(legacy)) expect(await world.awsCurrent(name), name).toBe(legacy[name]);
        expect(world.k8sSecret()).toEqual(k8sBefore);
        for (const d of world.deployments) expect(world.restartedAt(d)).toBeUndefined();
        const state = world.emu.outputs(STACK).rotationState.value as { groups: Record<string, { generation: Record<string, string>; adopted?: { versions: Record<string, string> } }> };
        expect(state.groups.jwt.generation.a).toBe("adopted");
        expect(state.groups.jwt.adopted?.versions.JWT_SECRET_KEY).toBe(versions.JWT_SECRET_KEY);
        expect(audit().at(-1)).toMatchObject({ command: "adopt", outcome: "succeeded" });
        for (const v of Object.values(legacy)) expect(`${r.stdout}${r.stderr}`).not.toContain(v);

        const again = await runCli(["adopt", "--stack", "staging"], adoptEnv, undefined, REAL_BIN);
        expect(again.code).toBe(2);
        expect(again.stdout).toBe("");
        expect(again.stderr.trim().split("\n")).toHaveLength(1);
    }, 180_000);

    it("the double still refused nothing but the one probe above", () => {
        expect(double.refused().map((r) => r.refused)).toEqual(["`--message` of `up`"]);
    });
});
