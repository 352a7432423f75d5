/**
 * The CLI hardened: every bad input (arguments, stamps, environment overrides, the production guard, --state files,
 * bad stack files run against a copy of the project holding the bad file) exits 2 with exactly one stderr line naming
 * it, nothing on stdout and nothing written, judged before any engine call: each case runs with the STAND-IN engine
 * AND through the real entry with no Pulumi CLI on PATH. Then a leak scan over every command's stdout, stderr and audit records for known secret values
 * in plain, URL-encoded and base64 form. The engine is the STAND-IN (test/support/standInEngine.ts), reached through
 * the test entry (test/support/standInBin.ts).
 */
import { CreateSecretCommand } from "@aws-sdk/client-secrets-manager";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { planOrRefuse } from "../automation/request";
import { NO_PULUMI_PATH, REAL_BIN, STANDIN_BIN, projectWith, runCli, sandbox, seedDeployed } from "./support/cli";
import { Moto, startMoto, secretsManagerOn } from "./support/moto";
import { ROOT, stackConfig } from "./support/pulumiProgram";

const good = stackConfig("staging") as Record<string, any>;
const withConfig = (over: Record<string, unknown>) => stringify({ config: { ...good, ...over } });

/** Every file under `dir`, relative, sorted: "nothing written" means this list did not change. */
function filesUnder(dir: string): string[] {
    return existsSync(dir) ? (readdirSync(dir, { recursive: true }) as string[]).sort() : [];
}

/**
 * Runs `args` both ways a new user meets the CLI: through the test entry with the STAND-IN engine, and through the
 * real entry (bin/secrets-rotation.js, the Automation API engine) with no Pulumi CLI on PATH. `project` picks a copy
 * of the project (for a bad stack file). Returns both results with what each wrote.
 */
async function bothWays(args: readonly string[], env: Record<string, string> = {}, project = ROOT) {
    const out = [];
    for (const entry of ["stand-in engine", "no Pulumi CLI on PATH"] as const) {
        const s = sandbox();
        const home = join(s.dir, "home");
        mkdirSync(home);
        const bin = entry === "stand-in engine" ? join(project, "test", "support", "standInBin.ts") : join(project, "bin", "secrets-rotation.js");
        const path = entry === "stand-in engine" ? s.env.PATH : NO_PULUMI_PATH;
        const r = await runCli(args, { ...s.env, HOME: home, PATH: path, ...env }, undefined, bin);
        out.push({ entry, r, s, written: filesUnder(s.dir).filter((f) => f !== "home") });
    }
    return out;
}

/** The contract of a refused input: exit 2, exactly one stderr line naming it, nothing on stdout, nothing written. */
function expectRefused(runs: Awaited<ReturnType<typeof bothWays>>, message: string | RegExp): void {
    for (const { entry, r, s, written } of runs) {
        const where = `${entry}: ${r.stderr}`;
        expect(r.code, where).toBe(2);
        expect(r.stdout, where).toBe("");
        expect(r.stderr.split("\n").filter(Boolean), where).toHaveLength(1);
        expect(r.stderr.startsWith("error: "), where).toBe(true);
        if (typeof message === "string") expect(r.stderr, where).toContain(message);
        else expect(r.stderr, where).toMatch(message);
        // No engine call (not even a read), no audit record, no recorded state, nothing in HOME.
        expect(s.calls(), where).toEqual([]);
        expect(written, where).toEqual([]);
    }
}

