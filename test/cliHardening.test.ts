/**
 * The CLI hardened: bad stack files (run against a copy of the project holding the bad file) exit 2 with one line
 * and write nothing; and a leak scan over every command's stdout, stderr and audit records for known secret values
 * in plain, URL-encoded and base64 form. The engine is the STAND-IN (test/support/standInEngine.ts), reached through
 * the test entry (test/support/standInBin.ts).
 */
import { CreateSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { projectWith, runCli, sandbox } from "./support/cli";
import { Moto, startMoto } from "./support/moto";
import { stackConfig } from "./support/pulumiProgram";

const good = stackConfig("staging") as Record<string, any>;
const withConfig = (over: Record<string, unknown>) => stringify({ config: { ...good, ...over } });

describe("bad stack files", () => {
    it.each([
        ["duplicate ECS services", withConfig({ "rotation:ecs": { ...good["rotation:ecs"], services: [{ name: "api" }, { name: "api" }] } }), '`rotation:ecs.services[1]` lists service "api" twice'],
        ["empty namespaces", withConfig({ "rotation:kubernetes": { ...good["rotation:kubernetes"], namespaces: [] } }), "`rotation:kubernetes.namespaces` must list at least one namespace"],
        ["a prefix escaping buywhere/", withConfig({ "rotation:aws": { region: "ap-southeast-1", secretPrefix: "payments/" } }), '`rotation:aws.secretPrefix` "payments/" is not a prefix under `buywhere/`'],
        ["a health URL that is not a URL", withConfig({ "rotation:health": { urls: ["api.buywhere.io/health"] } }), '`rotation:health.urls[0]` "api.buywhere.io/health" is not an http(s) URL'],
        ["a port of the wrong type", withConfig({ "rotation:redis": { ...good["rotation:redis"], port: "six-three-seven-nine" } }), "`rotation:redis.port` must be a whole number from 1 to 65535"],
        ["missing required config", withConfig({ "rotation:database": { ...good["rotation:database"], host: undefined } }), "`rotation:database.host` is required"],
        ["a typo'd key", withConfig({ "rotation:heatlh": good["rotation:health"] }), "unknown config key `rotation:heatlh`"],
        ["a malformed stamp", withConfig({ "rotation:stamp": "2026/11" }), '`rotation:stamp` "2026/11" is not a stamp'],
        ["invalid YAML", "config:\n  rotation:stamp: [unclosed\n", "Pulumi.bad.yaml is not valid YAML"],
        ["no config mapping", "encryptionsalt: abc\n", "Pulumi.bad.yaml has no `config:` mapping"],
    ])("%s: exit 2, one line naming it, nothing written", async (_, text, message) => {
        const project = projectWith({ "Pulumi.bad.yaml": text });
        const s = sandbox();
        for (const args of [
            ["plan", "rotate-all", "--stack", "bad"],
            ["preflight", "rotate-all", "--stack", "bad"],
            ["rotate", "--service", "jwt", "--stack", "bad", "--stamp", "2026-11-20T0900Z"],
        ]) {
            const r = await runCli(args, { ...s.env, ROTATION_STANDIN_STACKS: "bad" }, undefined, join(project, "test", "support", "standInBin.ts"));
            expect(r.code).toBe(2);
            expect(r.stdout).toBe("");
            expect(r.stderr.split("\n").filter(Boolean)).toHaveLength(1);
            expect(r.stderr).toContain(message);
        }
        expect(readFileSync(join(project, "Pulumi.bad.yaml"), "utf8")).toBe(text);
        expect(s.calls().filter((c) => c.op !== "outputs")).toEqual([]);
        expect(existsSync(s.env.ROTATION_AUDIT_FILE)).toBe(false);
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
        const sm = new SecretsManagerClient({ region: "ap-southeast-1", endpoint: moto.endpoint, credentials: { accessKeyId: "testing", secretAccessKey: "testing" } });
        await sm.send(new CreateSecretCommand({ Name: "buywhere/staging/DATABASE_URL", SecretString: stored[0] }));
        await sm.send(new CreateSecretCommand({ Name: "buywhere/staging/JWT_SECRET_KEY", SecretString: stored[1] }));
        sm.destroy();
    }, 60_000);
    afterAll(async () => moto?.stop());

    it("finds none of them in stdout, stderr or the audit trail, with and without --json, on success and failure", async () => {
        const s = sandbox();
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
