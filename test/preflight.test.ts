/**
 * `preflight`: which admin credentials a live run needs (automation/credentials.ts), checked against what the program
 * itself refuses to run without (the real program under Pulumi's mocks), and the command as a process; with
 * `--reach`, network reach to every endpoint the run touches (automation/reach.ts) against local listeners.
 */
import { readFileSync } from "node:fs";
import { AddressInfo, Server, Socket, createServer } from "node:net";
import { Server as TlsServer, createServer as createTlsServer } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ReachTarget, checkReach, checkTarget, endpoint, reachTargets, unreachableLine } from "../automation/reach";
import { freePort } from "./support/ports";
import { Postgres, startPostgres } from "./support/postgres";
import { TestCa, TlsPostgres, makeTestCa, startTlsPostgres } from "./support/tlsServers";
import { GROUPS, Group } from "../rotation/catalog";
import { ADMIN_CREDENTIALS, PreflightCommand, credentialsFor, groupsRegenerated, missingFrom } from "../automation/credentials";
import { loadSettings } from "../automation/stacks";
import { requiredAdminEnv } from "../rotation/adminCredentials";
import { sandbox } from "./support/cli";
import { runProgram, runProgramExpectingFailure } from "./support/pulumiProgram";

const PG = "ROTATION_PG_ADMIN_URL";
const REDIS = "ROTATION_REDIS_ADMIN_URL";
const TYPESENSE = "ROTATION_TYPESENSE_ADMIN_KEY";
const CLOUDFLARE = "CLOUDFLARE_API_TOKEN";

/** Distinctive values, so the process tests can prove none is printed. */
const VALUES: Record<string, string> = {
    [PG]: "postgresql://admin:PreflightPgLeak1@db.internal:5432/buywhere",
    [REDIS]: "rediss://admin:PreflightRedisLeak2@redis.internal:6379/0",
    [TYPESENSE]: "PreflightTypesenseLeak3",
    [CLOUDFLARE]: "PreflightCloudflareLeak4",
};

describe("the admin credentials a live run needs", () => {
    it.each<[PreflightCommand, Group[], boolean, string[]]>([
        ["rotate-all", [], false, [PG, REDIS, CLOUDFLARE, TYPESENSE]],
        ["rotate", ["database"], false, [PG]],
        ["rotate", ["typesense", "r2", "redis"], false, [REDIS, CLOUDFLARE, TYPESENSE]],
        ["rotate", ["jwt", "api-key"], false, []],
        ["rotate-all", [], true, []],
        ["rotate", ["database"], true, []],
        ["restart", ["database"], false, []],
        ["rollback", ["database", "redis"], false, []],
        ["status", [], false, []],
    ])("%s %j (dry run: %s) needs %j", (command, services, dryRun, expected) => {
        expect(credentialsFor(groupsRegenerated(command, services, dryRun))).toEqual(expected);
    });

    it("with a stack's settings: Redis on ElastiCache needs no variable (AWS credentials), an admin secret replaces its variable", () => {
        const staging = loadSettings("staging", {});
        expect(staging.redis.kind).toBe("elasticache");
        expect(credentialsFor(GROUPS, staging)).toEqual([PG, CLOUDFLARE, TYPESENSE]);
        const acl = { ...staging, redis: { ...staging.redis, kind: "acl" as const, userId: undefined } };
        expect(credentialsFor(GROUPS, acl)).toEqual([PG, REDIS, CLOUDFLARE, TYPESENSE]);
        const arn = "arn:aws:secretsmanager:ap-southeast-1:111122223333:secret:rds!cluster-0a1b2c3d-aaaa-bbbb-cccc-0123456789ab-AbC123";
        expect(credentialsFor(GROUPS, { ...staging, adminSecrets: { database: arn } })).toEqual([CLOUDFLARE, TYPESENSE]);
    });

    it("every credential once; blank counts as missing", () => {
        expect(ADMIN_CREDENTIALS).toEqual([PG, REDIS, CLOUDFLARE, TYPESENSE]);
        expect(missingFrom({ [PG]: "x", [REDIS]: "  ", [CLOUDFLARE]: "" }, [PG, REDIS, CLOUDFLARE, TYPESENSE])).toEqual([REDIS, CLOUDFLARE, TYPESENSE]);
    });
});