describe("bad input is judged before any engine, backend or AWS call (stand-in engine, and no Pulumi CLI at all)", () => {
    it.each([
        // arguments and flags
        [["rotate", "--service", "databse", "--stack", "staging"], 'Argument: service, Given: "databse", Choices: "database", "redis", "jwt"'],
        [["rotate", "--stack", "staging"], "rotate needs --service <group> (one or more); use rotate-all for every group"],
        [["rotate", "--service", "jwt", "--provider", "gcp", "--stack", "staging"], 'Argument: provider, Given: "gcp", Choices: "aws", "k8s", "all"'],
        [["rotate", "--service", "jwt", "--provider", "aws", "--provider", "k8s", "--stack", "staging"], '--provider is given 2 times ("aws", "k8s"): it takes one value; give it once'],
        [["rotate", "--service", "jwt", "--stack", "staging", "--stack", "production"], '--stack is given 2 times ("staging", "production"): it takes one value; give it once'],
        [["rotate", "--service", "jwt", "--stack", "staging", "--dry-run", "--dry-run"], "--dry-run is given 2 times; give it once"],
        [["rotate", "--service", "jwt", "--stack", "staging", "--json=maybe"], "--json=maybe: --json is a switch: give it alone (or --json=true / --json=false)"],
        [["rotate", "--service", "jwt", "--stack", "staging", "--no-dry-run=yes"], "--no-dry-run=yes: --dry-run is a switch"],
        [["rollback", "--service", "jwt", "--stack", "staging", "--stamp", "2026-11"], "--stamp is not an option of `rollback`; it takes --stack, --json, --verbose, --yes, --dry-run, --service"],
        [["revoke", "--service", "jwt", "--provider", "aws", "--stack", "staging"], "--provider is not an option of `revoke`"],
        [["status", "--stack", "staging", "--yes"], "--yes is not an option of `status`; it takes --stack, --json, --verbose"],
        [["history", "--stack", "staging", "--limit", "abc"], '--limit "abc" is not a whole number from 1 to 1000'],
        [["history", "--stack", "staging", "--limit", "5", "--limit", "6"], '--limit is given 2 times ("5", "6")'],
        [["plan"], "plan needs the command to plan: one of rotate, rotate-all, restart, rollback, retire, revoke"],
        [["preflight"], "preflight needs the command to check: one of rotate, rotate-all, restart, rollback, status"],
        [["launch"], 'unknown command "launch": commands are rotate, rotate-all'],
        [["rotate", "--service", "jwt"], "--stack is required: one of "],
        // stamps
        [["rotate", "--service", "jwt", "--stamp", "2099-01", "--stack", "staging"], /^error: --stamp 2099-01 labels a period that starts in the future \(now \S+\); use the current or an earlier period\n$/],
        [["rotate", "--service", "jwt", "--stamp", "2026-13", "--stack", "staging"], '--stamp "2026-13" has no such month; expected `YYYY-MM`, `YYYY-MM-DD` or `YYYY-MM-DDTHHMMZ` (UTC)'],
        [["rotate", "--service", "jwt", "--stamp", "2026-10", "--stack", "staging"], "2026-10 for jwt is earlier than its stamp 2026-11 in the stack file (`rotation:stamp`); stamps never go backwards"],
        [["restart", "--stamp", "2099-01-01", "--stack", "staging"], "--stamp 2099-01-01 labels a period that starts in the future"],
        [["rotate-all", "--stamp", "2099-01", "--stack", "staging", "--dry-run"], "--stamp 2099-01 labels a period that starts in the future"],
        // the production guard
        [["rotate-all", "--stack", "production"], "a live run against production needs --yes (or CI=true); nothing was run (preview it with --dry-run)"],
        [["rotate", "--service", "jwt", "--stack", "production"], "a live run against production needs --yes (or CI=true)"],
        // offline commands
        [["plan", "rollback", "--service", "jwt", "--stack", "staging"], "plan rollback needs the stack's state, and none is recorded on this machine: pass --state <file>, written by `pulumi stack output --json --stack staging > <file>`"],
    ])("%j", async (args, message) => {
        expectRefused(await bothWays(args as string[]), message);
    });

    it.each([
        [{ AWS_REGION: "us-east-1" }, ["rotate", "--service", "jwt", "--stack", "staging"], 'environment variable `AWS_REGION` "us-east-1" conflicts with `rotation:aws.region` "ap-southeast-1" in Pulumi.staging.yaml; unset it, or set ROTATION_ENV_OVERRIDES=1'],
        [{ AWS_REGION: "us-east-1" }, ["status", "--stack", "staging"], "environment variable `AWS_REGION` \"us-east-1\" conflicts with"],
        [{ AWS_REGION: "mars" }, ["history", "--stack", "staging", "--limit", "x"], '--limit "x"'],
        [{ K8S_CONTEXT: "buywhere-staging\nother" }, ["rotate-all", "--stack", "staging"], 'environment variable `K8S_CONTEXT` "buywhere-staging\\nother" is not a kubeconfig context name (one line, no spaces)'],
        [{ AWS_ENDPOINT_URL: "http://127.0.0.1:1" }, ["rotate", "--service", "jwt", "--stack", "staging"], "environment variable `AWS_ENDPOINT_URL` would send stack staging's AWS calls to"],
    ])("environment %j with %j", async (env, args, message) => {
        expectRefused(await bothWays(args as string[], env as Record<string, string>), message);
    });

    it("a --state file with a bad stamp inside is named with the stamp's place in it", async () => {
        const s = sandbox();
        seedDeployed(s, "staging");
        const state = s.stackFile("staging").outputs.rotationState;
        const dir = mkdtempSync(join(tmpdir(), "rotation-state-"));
        for (const [stamp, why] of [
            ["2026-13", '`groups.jwt.stamp` "2026-13" has no such month'],
            ["2099-01", '`groups.jwt.stamp` "2099-01" labels a period that starts in the future'],
        ]) {
            const file = join(dir, `state-${stamp}.json`);
            writeFileSync(file, JSON.stringify({ rotationState: { ...state, groups: { ...state.groups, jwt: { ...state.groups.jwt, stamp } } } }));
            expectRefused(await bothWays(["plan", "rotate", "--service", "jwt", "--stack", "staging", "--state", file]), `--state ${file}: ${why}`);
        }
    });
});

