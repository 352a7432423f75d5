/**
 * Admin credentials read at run time from Secrets Manager (`rotation:adminSecrets`, hooks/adminSecret.ts): the
 * PostgreSQL and Redis appliers run as the processes the program starts, against real PostgreSQL, Redis and moto (the
 * secrets), with the secret's ARN and the endpoint as their only admin input. Then the bad inputs: a secret that does
 * not exist, one that is not a credential, both sources at once, each stopping the hook before any change with one
 * line naming the secret and the previous credential still valid.
 */
import { CreateSecretCommand, DeleteSecretCommand } from "@aws-sdk/client-secrets-manager";
import http from "node:http";
import { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { adminCredentialOf, userPassword, withCredentials } from "../hooks/adminSecret";
import { postgresApplyContract, redisApplyContract, toEnv, typesenseApplyContract } from "../hooks/contracts";
import { HookInputError } from "../hooks/hookRuntime";
import { bootstrapPostgres, canLogIn } from "../hooks/postgresApply";
import { bootstrapRedisUser, canAuth } from "../hooks/redisApply";
import { ACL_RULES, password } from "./support/fixtures";
import { runHookProcess } from "./support/hookProcess";
import { Moto, startMoto, secretsManagerOn } from "./support/moto";
import { useServers } from "./support/servers";
import { join } from "node:path";
import { stringify } from "yaml";
import { projectWith, runCli, sandbox } from "./support/cli";
import { stackConfig } from "./support/pulumiProgram";

const ROLE = "buywhere_app_a";
const USER = "buywhere-api";
let moto: Moto;
const arns: Record<string, string> = {};
const slot = { pg: password(), a: password(), b: password() };

const servers = useServers(async ({ pg, redis }) => {
    await bootstrapPostgres(pg.adminUrl, "buywhere_app", ["buywhere_app_a", "buywhere_app_b"], "buywhere");
    await bootstrapRedisUser(redis.adminUrl, USER, ACL_RULES);
});

beforeAll(async () => {
    moto = await startMoto();
    const sm = secretsManagerOn(moto);
    const create = async (name: string, value: { SecretString?: string; SecretBinary?: Uint8Array }) =>
        (arns[name] = (await sm.send(new CreateSecretCommand({ Name: name, ...value }))).ARN!);
    const pg = new URL(servers.pg.adminUrl);
    const redis = new URL(servers.redis.adminUrl);
    // The shape of an RDS-managed master user secret: username and password only.
    await create("rds!cluster-0a1b2c3d-test", { SecretString: JSON.stringify({ username: decodeURIComponent(pg.username), password: decodeURIComponent(pg.password) }) });
    await create("buywhere-admin/redis", { SecretString: JSON.stringify({ username: decodeURIComponent(redis.username) || "default", password: decodeURIComponent(redis.password) }) });
    await create("buywhere-admin/typesense", { SecretString: "typesense-admin-key-from-secrets-manager" });
    await create("buywhere-admin/not-json", { SecretString: "just-a-password-Leak1234" });
    await create("buywhere-admin/binary", { SecretBinary: new Uint8Array([1, 2, 3]) });
    // Scheduled for deletion: GetSecretValue is InvalidRequestException ("The secret is scheduled for deletion",
    // https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html#API_GetSecretValue_Errors).
    await create("buywhere-admin/deleted", { SecretString: JSON.stringify({ username: "u", password: "p-Leak5678" }) });
    await sm.send(new DeleteSecretCommand({ SecretId: arns["buywhere-admin/deleted"], RecoveryWindowInDays: 7 }));
    sm.destroy();
}, 120_000);
afterAll(async () => moto?.stop());

/** A complete ARN of a secret that does not exist, in the same account and region as moto's. */
const missingArn = () => arns["buywhere-admin/redis"].replace(/buywhere-admin\/redis-[A-Za-z0-9]{6}$/, "buywhere-admin/gone-AbC123");
const pgEndpoint = () => `postgresql://127.0.0.1:${servers.pg.port}/buywhere`;
const pgEnv = (arn: string, pw: string, extra: Record<string, string> = {}) => ({
    ...moto.env,
    ...toEnv(postgresApplyContract, { role: ROLE, password: pw, adminSecretArn: arn, adminEndpoint: pgEndpoint() }),
    ...extra,
});
const errorLines = (stderr: string) => stderr.split("\n").filter((l) => l.includes("error:"));

describe("admin credentials from Secrets Manager, read by the hook when it runs", () => {
    it("PostgreSQL: the RDS-style secret (username/password) and the stack file's endpoint make the admin URL; the slot is applied", async () => {
        const run = await runHookProcess("postgresApply", pgEnv(arns["rds!cluster-0a1b2c3d-test"], slot.pg));
        expect(errorLines(run.stderr)).toEqual([]);
        expect(run.code).toBe(0);
        expect(await canLogIn(servers.pg.adminUrl, ROLE, slot.pg)).toBe(true);
        const adminPassword = decodeURIComponent(new URL(servers.pg.adminUrl).password);
        expect(run.stdout + run.stderr).not.toContain(adminPassword);
    });

    it("Redis (kind acl): the same with the Redis endpoint; both slots AUTH", async () => {
        const endpoint = `redis://127.0.0.1:${new URL(servers.redis.adminUrl).port}/0`;
        const run = await runHookProcess("redisApply", {
            ...moto.env,
            ...toEnv(redisApplyContract, { user: USER, passwordA: slot.a, passwordB: slot.b, adminSecretArn: arns["buywhere-admin/redis"], adminEndpoint: endpoint }),
        });
        expect(errorLines(run.stderr)).toEqual([]);
        expect(run.code).toBe(0);
        expect(await canAuth(servers.redis.adminUrl, USER, slot.a)).toBe(true);
        expect(await canAuth(servers.redis.adminUrl, USER, slot.b)).toBe(true);
    });

    it("Typesense: the SecretString is the admin key", async () => {
        vi.stubEnv("AWS_ENDPOINT_URL", moto.endpoint);
        vi.stubEnv("AWS_ACCESS_KEY_ID", "testing");
        vi.stubEnv("AWS_SECRET_ACCESS_KEY", "testing");
        try {
            const env: NodeJS.ProcessEnv = {};
            expect(await adminCredentialOf(typesenseApplyContract, { adminSecretArn: arns["buywhere-admin/typesense"] }, "key", env)).toBe("typesense-admin-key-from-secrets-manager");
        } finally {
            vi.unstubAllEnvs();
        }
    });

    it("the URL is built by the URL parser: user and password percent-encoded, the endpoint's host, port, path and query kept", () => {
        expect(withCredentials("postgresql://db.example.com:5432/buywhere?sslmode=verify-full", "admin", "p@ss/w:rd")).toBe(
            "postgresql://admin:p%40ss%2Fw%3Ard@db.example.com:5432/buywhere?sslmode=verify-full",
        );
        expect(() => userPassword('{"username":"a"}', "arn:x")).toThrow(HookInputError);
        expect(() => userPassword('{"username":"a","password":""}', "arn:x")).toThrow("is not a JSON object with string `username` and `password`");
    });
});

describe("a bad admin secret stops the hook before any change (exit 2, one line naming it); the previous credential still works", () => {
    it.each([
        ["does not exist", () => missingArn(), /^\[postgres-apply\] error: admin secret arn:aws:secretsmanager:ap-southeast-1:\d{12}:secret:buywhere-admin\/gone-AbC123 cannot be read \(ResourceNotFoundException: /],
        ["is not a username/password JSON", () => arns["buywhere-admin/not-json"], /^\[postgres-apply\] error: admin secret \S+ is not a JSON object with string `username` and `password` \(the format of RDS credential secrets\)$/],
        ["is binary", () => arns["buywhere-admin/binary"], /^\[postgres-apply\] error: admin secret \S+ has no SecretString/],
        ["is scheduled for deletion", () => arns["buywhere-admin/deleted"], /^\[postgres-apply\] error: admin secret \S+ cannot be read \(InvalidRequestException: /],
    ])("a secret that %s", async (_what, arn, line) => {
        const next = password();
        const run = await runHookProcess("postgresApply", pgEnv(arn(), next));
        expect(run.code).toBe(2);
        const errors = errorLines(run.stderr);
        expect(errors).toHaveLength(1);
        expect(errors[0]).toMatch(line);
        expect(run.stderr).not.toContain("just-a-password-Leak1234");
        expect(await canLogIn(servers.pg.adminUrl, ROLE, next)).toBe(false);
        expect(await canLogIn(servers.pg.adminUrl, ROLE, slot.pg)).toBe(true); // the previous credential
    });

    /**
     * Unreadable for the rotation identity: no GetSecretValue permission, or no kms:Decrypt on the secret's
     * customer-managed key (`rotation:aws.adminSecretsKmsKeyArns` missing). moto answers neither as AWS does (its IAM
     * enforcement replies to this JSON API in XML), so a double of Secrets Manager's JSON protocol answers
     * GetSecretValue with the documented errors: AccessDeniedException and DecryptionFailure, HTTP 400
     * (https://docs.aws.amazon.com/secretsmanager/latest/apireference/CommonErrors.html), the type in
     * `x-amzn-errortype` and `__type` (awsJson1_1, https://smithy.io/2.0/aws/protocols/aws-json-1_1-protocol.html).
     */
    it.each([
        ["AccessDeniedException", "User: arn:aws:sts::111122223333:assumed-role/secrets-rotation-staging/ci is not authorized to perform: secretsmanager:GetSecretValue"],
        ["DecryptionFailure", "Secrets Manager can't decrypt the protected secret text using the provided KMS key."],
    ])("a secret the identity cannot read (%s, from a double of the Secrets Manager API)", async (type, message) => {
        const seen: string[] = [];
        const double = http.createServer((req, res) => {
            seen.push(String(req.headers["x-amz-target"]));
            req.resume();
            req.on("end", () => {
                res.writeHead(400, { "content-type": "application/x-amz-json-1.1", "x-amzn-errortype": `${type}:http://internal.amazon.com/coral/com.amazonaws.secretsmanager/` });
                res.end(JSON.stringify({ __type: type, message }));
            });
        });
        await new Promise<void>((resolve) => double.listen(0, "127.0.0.1", resolve));
        const endpoint = `http://127.0.0.1:${(double.address() as AddressInfo).port}`;
        try {
            const next = password();
            const arn = arns["rds!cluster-0a1b2c3d-test"];
            const run = await runHookProcess("postgresApply", pgEnv(arn, next, { AWS_ENDPOINT_URL: endpoint, ROTATION_ALLOW_AWS_ENDPOINT: endpoint }));
            expect(seen).toEqual(["secretsmanager.GetSecretValue"]);
            expect(run.code).toBe(2);
            expect(errorLines(run.stderr)).toEqual([`[postgres-apply] error: admin secret ${arn} cannot be read (${type}: ${message})`]);
            expect(await canLogIn(servers.pg.adminUrl, ROLE, next)).toBe(false);
            expect(await canLogIn(servers.pg.adminUrl, ROLE, slot.pg)).toBe(true); // the previous credential
        } finally {
            await new Promise<void>((resolve) => double.close(() => resolve()));
        }
    });

    it("both the variable and the secret: refused, naming both", async () => {
        const next = password();
        const run = await runHookProcess("postgresApply", pgEnv(arns["rds!cluster-0a1b2c3d-test"], next, { ROTATION_PG_ADMIN_URL: servers.pg.adminUrl }));
        expect(run.code).toBe(2);
        expect(errorLines(run.stderr)).toEqual([
            `[postgres-apply] error: both ROTATION_PG_ADMIN_URL and the admin secret ${arns["rds!cluster-0a1b2c3d-test"]} are given; unset ROTATION_PG_ADMIN_URL (the stack file names the secret)`,
        ]);
        expect(await canLogIn(servers.pg.adminUrl, ROLE, slot.pg)).toBe(true);
    });

    it("a secret without its endpoint (or the other way round) is a contract error", async () => {
        const env = { ...pgEnv(arns["rds!cluster-0a1b2c3d-test"], password()) };
        delete (env as Record<string, string>).PG_ADMIN_ENDPOINT;
        const run = await runHookProcess("postgresApply", env);
        expect(run.code).toBe(2);
        expect(errorLines(run.stderr)).toEqual(["[postgres-apply] error: environment variable ROTATION_PG_ADMIN_SECRET_ARN and PG_ADMIN_ENDPOINT must be given together"]);
    });
});

describe("bootstrap reads the database admin secret as the hooks do (rotation:adminSecrets.database, e.g. the RDS master's)", () => {
    /** A project copy whose staging stack file names the secret, points at the test PostgreSQL, and uses a self-run Redis. */
    function project(arn: string): (env: Record<string, string>) => ReturnType<typeof runCli> {
        const { "rotation:firstDeployment": _f, "rotation:minInterval": _m, ...staging } = stackConfig("staging");
        const config = {
            ...staging,
            "rotation:database": { ...(staging["rotation:database"] as object), host: "127.0.0.1", port: servers.pg.port },
            "rotation:redis": { kind: "acl", host: "127.0.0.1", port: 6379, user: USER, tls: true },
            "rotation:adminSecrets": { database: arn },
        };
        const dir = projectWith({ "Pulumi.staging.yaml": stringify({ config }) });
        const s = sandbox();
        return (env) => runCli(["bootstrap", "--stack", "staging"], { ...s.env, ...moto.env, ROTATION_REDIS_ADMIN_URL: servers.redis.adminUrl, ...env }, undefined, join(dir, "test", "support", "standInBin.ts"));
    }

    it("with only the secret (no ROTATION_PG_ADMIN_URL): the roles are in place; the secret's password is never printed", async () => {
        const run = await project(arns["rds!cluster-0a1b2c3d-test"])({});
        expect(run.stderr).not.toContain("error");
        expect(run.code).toBe(0);
        expect(run.stderr).toContain("PostgreSQL: group role buywhere_app and login roles buywhere_app_a, buywhere_app_b are in place");
        expect(run.stdout + run.stderr).not.toContain(decodeURIComponent(new URL(servers.pg.adminUrl).password));
    }, 60_000);

    it("a secret that does not exist, or the variable as well: exit 2, one line naming it, nothing changed", async () => {
        const missing = await project(missingArn())({});
        expect(missing.code).toBe(2);
        expect(missing.stderr.trim().split("\n")).toHaveLength(1);
        expect(missing.stderr).toMatch(/^error: admin secret arn:aws:secretsmanager:\S+:secret:buywhere-admin\/gone-AbC123 cannot be read \(ResourceNotFoundException: /);
        const both = await project(arns["rds!cluster-0a1b2c3d-test"])({ ROTATION_PG_ADMIN_URL: servers.pg.adminUrl });
        expect(both.code).toBe(2);
        expect(both.stderr).toBe(`error: both ROTATION_PG_ADMIN_URL and the admin secret ${arns["rds!cluster-0a1b2c3d-test"]} are given; unset ROTATION_PG_ADMIN_URL (the stack file names the secret)\n`);
    }, 60_000);
});