// The program (rotation/program.ts) refuses an `up` that regenerates a slot without the group's credential. A first
// deployment regenerates every group: with one credential left out it must name exactly that one, and with all of
// them it must need nothing else. So `preflight` and the program agree on every group, whatever either calls its list.
describe("the program requires exactly those credentials", () => {
    const all = Object.fromEntries(ADMIN_CREDENTIALS.map((name) => [name, VALUES[name]]));

    const staging = loadSettings("staging", {});
    it.each(GROUPS.filter((g) => requiredAdminEnv(staging, g) !== undefined))("without %s's credential the first deployment is refused, naming it", async (group) => {
        const name = requiredAdminEnv(staging, group)!;
        const { [name]: _, ...without } = all;
        void _;
        const { error } = await runProgramExpectingFailure({ stack: "staging", env: without });
        expect(error.message).toMatch(new RegExp(`^environment variable \`${name}\` is required: this run regenerates ${group} slot`));
    });

    it("Redis on ElastiCache (the stack file's kind) needs no Redis admin URL: the first deployment runs without it", async () => {
        const { [REDIS]: _, ...without } = all;
        void _;
        const run = await runProgram({ stack: "staging", env: without });
        expect(run.registrations.some((r) => r.name === "redis-apply-elasticache")).toBe(true);
    });

    it("with all of them it runs", async () => {
        const run = await runProgram({ stack: "staging", env: all });
        expect(run.registrations.length).toBeGreaterThan(10);
    });
});

describe("secrets-rotation preflight", () => {
    it("exits 2 naming every missing credential, in one line, before anything runs", async () => {
        const s = sandbox();
        const r = await s.run(["preflight", "rotate-all", "--stack", "staging"], { [REDIS]: VALUES[REDIS], [TYPESENSE]: VALUES[TYPESENSE], [CLOUDFLARE]: "  " });
        expect(r.code).toBe(2);
        expect(r.stdout).toBe("");
        expect(r.stderr).toBe(
            `error: a live \`rotate-all\` on staging needs ${PG}, ${CLOUDFLARE} in the environment (regenerates database, redis, jwt, api-key, r2, typesense; README, "Source appliers"); nothing was run\n`,
        );
        expect(s.calls()).toEqual([]);
        expect(s.audit()).toEqual([]);
    });

    it("exits 0 when every credential the run needs is set, printing names and never values", async () => {
        const s = sandbox();
        const human = await s.run(["preflight", "rotate", "--service", "database", "--service", "r2", "--provider", "aws", "--stack", "production"], VALUES);
        expect(human.code).toBe(0);
        expect(human.stdout).toBe(`preflight: a live \`rotate\` on production has ${PG}, ${CLOUDFLARE}\n`);
        const json = await s.run(["preflight", "rotate-all", "--stack", "staging", "--json"], VALUES);
        expect(json.code).toBe(0);
        // Staging's Redis is ElastiCache: ModifyUser with the run's AWS credentials, no Redis admin URL.
        expect(JSON.parse(json.stdout)).toEqual({ command: "rotate-all", stack: "staging", dryRun: false, groups: [...GROUPS], required: [PG, CLOUDFLARE, TYPESENSE], missing: [] });
        for (const v of Object.values(VALUES)) expect(human.stdout + human.stderr + json.stdout + json.stderr).not.toContain(v);
        expect(s.calls()).toEqual([]);
    });

    it("a dry run or a command that regenerates nothing needs none", async () => {
        const s = sandbox();
        const dry = await s.run(["preflight", "rotate-all", "--dry-run", "--stack", "staging"]);
        expect(dry.code).toBe(0);
        expect(dry.stdout).toBe("preflight: a dry run of `rotate-all` on staging needs no admin credential\n");
        expect((await s.run(["preflight", "status", "--stack", "staging"])).code).toBe(0);
        expect((await s.run(["preflight", "rollback", "--service", "redis", "--stack", "staging"])).code).toBe(0);
    });

    it.each([
        [["preflight", "rotate", "--service", "databse", "--stack", "staging"], 2, "error: Invalid values: Argument: service, Given: \"databse\""],
        [["preflight", "launch", "--stack", "staging"], 2, "error: Invalid values: Argument: command, Given: \"launch\""],
        [["preflight", "rotate-all", "--stack", "prod"], 3, 'error: unknown stack "prod"'],
        [["preflight", "rotate-all"], 2, "error: --stack is required"],
    ])("%j exits %i with one line", async (args, code, start) => {
        const s = sandbox();
        const r = await s.run(args as string[], VALUES);
        expect(r.code).toBe(code);
        expect(r.stdout).toBe("");
        expect(r.stderr.split("\n").filter(Boolean)).toHaveLength(1);
        expect(r.stderr.startsWith(start)).toBe(true);
    });
});