describe("bad stack files", () => {
    it.each([
        ["duplicate ECS services", withConfig({ "rotation:ecs": { ...good["rotation:ecs"], services: [{ name: "api" }, { name: "api" }] } }), '`rotation:ecs.services[1]` lists service "api" twice'],
        ["empty namespaces", withConfig({ "rotation:kubernetes": { ...good["rotation:kubernetes"], namespaces: [] } }), "`rotation:kubernetes.namespaces` must list at least one namespace"],
        ["a prefix escaping buywhere/", withConfig({ "rotation:aws": { region: "ap-southeast-1", secretPrefix: "payments/" } }), '`rotation:aws.secretPrefix` "payments/" is not a prefix under `buywhere/`'],
        ["a health URL that is not a URL", withConfig({ "rotation:health": { urls: ["api.buywhere.io/health"] } }), '`rotation:health.urls[0]` "api.buywhere.io/health" is not an http(s) URL'],
        ["a port of the wrong type", withConfig({ "rotation:redis": { ...good["rotation:redis"], port: "six-three-seven-nine" } }), "`rotation:redis.port` must be a whole number from 1 to 65535"],
        ["missing required config", withConfig({ "rotation:database": { ...good["rotation:database"], host: undefined } }), "`rotation:database.host` is required"],
        [
            "a misspelt nested key (reported as unknown, not as the key it leaves missing)",
            withConfig({ "rotation:database": { ...good["rotation:database"], host: undefined, hots: good["rotation:database"].host } }),
            "`rotation:database` has unknown key `hots` (did you mean `host`?)",
        ],
        ["a typo'd key", withConfig({ "rotation:heatlh": good["rotation:health"] }), "unknown config key `rotation:heatlh` (did you mean `rotation:health`?)"],
        ["a malformed stamp", withConfig({ "rotation:stamp": "2026/11" }), '`rotation:stamp` "2026/11" is not a stamp'],
        ["a stamp in the future", withConfig({ "rotation:stamp": "2099-01" }), /Pulumi\.bad\.yaml: `rotation:stamp` 2099-01 labels a period that starts in the future \(now \S+\); use the current or an earlier period/],
        ["invalid YAML", "config:\n  rotation:stamp: [unclosed\n", "Pulumi.bad.yaml is not valid YAML"],
        ["no config mapping", "encryptionsalt: abc\n", "Pulumi.bad.yaml has no `config:` mapping"],
        ["config: a list", "config:\n  - rotation:stamp: 2026-11\n", "Pulumi.bad.yaml: `config:` is a list, not a mapping of `rotation:<key>: <value>`"],
        ["config: a string", "config: rotation\n", 'Pulumi.bad.yaml: `config:` is a string ("rotation"), not a mapping'],
    ])("%s: exit 2, one line naming it, nothing written", async (name, text, message) => {
        const project = projectWith({ "Pulumi.bad.yaml": text });
        for (const args of [
            ["plan", "rotate-all", "--stack", "bad"],
            ["preflight", "rotate-all", "--stack", "bad"],
            ["rotate", "--service", "jwt", "--stack", "bad", "--stamp", "2026-11-20T0900Z"],
            ["status", "--stack", "bad"],
        ]) {
            // preflight judges the admin credentials a run needs, not when the stack file's stamp is.
            if (args[0] === "preflight" && name === "a stamp in the future") continue;
            expectRefused(await bothWays(args, { ROTATION_STANDIN_STACKS: "bad" }, project), message);
        }
        expect(readFileSync(join(project, "Pulumi.bad.yaml"), "utf8")).toBe(text);
    });
});

