/**
 * What every hook program guarantees about secrets, tested on the processes the program runs (`runHookProcess`: the
 * Command's string through /bin/sh, inputs in the environment):
 * - each hook keeps only its own admin credential: the others (and DEBUG, NODE_TLS_REJECT_UNAUTHORIZED) are gone from
 *   its environment before any library loads, and its own is gone once read — shown by a probe preloaded into the
 *   hook process (test/support/envProbe.cjs) that records what each package saw when it loaded;
 * - no secret reaches stdout or stderr: the appliers run with distinctive canary passwords and admin credentials, on
 *   success and on every failure we can cause, against a real PostgreSQL and Redis and a Typesense keys-API double;
 * - `runHook` redacts the secrets it knows from what it prints, and refuses to run a hook whose environment was not
 *   isolated.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { Server, createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { Client } from "pg";
import Redis from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_CREDENTIAL_ENVS, HOOK_ADMIN_ENV, HOOK_PROGRAMS, UNSAFE_ENVS, isolateHookEnvironment } from "../hooks/adminEnv";
import { credentialPluginEnv } from "../hooks/pgbouncerAuthFile";
import { CONTRACTS, HookName, hookSecrets, postgresApplyContract, redisApplyContract, toEnv, typesenseApplyContract } from "../hooks/contracts";
import { redactor } from "../hooks/hookRuntime";
import { bootstrapPostgres } from "../hooks/postgresApply";
import { bootstrapRedisUser } from "../hooks/redisApply";
import { ADMIN_CREDENTIALS } from "../rotation/adminCredentials";
import { ACL_RULES, leakForms } from "./support/fixtures";
import { HookResult, runHookProcess } from "./support/hookProcess";
import { typesenseKeysHandler } from "./support/emulator/typesenseKeysDouble";
import { freePort } from "./support/ports";
import { ROOT } from "./support/pulumiProgram";
import { useServers } from "./support/servers";

const HOOKS = Object.keys(CONTRACTS) as HookName[];
const tag = randomBytes(4).toString("hex");
/** Canaries: distinctive, and with characters a URL must percent-encode, so both forms are looked for. */
const CANARY = {
    pgAdmin: `Cn@ry:PgAdm/in%${tag}`,
    pgWrong: `Cn@ry:PgWrong/${tag}`,
    pgSlot: `Canary-PgSlot_${tag}`,
    redisAdmin: `Cn@ry:RedisAdm/in%${tag}`,
    redisWrong: `Cn@ry:RedisWrong/${tag}`,
    redisSlotA: `Canary-RedisSlotA_${tag}`,
    redisSlotB: `Canary-RedisSlotB_${tag}`,
    typesenseAdmin: `Canary-TsAdmin_${tag}`,
    typesenseWrong: `Canary-TsWrong_${tag}`,
    typesenseValue: `Canary-TsValue_${tag}`,
    cloudflare: `Canary-Cloudflare_${tag}`,
};
const FORMS = leakForms(Object.values(CANARY));
const leaksIn = (text: string) => FORMS.filter((f) => text.includes(f));