// ---------------------------------------------------------------------------------------------------------------
// Network reach (`preflight --reach`, automation/reach.ts): every endpoint a live run touches, checked from here
// against real listeners on 127.0.0.1 — PostgreSQL 15 with and without TLS, a TLS server with the test CA's
// certificate, a plain TCP listener, one that accepts and never answers — and a closed port.

describe("the endpoints a live run touches", () => {
    const staging = loadSettings("staging", {});

    it("rotate-all: the three database hosts and the admin URL's host (never its credentials), Redis over TLS, Typesense, R2, every health URL", () => {
        const env = { ROTATION_PG_ADMIN_URL: VALUES[PG], ROTATION_REDIS_ADMIN_URL: VALUES[REDIS] };
        const targets = reachTargets(staging, "rotate-all", [...GROUPS], env);
        expect(targets.map((t) => [t.name, endpoint(t), t.kind])).toEqual([
            ["PostgreSQL primary", "buywhere-staging.cluster-c1a2b3c4d5e6.ap-southeast-1.rds.amazonaws.com:5432", "postgres"],
            ["PostgreSQL replica", "buywhere-staging.cluster-ro-c1a2b3c4d5e6.ap-southeast-1.rds.amazonaws.com:5432", "postgres"],
            ["PgBouncer", "pgbouncer.staging.svc.cluster.local:6432", "postgres"],
            ["PostgreSQL admin (ROTATION_PG_ADMIN_URL)", "db.internal:5432", "postgres"],
            ["Redis", "buywhere-staging.abc123.ng.0001.apse1.cache.amazonaws.com:6379", "tls"],
            ["Redis admin (ROTATION_REDIS_ADMIN_URL)", "redis.internal:6379", "tls"],
            ["Typesense", "search.staging.buywhere.io:443", "tls"],
            ["R2 S3 endpoint", "0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com:443", "tls"],
            ["health URL", "api.staging.buywhere.io:443", "tls"], // two URLs on one host: checked once
        ]);
        expect(JSON.stringify(targets)).not.toMatch(/PreflightPgLeak1|PreflightRedisLeak2/);
    });

    it.each<[string, Group[], string[]]>([
        ["rotate", ["jwt"], ["health URL"]],
        ["rotate", ["r2"], ["R2 S3 endpoint", "health URL"]],
        ["restart", [], ["health URL"]],
        ["status", [], []],
    ])("%s %j touches %j", (command, groups, names) => {
        expect(reachTargets(staging, command, groups, {}).map((t) => t.name)).toEqual(names);
    });
});