describe("conventions", () => {
    it("--version prints the package's version; -h is --help", async () => {
        for (const bin of [STANDIN_BIN, REAL_BIN]) {
            const s = sandbox();
            const version = await runCli(["--version"], { ...s.env, PATH: NO_PULUMI_PATH }, undefined, bin);
            expect([version.code, version.stdout, version.stderr]).toEqual([0, `${JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version}\n`, ""]);
            const short = await runCli(["-h"], { ...s.env, PATH: NO_PULUMI_PATH }, undefined, bin);
            const long = await runCli(["--help"], { ...s.env, PATH: NO_PULUMI_PATH }, undefined, bin);
            expect(short.code).toBe(0);
            expect(short.stdout).toBe(long.stdout);
            expect(short.stdout).toContain("-h, --help");
            const sub = await runCli(["rotate", "-h"], { ...s.env, PATH: NO_PULUMI_PATH }, undefined, bin);
            expect(sub.stdout).toContain("--service");
            expect(filesUnder(s.dir)).toEqual([]);
        }
    });

    it("a warning is printed once per command, with the command that clears it", async () => {
        const project = projectWith({ "Pulumi.bad.yaml": withConfig({ "rotation:groupStamps": { "api-key": "2026-10" } }) });
        const s = sandbox();
        seedDeployed(s, "bad", project);
        const env = { ...s.env, ROTATION_STANDIN_STACKS: "bad" };
        const expected =
            "warning: `rotation:groupStamps.api-key` 2026-10 is older than `rotation:stamp` and has no effect; clear it with `pulumi config rm --path 'rotation:groupStamps[\"api-key\"]' --stack bad`";
        // revoke plans two runs from the same stack file: one warning.
        const revoke = await runCli(["revoke", "--service", "jwt", "--stack", "bad"], env, undefined, join(project, "test", "support", "standInBin.ts"));
        expect(revoke.code, revoke.stderr).toBe(0);
        expect(revoke.stderr.split("\n").filter((l) => l.startsWith("warning:"))).toEqual([expected]);
        const plan = await runCli(["plan", "rotate-all", "--stack", "bad"], env, undefined, join(project, "test", "support", "standInBin.ts"));
        expect(plan.stdout.split("\n").filter((l) => l.startsWith("warning:"))).toEqual([expected]);
        // Commands that act on nothing the warning is about do not repeat it.
        const history = await runCli(["history", "--stack", "bad"], env, undefined, join(project, "test", "support", "standInBin.ts"));
        expect(history.stderr).toBe("");
    });

    it("a second on-demand rotation in the same minute is refused saying exactly when the next is allowed", () => {
        const input = { command: "rotate", stack: "staging", services: ["jwt"], provider: "all" } as const;
        const refusal = { kind: "stamp-not-later", group: "jwt", stamp: "2026-11-25T1630Z", last: "2026-11-25T1630Z", source: { kind: "request" } } as const;
        expect(() => planOrRefuse({ refusal }, input)).toThrow(
            "the stamp taken from the clock 2026-11-25T1630Z is not later than jwt's last stamp 2026-11-25T1630Z; a rotation needs a later stamp; the next on-demand rotation of jwt is allowed from 2026-11-25T16:31:00.000Z (stamp 2026-11-25T1631Z)",
        );
        // An explicit --stamp is the user's choice: no on-demand hint.
        expect(() => planOrRefuse({ refusal }, { ...input, stamp: "2026-11-25T1630Z" })).toThrow(/a rotation needs a later stamp$/);
    });
});