describe("each hook keeps only its own admin credential", () => {
    it("the hooks' list of admin credentials is the program's, and every contract's adminEnv is in it", () => {
        expect([...ADMIN_CREDENTIAL_ENVS].sort()).toEqual([...ADMIN_CREDENTIALS].sort());
        for (const c of Object.values(CONTRACTS)) if ("adminEnv" in c) expect(ADMIN_CREDENTIAL_ENVS).toContain(c.adminEnv);
        expect([...HOOK_PROGRAMS].sort()).toEqual([...HOOKS].sort());
    });

    it("isolateHookEnvironment removes the others' credentials and the unsafe variables, names only", () => {
        const env: NodeJS.ProcessEnv = { PATH: "/bin", DEBUG: "*", NODE_TLS_REJECT_UNAUTHORIZED: "0", AWS_REGION: "ap-southeast-1" };
        for (const name of ADMIN_CREDENTIAL_ENVS) env[name] = `value-of-${name}`;
        const removed = isolateHookEnvironment("redisApply", env);
        expect(env).toEqual({ PATH: "/bin", AWS_REGION: "ap-southeast-1", ROTATION_REDIS_ADMIN_URL: "value-of-ROTATION_REDIS_ADMIN_URL" });
        expect(removed.sort()).toEqual(["CLOUDFLARE_API_TOKEN", "DEBUG", "NODE_TLS_REJECT_UNAUTHORIZED", "ROTATION_PG_ADMIN_URL", "ROTATION_TYPESENSE_ADMIN_KEY"]);
        const none: NodeJS.ProcessEnv = { ROTATION_PG_ADMIN_URL: "x", CLOUDFLARE_API_TOKEN: "y" };
        isolateHookEnvironment("healthCheck", none);
        expect(none).toEqual({});
    });

    it.each(HOOKS)("hooks/%s.ts isolates first and starts no process: its first import is ./isolateEnv, and it imports no child_process", (hook) => {
        const source = readFileSync(join(ROOT, "hooks", `${hook}.ts`), "utf8");
        const imports = [...source.matchAll(/^import\s.*?["']([^"']+)["'];/gms)].map((m) => m[1]);
        expect(imports[0]).toBe("./isolateEnv");
        // One exception: hooks/pgbouncerAuthFile.ts runs the kubeconfig's credential plugin, with an environment that
        // holds no admin credential (credentialPluginEnv, tested below).
        for (const file of readdirSync(join(ROOT, "hooks")).filter((f) => f !== "pgbouncerAuthFile.ts")) {
            expect({ file, source: readFileSync(join(ROOT, "hooks", file), "utf8") }).not.toMatchObject({
                source: expect.stringMatching(/(?:from\s+|require\(\s*|import\(\s*)["'](?:node:)?(?:child_process|worker_threads|cluster)["']/),
            });
        }
        const pgbouncer = readFileSync(join(ROOT, "hooks", "pgbouncerAuthFile.ts"), "utf8");
        expect(pgbouncer).not.toMatch(/(?:from\s+|require\(\s*|import\(\s*)["'](?:node:)?(?:worker_threads|cluster)["']/);
        expect([...pgbouncer.matchAll(/spawnSync\(/g)]).toHaveLength(1);
        expect(pgbouncer).toMatch(/spawnSync\([^;]*\{ env: credentialPluginEnv\(/);
    });

    it("the kubeconfig credential plugin (the one process a hook starts) gets no admin credential", () => {
        const env = {
            PATH: "/usr/bin",
            HOME: "/home/sre",
            AWS_PROFILE: "rotation",
            AWS_WEB_IDENTITY_TOKEN_FILE: "/var/run/token",
            KUBECONFIG: "/k",
            ROTATION_PG_ADMIN_URL: "postgresql://admin:pw@db/x",
            ROTATION_REDIS_ADMIN_URL: "rediss://a:pw@r:6379",
            ROTATION_TYPESENSE_ADMIN_KEY: "k",
            CLOUDFLARE_API_TOKEN: "t",
            PG_PASSWORD: "slot-password",
            NODE_OPTIONS: "--require /tmp/evil.js",
        };
        expect(credentialPluginEnv(env, { PLUGIN_TOKEN: "x" })).toEqual({
            PATH: "/usr/bin",
            HOME: "/home/sre",
            AWS_PROFILE: "rotation",
            AWS_WEB_IDENTITY_TOKEN_FILE: "/var/run/token",
            KUBECONFIG: "/k",
            PLUGIN_TOKEN: "x",
        });
    });

    it("hooks/isolateEnv.ts loads nothing but node:path and ./adminEnv, which loads nothing", () => {
        const importsOf = (file: string) => [...readFileSync(join(ROOT, "hooks", file), "utf8").matchAll(/^import\s.*?["']([^"']+)["'];/gms)].map((m) => m[1]);
        expect(importsOf("isolateEnv.ts")).toEqual(["node:path", "./adminEnv"]);
        expect(importsOf("adminEnv.ts")).toEqual([]);
    });

    describe("at process level, with every admin credential in the environment the hook starts with", () => {
        let dir: string;
        beforeAll(() => {
            dir = mkdtempSync(join(tmpdir(), "rotation-probe-"));
        });
        afterAll(() => rmSync(dir, { recursive: true, force: true }));

        interface Probe {
            readonly loads: { module: string; by: string; visible: string[] }[];
            readonly atExit: string[];
        }
        const everything = () => ({
            ROTATION_PG_ADMIN_URL: `postgresql://admin:${encodeURIComponent(CANARY.pgAdmin)}@127.0.0.1:1/buywhere`,
            ROTATION_REDIS_ADMIN_URL: `redis://default:${encodeURIComponent(CANARY.redisAdmin)}@127.0.0.1:1/0`,
            ROTATION_TYPESENSE_ADMIN_KEY: CANARY.typesenseAdmin,
            CLOUDFLARE_API_TOKEN: CANARY.cloudflare,
            DEBUG: "*",
            NODE_TLS_REJECT_UNAUTHORIZED: "0",
        });
        async function probed(run: (env: Record<string, string>) => Promise<HookResult>, env: Record<string, string>, name: string): Promise<{ result: HookResult; probe: Probe }> {
            const out = join(dir, `${name}.json`);
            const result = await run({
                ...everything(),
                ...env,
                NODE_OPTIONS: `--require ${join(ROOT, "test/support/envProbe.cjs")}`,
                ENV_PROBE_NAMES: [...ADMIN_CREDENTIAL_ENVS, ...UNSAFE_ENVS].join(","),
                ENV_PROBE_OUT: out,
            });
            return { result, probe: JSON.parse(readFileSync(out, "utf8")) as Probe };
        }

        it("control: the probe sees every variable in a process that does not isolate", async () => {
            const run = (env: Record<string, string>) =>
                new Promise<HookResult>((resolve) => {
                    const child = spawn(process.execPath, ["-e", "require('ioredis'); require('pg')"], { cwd: ROOT, env: { PATH: process.env.PATH ?? "", ...env } });
                    child.on("close", (code) => resolve({ code, stdout: "", stderr: "" }));
                });
            const { probe } = await probed(run, {}, "control");
            expect(probe.loads.find((l) => l.module === "ioredis")?.visible.sort()).toEqual([...ADMIN_CREDENTIAL_ENVS, "DEBUG", "NODE_TLS_REJECT_UNAUTHORIZED"].sort());
        });

        const closed = { port: 0 };
        beforeAll(async () => {
            closed.port = await freePort(); // nothing listens: the appliers get as far as connecting, then fail
        });
        const inputs: Record<HookName, () => Record<string, string>> = {
            postgresApply: () => ({
                ...toEnv(postgresApplyContract, { role: "buywhere_app_a", password: CANARY.pgSlot }),
                ROTATION_PG_ADMIN_URL: `postgresql://admin:${encodeURIComponent(CANARY.pgAdmin)}@127.0.0.1:${closed.port}/buywhere`,
            }),
            redisApply: () => ({
                ...toEnv(redisApplyContract, { user: "buywhere-api", passwordA: CANARY.redisSlotA, passwordB: CANARY.redisSlotB }),
                ROTATION_REDIS_ADMIN_URL: `redis://default:${encodeURIComponent(CANARY.redisAdmin)}@127.0.0.1:${closed.port}/0`,
            }),
            typesenseApply: () =>
                toEnv(typesenseApplyContract, {
                    url: `http://127.0.0.1:${closed.port}`,
                    stack: "staging",
                    slot: "a",
                    stamp: "2026-11",
                    value: CANARY.typesenseValue,
                    actions: ["documents:search"],
                    collections: ["products"],
                }),
            // Bad input (exit 2) keeps these off the network; their libraries load on import all the same.
            ecsRedeploy: () => ({}),
            elasticacheApply: () => ({}),
            healthCheck: () => ({}),
            r2Probe: () => ({}),
        };
        const mainLibrary: Record<HookName, string> = {
            postgresApply: "pg",
            redisApply: "ioredis",
            typesenseApply: "zod",
            ecsRedeploy: "@aws-sdk/client-ecs",
            elasticacheApply: "@aws-sdk/client-elasticache",
            healthCheck: "zod",
            r2Probe: "@aws-sdk/client-s3",
        };

        it.each(HOOKS)("%s: every package it loads sees at most its own credential, and at exit not even that", async (hook) => {
            const { result, probe } = await probed((env) => runHookProcess(hook, env), inputs[hook](), hook);
            expect(result.code).toBe(["ecsRedeploy", "elasticacheApply", "healthCheck", "r2Probe"].includes(hook) ? 2 : 1);
            const own = (HOOK_ADMIN_ENV as Record<string, string>)[hook];
            const hookLoads = probe.loads.filter((l) => l.by !== "tsx");
            expect(hookLoads.map((l) => l.module)).toContain(mainLibrary[hook]);
            for (const load of hookLoads) expect({ module: load.module, visible: load.visible }).toEqual({ module: load.module, visible: own ? [own] : [] });
            // Only the loader on the command line (tsx, which compiles the hook) ran before the hook's first import.
            expect(probe.loads.filter((l) => l.by === "tsx").map((l) => l.module)).toEqual(["esbuild"]);
            expect(probe.atExit).toEqual([]); // an applier took its own credential out once it read it
            expect(leaksIn(result.stdout + result.stderr)).toEqual([]);
        });
    });
});

describe("no secret in what a hook prints: canaries through the appliers as processes", () => {
    const servers = useServers(async ({ pg, redis }) => {
        await bootstrapPostgres(pg.adminUrl, "buywhere_app", ["buywhere_app_a", "buywhere_app_b"], "buywhere");
        const c = new Client({ connectionString: pg.adminUrl });
        await c.connect();
        try {
            // A least-privilege admin whose password is a canary (no quote in it, so the literal is safe).
            await c.query(`CREATE ROLE canary_admin LOGIN CREATEROLE PASSWORD '${CANARY.pgAdmin}'`);
        } finally {
            await c.end();
        }
        await bootstrapRedisUser(redis.adminUrl, "buywhere-api", ACL_RULES);
        const r = new Redis(redis.adminUrl);
        try {
            await r.call("ACL", "SETUSER", "canary-admin", "on", `>${CANARY.redisAdmin}`, "~*", "&*", "+@all");
        } finally {
            r.disconnect();
        }
    });

    /** The other hooks' credentials are in every run's environment too, and DEBUG=* (ioredis would print AUTH). */
    const ambient = () => ({
        ROTATION_PG_ADMIN_URL: `postgresql://canary_admin:${encodeURIComponent(CANARY.pgAdmin)}@127.0.0.1:${servers.pg.port}/buywhere`,
        ROTATION_REDIS_ADMIN_URL: `redis://canary-admin:${encodeURIComponent(CANARY.redisAdmin)}@127.0.0.1:${new URL(servers.redis.adminUrl).port}/0`,
        ROTATION_TYPESENSE_ADMIN_KEY: CANARY.typesenseAdmin,
        CLOUDFLARE_API_TOKEN: CANARY.cloudflare,
        DEBUG: "*",
    });

    function expectClean(hook: string, run: HookResult, code: number, line: RegExp): void {
        expect(leaksIn(run.stdout + run.stderr)).toEqual([]);
        expect(run.stdout).toBe("");
        expect({ code: run.code, stderr: run.stderr }).toEqual({ code, stderr: expect.stringMatching(line) });
        for (const l of run.stderr.trimEnd().split("\n")) expect(l.startsWith(`[${hook}] `)).toBe(true);
    }

    it("control: the scan finds a canary a process prints (ioredis under DEBUG=* prints AUTH's arguments)", async () => {
        const leaked = await new Promise<string>((resolve) => {
            const script = `const R=require("ioredis");const r=new R({host:"127.0.0.1",port:1,lazyConnect:true,retryStrategy:()=>null});r.on("error",()=>{});r.call("AUTH","u",process.env.PW).catch(()=>{});r.connect().catch(()=>{});setTimeout(()=>process.exit(0),300)`;
            const child = spawn(process.execPath, ["-e", script], { cwd: ROOT, env: { PATH: process.env.PATH ?? "", DEBUG: "ioredis:*", PW: CANARY.redisSlotA } });
            let err = "";
            child.stderr.on("data", (d) => (err += d));
            child.on("close", () => resolve(err));
        });
        expect(leaksIn(leaked)).toContain(CANARY.redisSlotA);
    });

    const pgRun = (over: Record<string, string>, role = "buywhere_app_a", password: string = CANARY.pgSlot) =>
        runHookProcess("postgresApply", { ...ambient(), ...toEnv(postgresApplyContract, { role, password }), ...over });
    const pgUrl = (auth: string, hostPort: string, query = "") => `postgresql://${auth}@${hostPort}/buywhere${query}`;
    const pgAdmin = () => `canary_admin:${encodeURIComponent(CANARY.pgAdmin)}`;

    it.each([
        ["applies", () => pgRun({}), 0, /^\[postgres-apply\] set the password of buywhere_app_a and logged in with it\n$/],
        ["finds it applied", () => pgRun({}), 0, /^\[postgres-apply\] buywhere_app_a already logs in with this slot's password; nothing to change\n$/],
        ["a wrong admin password", () => pgRun({ ROTATION_PG_ADMIN_URL: pgUrl(`canary_admin:${encodeURIComponent(CANARY.pgWrong)}`, `127.0.0.1:${servers.pg.port}`) }), 1, /password authentication failed for user "canary_admin" \(28P01\)\n$/],
        ["an unreachable server", async () => pgRun({ ROTATION_PG_ADMIN_URL: pgUrl(pgAdmin(), `127.0.0.1:${await freePort()}`) }), 1, /ECONNREFUSED/],
        ["a plaintext link to a remote host", () => pgRun({ ROTATION_PG_ADMIN_URL: pgUrl(pgAdmin(), "db.invalid:5432") }), 2, /must use sslmode=verify-full/],
        ["verify-full to a server without TLS", () => pgRun({ ROTATION_PG_ADMIN_URL: pgUrl(pgAdmin(), `localhost:${servers.pg.port}`, "?sslmode=verify-full") }), 1, /The server does not support SSL connections\n$/],
        ["an unreadable CA file", () => pgRun({ ROTATION_PG_ADMIN_URL: pgUrl(pgAdmin(), "db.internal", "?sslmode=verify-full"), ROTATION_PG_CA_FILE: "/nonexistent/ca.pem" }), 2, /ROTATION_PG_CA_FILE names a file that cannot be read \(ENOENT\)\n$/],
        ["a URL that does not parse", () => pgRun({ ROTATION_PG_ADMIN_URL: `postgresql://canary_admin:${CANARY.pgAdmin}@[db/buywhere` }), 2, /is not a valid postgres:\/\/ URL\n$/],
        ["malformed percent-encoding", () => pgRun({ ROTATION_PG_ADMIN_URL: pgUrl(`canary_admin:%zz${encodeURIComponent(CANARY.pgAdmin)}`, `127.0.0.1:${servers.pg.port}`) }), 2, /is not a valid postgres:\/\/ URL\n$/],
        ["the admin's own role as the slot", () => pgRun({}, "canary_admin"), 2, /refusing role canary_admin: it is the role the admin URL logs in as\n$/],
        ["a missing role", () => pgRun({}, "buywhere_app_zz"), 1, /role buywhere_app_zz does not exist/],
        ["a slot password the contract refuses", () => pgRun({ PG_PASSWORD: `Pässwort-${CANARY.pgSlot}` }), 2, /PG_PASSWORD is not valid\n$/],
    ])("postgresApply: %s — no canary printed", async (_, run, code, line) => {
        expectClean("postgres-apply", await run(), code, line);
    });

    const redisRun = (over: Record<string, string>, user = "buywhere-api") =>
        runHookProcess("redisApply", { ...ambient(), ...toEnv(redisApplyContract, { user, passwordA: CANARY.redisSlotA, passwordB: CANARY.redisSlotB }), ...over });
    const redisUrl = (auth: string, hostPort: string, query = "") => `redis://${auth}@${hostPort}/0${query}`;
    const redisAdmin = () => `canary-admin:${encodeURIComponent(CANARY.redisAdmin)}`;
    const redisPort = () => new URL(servers.redis.adminUrl).port;

    it.each([
        ["applies", () => redisRun({}), 0, /^\[redis-apply\] buywhere-api now holds the two slots' passwords; both AUTH\n$/],
        ["finds it applied", () => redisRun({}), 0, /^\[redis-apply\] buywhere-api already holds exactly this pair of passwords; nothing to change\n$/],
        ["a wrong admin password", () => redisRun({ ROTATION_REDIS_ADMIN_URL: redisUrl(`canary-admin:${encodeURIComponent(CANARY.redisWrong)}`, `127.0.0.1:${redisPort()}`) }), 1, /WRONGPASS/],
        ["an unreachable server", async () => redisRun({ ROTATION_REDIS_ADMIN_URL: redisUrl(redisAdmin(), `127.0.0.1:${await freePort()}`) }), 1, /ECONNREFUSED/],
        ["a plaintext link to a remote host", () => redisRun({ ROTATION_REDIS_ADMIN_URL: redisUrl(redisAdmin(), "cache.invalid:6379") }), 2, /must be a rediss:\/\/ URL \(TLS\)/],
        ["query parameters", () => redisRun({ ROTATION_REDIS_ADMIN_URL: redisUrl(redisAdmin(), `127.0.0.1:${redisPort()}`, "?tls=x") }), 2, /must not carry query parameters\n$/],
        ["a URL that does not parse", () => redisRun({ ROTATION_REDIS_ADMIN_URL: `redis://canary-admin:${CANARY.redisAdmin}@[cache/0` }), 2, /is not a valid redis:\/\/ or rediss:\/\/ URL\n$/],
        ["the admin's own user as the target", () => redisRun({}, "canary-admin"), 2, /refusing Redis ACL user canary-admin: it is the user the admin URL logs in as\n$/],
        ["a missing user", () => redisRun({}, "buywhere-nobody"), 1, /Redis ACL user buywhere-nobody does not exist/],
    ])("redisApply: %s — no canary printed", async (_, run, code, line) => {
        expectClean("redis-apply", await run(), code, line);
    });

    describe("typesenseApply", () => {
        let server: Server;
        let url: string;
        beforeAll(async () => {
            // TypesenseKeysApiDouble (test/support/emulator/typesenseKeysDouble.ts): the keys API with the admin key
            // checked, and the search the applier proves the new key with.
            server = createServer(typesenseKeysHandler({ keys: [], nextId: 1, requests: [], adminKey: CANARY.typesenseAdmin, collections: ["products"] }));
            await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
            url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
        });
        afterAll(async () => new Promise((r) => server.close(r)));

        const tsRun = (over: Record<string, string>, target = () => url) =>
            runHookProcess("typesenseApply", {
                ...ambient(),
                ...toEnv(typesenseApplyContract, { url: target(), stack: "staging", slot: "a", stamp: "2026-11", value: CANARY.typesenseValue, actions: ["documents:search"], collections: ["products"] }),
                ...over,
            });

        it.each([
            ["registers", () => tsRun({}), 0, /^\[typesense-apply\] registered key 1 for slot a \(2026-11\)\n\[typesense-apply\] slot a's key searches products\n$/],
            ["finds it registered", () => tsRun({}), 0, /^\[typesense-apply\] slot a's key for 2026-11 is already registered \(1\); nothing to create\n\[typesense-apply\] slot a's key searches products\n$/],
            ["a wrong admin key", () => tsRun({ ROTATION_TYPESENSE_ADMIN_KEY: CANARY.typesenseWrong }), 1, /Typesense GET \/keys failed: HTTP 401/],
            ["an unreachable server", async () => { const port = await freePort(); return tsRun({}, () => `http://127.0.0.1:${port}`); }, 1, /fetch failed \(ECONNREFUSED\)\n$/],
            ["a plaintext link to a remote host", () => tsRun({}, () => "http://search.invalid:8108"), 2, /TYPESENSE_URL must be an https:\/\/ URL/],
            ["bad input", () => tsRun({ TYPESENSE_SLOT: "c" }), 2, /TYPESENSE_SLOT must be a or b\n$/],
        ])("%s — no canary printed", async (_, run, code, line) => {
            expectClean("typesense-apply", await run(), code, line);
        });
    });
});

describe("runHook: the last line of defence", () => {
    it("redactor replaces each secret in every form it can take in text, and leaves short values alone", () => {
        const secret = "S3cret/Value+With=Specials";
        const redact = redactor([secret, "short"]);
        const text = [secret, encodeURIComponent(secret), Buffer.from(secret).toString("base64"), Buffer.from(secret).toString("base64url"), "short"].join(" | ");
        expect(redact(text)).toBe("[redacted] | [redacted] | [redacted] | [redacted] | short");
    });

    it("hookSecrets collects the secret inputs, the admin credential and the password inside an admin URL", () => {
        const env = {
            ...toEnv(redisApplyContract, { user: "buywhere-api", passwordA: CANARY.redisSlotA, passwordB: CANARY.redisSlotB }),
            ROTATION_REDIS_ADMIN_URL: `redis://admin:${encodeURIComponent(CANARY.redisAdmin)}@cache:6379`,
            ROTATION_PG_ADMIN_URL: "not this hook's",
        };
        expect(hookSecrets(redisApplyContract, env).sort()).toEqual(
            [CANARY.redisSlotA, CANARY.redisSlotB, env.ROTATION_REDIS_ADMIN_URL, encodeURIComponent(CANARY.redisAdmin), CANARY.redisAdmin].sort(),
        );
    });

    describe("as a process", () => {
        let dir: string;
        beforeAll(() => {
            dir = mkdtempSync(join(tmpdir(), "rotation-runhook-"));
        });
        afterAll(() => rmSync(dir, { recursive: true, force: true }));
        const runFile = (name: string, source: string, env: Record<string, string> = {}) => {
            const file = join(dir, name);
            writeFileSync(file, source);
            return new Promise<HookResult>((resolve) => {
                const child = spawn(process.execPath, ["--import", "tsx", file], { cwd: ROOT, env: { PATH: process.env.PATH ?? "", ...env } });
                let [stdout, stderr] = ["", ""];
                child.stdout.on("data", (d) => (stdout += d));
                child.stderr.on("data", (d) => (stderr += d));
                child.on("close", (code) => resolve({ code, stdout, stderr }));
            });
        };
        const runtime = JSON.stringify(join(ROOT, "hooks/hookRuntime"));

        it("refuses to run a program whose environment was not isolated (not a file under hooks/)", async () => {
            const run = await runFile("notAHook.ts", `import { runHook } from ${runtime};\nrunHook("not-a-hook", [], async (log) => log("ran"));\n`);
            expect(run).toEqual({ code: 1, stdout: "", stderr: "[not-a-hook] error: the hook's environment was not isolated (hooks/isolateEnv.ts must be its first import, and it must run as a file under hooks/)\n" });
        });
    });
});