describe("reach checks against local listeners and a closed port", () => {
    let ca: TestCa;
    let tlsPg: TlsPostgres;
    let plainPg: Postgres;
    const servers: { close(cb: () => void): void }[] = [];
    const ports = { tls: 0, tcp: 0, silent: 0, closed: 0 };
    const held: Socket[] = [];
    const listen = async (server: Server | TlsServer) => {
        servers.push(server);
        server.on("connection", (socket: Socket) => held.push(socket)); // closed in afterAll, whatever state they are in
        await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
        return (server.address() as AddressInfo).port;
    };
    beforeAll(async () => {
        ca = makeTestCa();
        [tlsPg, plainPg] = await Promise.all([startTlsPostgres(ca), startPostgres()]);
        ports.tls = await listen(createTlsServer({ key: readFileSync(ca.keyFile), cert: readFileSync(ca.certFile) }, (s) => s.end()));
        ports.tcp = await listen(createServer((s) => s.end()));
        ports.silent = await listen(createServer(() => undefined)); // accepts, never answers
        ports.closed = await freePort();
    }, 120_000);
    afterAll(async () => {
        for (const socket of held) socket.destroy();
        await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
        await Promise.all([tlsPg?.stop(), plainPg?.stop()]);
        ca?.remove();
    });

    const target = (over: Partial<ReachTarget>): ReachTarget => ({ name: "endpoint", host: "127.0.0.1", port: ports.tcp, kind: "tcp", ...over });
    const caEnv = () => ({ ROTATION_PG_CA_FILE: ca.caFile, ROTATION_REDIS_CA_FILE: ca.caFile });

    it.each<[string, () => ReachTarget, () => NodeJS.ProcessEnv, true | RegExp]>([
        ["PostgreSQL with TLS: SSLRequest answered S, then a verified handshake (ROTATION_PG_CA_FILE)", () => target({ host: "localhost", port: tlsPg.port, kind: "postgres", caEnv: "ROTATION_PG_CA_FILE" }), caEnv, true],
        ["PostgreSQL with TLS, CA not trusted", () => target({ host: "localhost", port: tlsPg.port, kind: "postgres", caEnv: "ROTATION_PG_CA_FILE" }), () => ({}), /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)$/],
        ["PostgreSQL without TLS on loopback (answers N)", () => target({ port: plainPg.port, kind: "postgres" }), () => ({}), true],
        ["a TLS server with the test CA's certificate (ROTATION_REDIS_CA_FILE)", () => target({ host: "localhost", port: ports.tls, kind: "tls", caEnv: "ROTATION_REDIS_CA_FILE" }), caEnv, true],
        ["a TLS server, certificate for another name", () => target({ host: "127.0.0.1", port: ports.tls, kind: "tls", caEnv: "ROTATION_REDIS_CA_FILE" }), caEnv, /^ERR_TLS_CERT_ALTNAME_INVALID$/],
        ["a plain TCP listener", () => target({}), () => ({}), true],
        ["a plain TCP listener where TLS is expected", () => target({ kind: "tls" }), () => ({}), /^(ECONNRESET|EPROTO|.*socket disconnected.*)$/],
        ["a listener that never answers the SSLRequest", () => target({ port: ports.silent, kind: "postgres" }), () => ({}), /^no answer to the SSLRequest$/],
        ["a closed port", () => target({ port: ports.closed }), () => ({}), /^ECONNREFUSED$/],
    ])("%s", async (_, t, env, expected) => {
        const r = await checkTarget(t(), env(), 2_000);
        if (expected === true) expect(r).toMatchObject({ ok: true });
        else {
            expect(r.ok).toBe(false);
            expect(r.reason).toMatch(expected);
        }
        expect(r.ms).toBeLessThan(3_000);
    });

    it("one line naming every endpoint that did not answer, in the order of the run", async () => {
        const results = await checkReach(
            [target({ name: "PostgreSQL primary", port: plainPg.port, kind: "postgres" }), target({ name: "Redis", port: ports.closed }), target({ name: "health URL", port: ports.silent, kind: "postgres" })],
            {},
            1_000,
        );
        expect(unreachableLine(results)).toBe(`cannot reach Redis 127.0.0.1:${ports.closed} (ECONNREFUSED), health URL 127.0.0.1:${ports.silent} (no answer to the SSLRequest)`);
        expect(unreachableLine(results.slice(0, 1))).toBeUndefined();
    });

    it("secrets-rotation preflight --reach: exit 2 with one line naming the unreachable endpoint, before anything runs", async () => {
        const s = sandbox();
        const r = await s.run(["preflight", "rotate", "--service", "r2", "--reach", "--reach-timeout", "2", "--stack", "local"], {
            [CLOUDFLARE]: VALUES[CLOUDFLARE],
            ROTATION_R2_ENDPOINT: `http://127.0.0.1:${ports.closed}`,
        });
        expect(r.code).toBe(2);
        expect(r.stdout).toBe("");
        expect(r.stderr).toMatch(new RegExp(`^error: a live \`rotate\` on local cannot reach (.*, )?R2 S3 endpoint 127\\.0\\.0\\.1:${ports.closed} \\(ECONNREFUSED\\)(, .*)?; nothing was run \\(README, "Where it runs"\\)\\n$`));
        expect(r.stderr).not.toContain(VALUES[CLOUDFLARE]);
        expect(s.calls()).toEqual([]);
        expect(s.audit()).toEqual([]);
    });

    it("secrets-rotation preflight --reach: exit 0 listing what it reached; a dry run checks nothing; a bad timeout is exit 2", async () => {
        const s = sandbox();
        const ok = await s.run(["preflight", "status", "--reach", "--stack", "local", "--json"], {});
        expect(ok.code).toBe(0);
        expect(JSON.parse(ok.stdout)).toMatchObject({ command: "status", reach: [] });
        const dry = await s.run(["preflight", "rotate", "--service", "r2", "--reach", "--dry-run", "--stack", "local", "--json"], { ROTATION_R2_ENDPOINT: `http://127.0.0.1:${ports.closed}` });
        expect(dry.code).toBe(0);
        expect(JSON.parse(dry.stdout).reach).toBeUndefined();
        const bad = await s.run(["preflight", "status", "--reach", "--reach-timeout", "0", "--stack", "local"], {});
        expect(bad).toMatchObject({ code: 2, stdout: "", stderr: "error: --reach-timeout must be a number of seconds from 0 to 120 (got 0); nothing was run\n" });
    });
});