describe("status, history and plan rollback without a Pulumi backend (no Pulumi CLI on PATH)", () => {
    let moto: Moto;
    beforeAll(async () => {
        moto = await startMoto();
    }, 60_000);
    afterAll(async () => moto?.stop());

    it("work from AWS and the state this machine last recorded, saying what they could not read", async () => {
        const s = sandbox();
        seedDeployed(s, "staging");
        const rotated = await s.run(["rotate", "--service", "jwt", "--stack", "staging", "--stamp", "2026-11-20T0900Z"]);
        expect(rotated.code, rotated.stderr).toBe(0);
        // The run recorded what it committed beside the audit file, with no secret in it (the outputs are not secret).
        const recordedFile = join(s.dir, "last-state.staging.json");
        const recorded = JSON.parse(readFileSync(recordedFile, "utf8"));
        expect(recorded.outputs.rotationState.groups.jwt).toMatchObject({ stamp: "2026-11-20T0900Z", active: "b" });

        const offline = { ...s.env, ...moto.env, PATH: NO_PULUMI_PATH, HOME: s.dir };
        const status = await runCli(["status", "--stack", "staging", "--json"], offline, undefined, REAL_BIN);
        expect(status.stderr).toMatch(
            /^warning: could not read stack staging's state from the Pulumi backend \(the Pulumi CLI is not installed or not on PATH [^)]*\)\); stamps and slots below are as recorded at \S+ in \S+last-state\.staging\.json\n$/,
        );
        expect(status.code).toBe(5); // nothing exists in this moto: every secret is missing in AWS
        const report = JSON.parse(status.stdout);
        expect(report.stateFrom).toBe("recorded");
        const jwt = report.secrets.find((x: { name: string }) => x.name === "JWT_SECRET_KEY");
        expect(jwt).toMatchObject({ stamp: "2026-11-20T0900Z", activeSlot: "b" });
        expect(jwt.problems).toEqual(["missing in AWS"]);
        expect(report.awsCalls).toBe(1);

        const history = await runCli(["history", "--stack", "staging", "--json"], offline, undefined, REAL_BIN);
        expect(history.code).toBe(0);
        expect(history.stderr).toMatch(/^warning: could not read stack staging's updates from the Pulumi backend \(the Pulumi CLI is not installed[^\n]*; showing the audit trail only\n$/);
        const doc = JSON.parse(history.stdout);
        expect(doc.updates).toBeNull();
        expect(doc.audit.map((a: { command: string; outcome: string }) => [a.command, a.outcome])).toEqual([["rotate --service jwt --stamp 2026-11-20T0900Z", "succeeded"]]);

        const plan = await runCli(["plan", "rollback", "--service", "jwt", "--stack", "staging", "--json"], offline, undefined, REAL_BIN);
        expect([plan.code, plan.stderr]).toEqual([0, ""]);
        const planned = JSON.parse(plan.stdout);
        expect(planned).toMatchObject({ exact: true, stateRecordedAt: recorded.recordedAt });
        expect(planned.steps[0].detail).toMatch(/^roll back to slot a \(no regeneration\)/);
    });

    it("with no recorded state, status shows AWS facts only and says the stamps are unknown", async () => {
        const s = sandbox();
        const offline = { ...s.env, ...moto.env, PATH: NO_PULUMI_PATH, HOME: s.dir };
        const status = await runCli(["status", "--stack", "staging", "--json"], offline, undefined, REAL_BIN);
        expect(status.stderr).toMatch(/, and none is recorded on this machine; stamps and slots are unknown, AWS facts only\n$/);
        expect(status.code).toBe(5);
        const report = JSON.parse(status.stdout);
        expect(report.stateFrom).toBe("unknown");
        expect(report.secrets[0].problems).toEqual(["stamp unknown: the Pulumi backend could not be read", "missing in AWS"]);
        expect(filesUnder(s.dir)).toEqual([]);
    });
});

describe("leak scan over every command", () => {
    let moto: Moto;
    const secrets = {
        ROTATION_PG_ADMIN_URL: "postgresql://admin:PgAdm1nS3cretLeak@db.internal:5432/buywhere",
        ROTATION_REDIS_ADMIN_URL: "rediss://admin:R3disAdm1nLeak@redis.internal:6379/0",
        ROTATION_TYPESENSE_ADMIN_KEY: "TypesenseAdm1nLeakKey",
        CLOUDFLARE_API_TOKEN: "CloudflareT0kenLeakValue",
        AWS_SECRET_ACCESS_KEY: "AwsSecretAccessKeyLeak123",
    };
    const stored = ["StoredDatabaseUrlValueLeak1", "StoredJwtKeyValueLeak2"];
    const needles = () =>
        [...Object.values(secrets), ...Object.values(secrets).flatMap((v) => { try { return [new URL(v).password]; } catch { return []; } }), ...stored]
            .filter(Boolean)
            .flatMap((v) => [v, encodeURIComponent(v), Buffer.from(v).toString("base64"), Buffer.from(v).toString("base64url")]);

    beforeAll(async () => {
        moto = await startMoto();
        const sm = secretsManagerOn(moto);
        await sm.send(new CreateSecretCommand({ Name: "buywhere/staging/DATABASE_URL", SecretString: stored[0] }));
        await sm.send(new CreateSecretCommand({ Name: "buywhere/staging/JWT_SECRET_KEY", SecretString: stored[1] }));
        sm.destroy();
    }, 60_000);
    afterAll(async () => moto?.stop());

    it("finds none of them in stdout, stderr or the audit trail, with and without --json, on success and failure", async () => {
        const s = sandbox();
        seedDeployed(s, "staging");
        seedDeployed(s, "production");
        const env = { ...moto.env, ...secrets, GITHUB_STEP_SUMMARY: join(s.dir, "summary.md") };
        const commands: string[][] = [
            ["--help"],
            ["plan", "rotate-all", "--stack", "staging"],
            ["rotate-all", "--stack", "staging", "--stamp", "2026-11-01T0000Z"],
            ["rotate", "--service", "database", "--stack", "staging", "--dry-run"],
            ["rotate", "--service", "database", "--stack", "staging", "--stamp", "2026-11-20T0900Z"],
            ["rotate", "--service", "redis", "--provider", "aws", "--stack", "staging", "--stamp", "2026-11-20T0900Z"],
            ["restart", "--stack", "staging", "--stamp", "2026-11-20T1000Z"],
            ["rollback", "--service", "database", "--stack", "staging"],
            ["rotate-all", "--stack", "production"],
            ["status", "--stack", "staging"],
            ["history", "--stack", "staging"],
            ["bootstrap", "--print", "--stack", "staging"],
            ["preflight", "rotate-all", "--stack", "staging"],
            ["rotate", "--service", "jwt", "--stack", "staging", "--stamp", "1999-01"],
        ];
        let output = "";
        for (const args of commands) {
            for (const json of [[], ["--json"]]) {
                const r = await s.run([...args, ...json], env);
                output += r.stdout + r.stderr;
            }
        }
        const failing = await s.run(["rotate", "--service", "jwt", "--stack", "staging", "--verbose"], { ...env, ROTATION_STANDIN_FAIL: "up" });
        output += failing.stdout + failing.stderr;
        const audit = readFileSync(s.env.ROTATION_AUDIT_FILE, "utf8") + readFileSync(join(s.dir, "summary.md"), "utf8");
        expect(audit.split("\n").filter(Boolean).length).toBeGreaterThan(10); // the scan saw real records
        expect(output).toContain("Would do"); // ...and real output
        const hits = needles().filter((n) => output.includes(n) || audit.includes(n));
        expect(hits).toEqual([]);
        // The scan can fail: a value planted in the output is found.
        expect(needles().filter((n) => `${output}${Buffer.from(stored[0]).toString("base64")}`.includes(n))).toContain(Buffer.from(stored[0]).toString("base64"));
    });
});
