/**
 * The Redis applier against a real redis-server (started by the test): one ACL user holding exactly the two slots'
 * passwords, set as SHA-256 hashes, over successive rotations; the admin URL read by ioredis itself; its inputs
 * decoded through its contract (hooks/contracts.ts). Then the admin link's TLS rules (against a second server that
 * speaks only TLS, with a test CA), the guardrails on the ACL user, and closing a retired user's connections.
 */
import { readFileSync } from "node:fs";
import net from "node:net";
import Redis from "ioredis";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { adminCredential, fromEnv, redisApplyContract, toEnv } from "../hooks/contracts";
import { GuardrailError, HookInputError, SourceError } from "../hooks/hookRuntime";
import {
    REDIS_CA_ENV,
    applyRedisSlots,
    bootstrapRedisUser,
    canAuth,
    killRedisClients,
    redisClient,
    rulesMayRunAdmin,
    sha256Hex,
} from "../hooks/redisApply";
import { TestCa, TlsRedis, makeTestCa, startTlsRedis } from "./support/tlsServers";
import { Slot, otherSlot } from "../rotation/catalog";
import { ACL_RULES, password } from "./support/fixtures";
import { runHookProcess } from "./support/hookProcess";
import { RedisServer, startRedis } from "./support/redis";

let redis: RedisServer;
const USER = "buywhere-api";
const ADMIN_ENV = redisApplyContract.adminEnv;

async function adminCall(...args: string[]): Promise<unknown> {
    const r = redisClient(redis.adminUrl);
    await r.connect();
    try {
        return await r.call(args[0], ...args.slice(1));
    } finally {
        r.disconnect();
    }
}

const failure = (p: Promise<unknown>) => p.then(() => undefined, (e: Error) => e);

beforeAll(async () => {
    redis = await startRedis();
    expect(await bootstrapRedisUser(redis.adminUrl, USER, ACL_RULES)).toBe(true);
}, 60_000);
afterAll(async () => redis?.stop());

describe("Redis ACL dual passwords", () => {
    it("bootstrap creates the user once, enabled, with its rules and no password", async () => {
        expect(await bootstrapRedisUser(redis.adminUrl, USER, ACL_RULES)).toBe(false);
        const list = (await adminCall("ACL", "LIST")) as string[];
        expect(list.find((l) => l.startsWith(`user ${USER} `))).toMatch(/^user buywhere-api on (sanitize-payload )?resetchannels ~\* &\* \+@all -@admin -@dangerous$|^user buywhere-api on .*~\*.*/);
    });

    it("holds exactly the two slots' passwords, as hashes; both AUTH; applying again changes nothing", async () => {
        const [a, b] = [password(), password()];
        expect(await applyRedisSlots(redis.adminUrl, USER, [a, b])).toEqual({ changed: true });
        expect(await canAuth(redis.adminUrl, USER, a)).toBe(true);
        expect(await canAuth(redis.adminUrl, USER, b)).toBe(true);
        expect(await canAuth(redis.adminUrl, USER, password())).toBe(false);
        const user = (await adminCall("ACL", "GETUSER", USER)) as unknown[];
        const hashes = (user[user.indexOf("passwords") + 1] as string[]).sort();
        expect(hashes).toEqual([sha256Hex(a), sha256Hex(b)].sort());
        const list = ((await adminCall("ACL", "LIST")) as string[]).join("\n");
        expect(list).not.toContain(a);
        expect(list).not.toContain(b);
        expect(await applyRedisSlots(redis.adminUrl, USER, [a, b])).toEqual({ changed: false });
    });

    it("over successive rotations the previous slot keeps working after one rotation and stops after two", async () => {
        // Each rotation regenerates the slot that is not active and makes it active (README, "Two slots per
        // credential"; the state machine itself is tested in test/slots.test.ts).
        let active: Slot = "a";
        const pw: Record<Slot, string> = { a: password(), b: password() };
        await applyRedisSlots(redis.adminUrl, USER, [pw.a, pw.b]);
        const held = [pw.a];
        for (let rotation = 1; rotation <= 3; rotation++) {
            active = otherSlot(active);
            pw[active] = password();
            await applyRedisSlots(redis.adminUrl, USER, [pw.a, pw.b]);
            held.push(pw[active]);
            const n = held.length;
            expect(await canAuth(redis.adminUrl, USER, held[n - 1])).toBe(true);
            expect(await canAuth(redis.adminUrl, USER, held[n - 2])).toBe(true);
            if (n >= 3) expect(await canAuth(redis.adminUrl, USER, held[n - 3])).toBe(false);
        }
    });

    it("refuses a server without ACL support (ACL renamed away, as on Redis < 6) with a clear message", async () => {
        const old = await startRedis(['rename-command ACL ""']);
        try {
            const err = await failure(applyRedisSlots(old.adminUrl, USER, [password(), password()]));
            expect(err).toBeInstanceOf(SourceError);
            expect(err?.message).toBe(
                "this Redis server has no ACL support (Redis >= 6 required): a requirepass-only server holds one password, so a rotation could not keep the old one valid; refusing rather than overwriting it",
            );
        } finally {
            await old.stop();
        }
    });

    it.each([
        ["a missing ACL user", () => redis.adminUrl, "buywhere-other", SourceError, /^Redis ACL user buywhere-other does not exist; run `secrets-rotation bootstrap --stack <stack>` first$/],
        ["a wrong admin password", () => redis.adminUrl.replace(/:[^:@/]+@/, ":WrongAdminPw1@"), USER, Error, /^could not update Redis ACL user buywhere-api: WRONGPASS/],
        ["an unreachable server", () => "redis://default:x@127.0.0.1:9/0", USER, Error, /^could not update Redis ACL user buywhere-api: connect ECONNREFUSED 127\.0\.0\.1:9$/],
        ["a user name ACL rules could misread", () => redis.adminUrl, "app >pw", HookInputError, /^"app >pw" is not a valid Redis ACL user name$/],
    ])("fails clearly for %s, and no password is in the message", async (_, url, user, kind, message) => {
        const pws: [string, string] = [password(), password()];
        const err = await failure(applyRedisSlots(url(), user, pws));
        expect(err).toBeInstanceOf(kind);
        // Only the source's own diagnoses are SourceErrors: the others were worded here, around a driver's error.
        expect(err instanceof SourceError).toBe(kind === SourceError);
        expect(err?.message).toMatch(message);
        for (const p of [...pws, "WrongAdminPw1"]) expect(`${err?.message}${err?.stack}`).not.toContain(p);
    });
});

describe("the admin URL, as ioredis reads it", () => {
    it("takes user, password (percent-decoded), host, port, db and TLS from the URL, with one attempt and no queue", () => {
        const tls = redisClient("rediss://rotation%2Dadmin:p%40ss%3Aword@cache.internal:6380/3").options;
        expect(tls).toMatchObject({ username: "rotation-admin", password: "p@ss:word", host: "cache.internal", port: 6380, db: 3 });
        expect(tls.tls).toEqual({ rejectUnauthorized: true, ca: undefined });
        const plain = redisClient("redis://127.0.0.1").options;
        expect(plain).toMatchObject({ host: "127.0.0.1", port: 6379, db: 0, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, connectTimeout: 10_000 });
        expect(plain.tls).toBeUndefined();
        expect(plain.retryStrategy?.(1)).toBeNull();
    });

    it.each([
        ["http://admin:AdminPw1@cache.internal:6379", `${ADMIN_ENV} must be a redis:// or rediss:// URL`],
        ["cache.internal:6379", `${ADMIN_ENV} must be a redis:// or rediss:// URL`],
        // ioredis turns TLS on only for a lower-case rediss://: an upper-case one would connect in plain text.
        ["REDISS://admin:AdminPw1@cache.internal:6379", `${ADMIN_ENV} must be a redis:// or rediss:// URL`],
        ["redis://admin:AdminPw1@[cache.internal", `${ADMIN_ENV} is not a valid redis:// or rediss:// URL`],
    ])("refuses %s with one line that holds none of it", async (url, message) => {
        const err = await failure(applyRedisSlots(url, USER, [password(), password()]));
        expect(err).toEqual(new HookInputError(message));
        expect(`${err?.message}${err?.stack}`).not.toContain("AdminPw1");
        expect(() => redisClient(url)).toThrow(new HookInputError(message));
    });
});

describe("the process the program runs", () => {
    it.each([
        [{}, "environment variable REDIS_USER is required"],
        [{ REDIS_USER: "app user", REDIS_PASSWORD_A: "a", REDIS_PASSWORD_B: "b" }, 'environment variable REDIS_USER "app user" is not a Redis ACL user name'],
        [{ REDIS_USER: USER, REDIS_PASSWORD_A: "a" }, "environment variable REDIS_PASSWORD_B is required"],
        [{ REDIS_USER: USER, REDIS_PASSWORD_A: " ", REDIS_PASSWORD_B: "b" }, "environment variable REDIS_PASSWORD_A is required"],
    ])("decodes its input only through its contract: %j is refused with one line naming the variable", (env, message) => {
        expect(() => fromEnv(redisApplyContract, env)).toThrow(new HookInputError(message));
    });

    it("reads the admin URL from the variable its contract names", () => {
        expect(() => adminCredential(redisApplyContract, {})).toThrow(new HookInputError(`environment variable ${ADMIN_ENV} is required`));
        expect(adminCredential(redisApplyContract, { [ADMIN_ENV]: redis.adminUrl })).toBe(redis.adminUrl);
    });

    it("exit 0 when applied; 2 with one line on bad input, changing nothing", async () => {
        const run = (env: Record<string, string>) => runHookProcess("redisApply", env);
        const [a, b] = [password(), password()];
        const ok = await run({ ...toEnv(redisApplyContract, { user: USER, passwordA: a, passwordB: b }), [ADMIN_ENV]: redis.adminUrl });
        expect(ok.code).toBe(0);
        expect(ok.stderr).toBe(`[redis-apply] ${USER} now holds the two slots' passwords; both AUTH\n`);
        expect(await canAuth(redis.adminUrl, USER, b)).toBe(true);
        const { REDIS_PASSWORD_B: _, ...withoutB } = toEnv(redisApplyContract, { user: USER, passwordA: a, passwordB: password() });
        const bad = await run({ ...withoutB, [ADMIN_ENV]: redis.adminUrl });
        expect(bad.code).toBe(2);
        expect(bad.stderr).toBe("[redis-apply] error: environment variable REDIS_PASSWORD_B is required\n");
        const http = await run({ ...toEnv(redisApplyContract, { user: USER, passwordA: a, passwordB: password() }), [ADMIN_ENV]: "https://admin:AdminPw2@cache.internal" });
        expect(http.code).toBe(2);
        expect(http.stderr).toBe(`[redis-apply] error: ${ADMIN_ENV} must be a redis:// or rediss:// URL\n`);
        expect(await canAuth(redis.adminUrl, USER, b)).toBe(true); // nothing changed
    });
});

const CANARY = "Redis-Canary-AdminPw-4be1d2";
const portOf = (url: string) => Number(new URL(url).port);
const hashesOf = async (user: string) => {
    const u = (await adminCall("ACL", "GETUSER", user)) as unknown[] | null;
    return u === null ? undefined : (u[u.indexOf("passwords") + 1] as string[]).sort();
};

describe("the admin link: rediss:// unless the host is loopback", () => {
    let ca: TestCa;
    beforeAll(() => {
        ca = makeTestCa();
    });
    afterAll(() => ca?.remove());

    const notLoopback = `${ADMIN_ENV} must be a rediss:// URL (TLS): its host is not loopback`;
    it.each([
        [`redis://default:${CANARY}@cache.internal:6379/0`, notLoopback],
        [`redis://default:${CANARY}@127.1:6379/0`, notLoopback],
        [`redis://default:${CANARY}@localhost.example.com:6379/0`, notLoopback],
        [`rediss://default:${CANARY}@cache.internal:6380/0?tls=false`, `${ADMIN_ENV} must not carry query parameters`],
        [`redis://default:${CANARY}@127.0.0.1:6379/0?path=/tmp/redis.sock`, `${ADMIN_ENV} must not carry query parameters`],
    ])("refuses %s with one line naming the variable, never the credential", async (url, message) => {
        const err = await failure(applyRedisSlots(url, USER, [password(), password()]));
        expect(err).toEqual(new HookInputError(message));
        expect(`${err?.message}${err?.stack}`).not.toContain(CANARY);
    });

    it.each(["redis://default:pw@127.0.0.1:6379/0", "redis://default:pw@localhost:6379", "redis://default:pw@[::1]:6379", "rediss://default:pw@cache.internal:6380"])(
        "accepts %s",
        (url) => {
            expect(() => redisClient(url)).not.toThrow();
        },
    );

    it("verifies rediss:// against the CA bundle ROTATION_REDIS_CA_FILE names", () => {
        const options = redisClient("rediss://default:pw@cache.internal:6380", {}, { [REDIS_CA_ENV]: ca.caFile }).options;
        expect(options.tls).toEqual({ rejectUnauthorized: true, ca: readFileSync(ca.caFile, "utf8") });
    });

    it("attempts no connection for a refused link", async () => {
        const connect = vi.spyOn(net.Socket.prototype, "connect");
        try {
            // cache.invalid never resolves (RFC 6761): had the hook tried, the error would be ENOTFOUND.
            expect(await failure(applyRedisSlots(`redis://default:${CANARY}@cache.invalid:6379/0`, USER, [password(), password()]))).toEqual(new HookInputError(notLoopback));
            expect(connect).not.toHaveBeenCalled();
            expect((await failure(applyRedisSlots("redis://default:x@127.0.0.1:9/0", USER, [password(), password()])))?.message).toMatch(/ECONNREFUSED/);
            expect(connect).toHaveBeenCalled(); // the spy does see connections
        } finally {
            connect.mockRestore();
        }
    });

    it("as a process: a plaintext link to a remote host exits 2 with that one line", async () => {
        const run = await runHookProcess("redisApply", { ...toEnv(redisApplyContract, { user: USER, passwordA: password(), passwordB: password() }), [ADMIN_ENV]: `redis://default:${CANARY}@cache.invalid:6379/0` });
        expect(run).toEqual({ code: 2, stdout: "", stderr: `[redis-apply] error: ${notLoopback}\n` });
    });

    describe("against a server that speaks only TLS, with the test CA (certificate for localhost only)", () => {
        let tlsRedis: TlsRedis;
        const env = () => ({ [REDIS_CA_ENV]: ca.caFile });
        beforeAll(async () => {
            tlsRedis = await startTlsRedis(ca);
            await bootstrapRedisUser(tlsRedis.adminUrl, USER, ACL_RULES, env());
        }, 60_000);
        afterAll(async () => tlsRedis?.stop());

        it("applies over rediss://, and both AUTH proofs run over TLS (the server has no other listener)", async () => {
            const [a, b] = [password(), password()];
            expect(await applyRedisSlots(tlsRedis.adminUrl, USER, [a, b], undefined, env())).toEqual({ changed: true });
            expect(await canAuth(tlsRedis.adminUrl, USER, a, env())).toBe(true);
            expect(await canAuth(tlsRedis.adminUrl, USER, b, env())).toBe(true);
        });

        it.each([
            ["a host the certificate was not issued for", () => tlsRedis.adminUrl.replace("@localhost:", "@127.0.0.1:"), () => env(), /Hostname\/IP does not match certificate's altnames: .* \(TLS: the certificate was not issued for the host the URL names; use the name it was issued for\)$/],
            ["a CA it was not told to trust", () => tlsRedis.adminUrl, () => ({}), /self-signed certificate in certificate chain \(TLS: the server's certificate is not from a trusted CA; set ROTATION_REDIS_CA_FILE to the CA bundle that issued it\)$/],
        ])("refuses %s", async (_, url, tlsEnv, message) => {
            const err = await failure(applyRedisSlots(url(), USER, [password(), password()], undefined, tlsEnv()));
            expect(err?.message).toMatch(new RegExp(`^could not update Redis ACL user ${USER}: ${message.source}`));
        });

        it("NODE_TLS_REJECT_UNAUTHORIZED=0 does not turn verification off", async () => {
            const saved = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
            process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";
            try {
                expect((await failure(applyRedisSlots(tlsRedis.adminUrl, USER, [password(), password()], undefined, {})))?.message).toMatch(/self-signed certificate in certificate chain/);
            } finally {
                if (saved === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
                else process.env.NODE_TLS_REJECT_UNAUTHORIZED = saved;
            }
        });
    });
});

describe("guardrails: ACL users a rotation must never manage are refused before any change", () => {
    const rotAdminUrl = () => redis.adminUrl.replace(/\/\/default:[^@]+@/, `//rot-admin:${encodeURIComponent(CANARY)}@`);
    beforeAll(async () => {
        await adminCall("ACL", "SETUSER", "rot-admin", "on", `>${CANARY}`, "~*", "&*", "+@all");
        await adminCall("ACL", "SETUSER", "rot-nopass", "on", "nopass", "~*", "-@all", "+get");
        await adminCall("ACL", "SETUSER", "rot-all", "on", "~*", "&*", "+@all");
        await adminCall("ACL", "SETUSER", "rot-configget", "on", "~*", "-@all", "+@read", "+config|get");
        await adminCall("ACL", "SETUSER", "rot-selector", "on", "~app:*", "-@all", "+get", "(~* +@all)");
        await adminCall("ACL", "SETUSER", "rot-ok", "on", ...ACL_RULES);
    });

    it.each([
        ["default", () => redis.adminUrl, "refusing Redis ACL user default: every connection starts as it, and it is usually the admin"],
        ["rot-admin", rotAdminUrl, "refusing Redis ACL user rot-admin: it is the user the admin URL logs in as"],
        ["rot-nopass", () => redis.adminUrl, "refusing Redis ACL user rot-nopass: it has nopass (any password authenticates as it)"],
        ["rot-all", () => redis.adminUrl, /^refusing Redis ACL user rot-all: it may run @admin commands \(e\.g\. [a-z|-]+, [a-z|-]+, [a-z|-]+\); give it -@admin$/],
        ["rot-configget", () => redis.adminUrl, "refusing Redis ACL user rot-configget: it may run @admin commands (e.g. config|get); give it -@admin"],
        // ACL DRYRUN weighs selectors: the root rules allow GET only, the selector everything.
        ["rot-selector", () => redis.adminUrl, /^refusing Redis ACL user rot-selector: it may run @admin commands \(e\.g\. /],
    ])("refuses %s with one line naming the user and the right; its passwords are unchanged", async (user, url, message) => {
        const before = await hashesOf(user);
        const err = await failure(applyRedisSlots(url(), user, [password(), password()]));
        expect(err).toBeInstanceOf(GuardrailError);
        if (typeof message === "string") expect(err?.message).toBe(message);
        else expect(err?.message).toMatch(message);
        expect(await hashesOf(user)).toEqual(before);
    });

    it("the default rules (+@all -@admin -@dangerous) pass, also for a least-privilege admin", async () => {
        expect(await applyRedisSlots(rotAdminUrl(), "rot-ok", [password(), password()])).toEqual({ changed: true });
        expect(await canAuth(redis.adminUrl, "rot-admin", CANARY)).toBe(true); // the admin's own password is intact
    });

    it("bootstrap refuses rules that would create a privileged user, and leaves no user behind", async () => {
        for (const [rules, message] of [
            [["~*", "+@all"], /^refusing Redis ACL user rot-boot: it may run @admin commands/],
            [["nopass", "~*", "-@all", "+get"], /^refusing Redis ACL user rot-boot: it has nopass/],
        ] as const) {
            const err = await failure(bootstrapRedisUser(redis.adminUrl, "rot-boot", rules));
            expect(err).toBeInstanceOf(GuardrailError);
            expect(err?.message).toMatch(message);
            expect(await adminCall("ACL", "GETUSER", "rot-boot")).toBeNull();
        }
        expect(await failure(bootstrapRedisUser(redis.adminUrl, "default", ACL_RULES))).toBeInstanceOf(GuardrailError);
    });

    it("as a process: a refused user exits 2 with that one line", async () => {
        const run = await runHookProcess("redisApply", { ...toEnv(redisApplyContract, { user: "rot-all", passwordA: password(), passwordB: password() }), [ADMIN_ENV]: redis.adminUrl });
        expect(run.code).toBe(2);
        expect(run.stderr).toMatch(/^\[redis-apply\] error: refusing Redis ACL user rot-all: it may run @admin commands .*\n$/);
    });

    // Redis 6 has no ACL DRYRUN: the rules ACL GETUSER prints are read instead, conservatively.
    it.each([
        ["+@all", true],
        ["+@all -@admin", false],
        ["+@all -@dangerous", false],
        ["+@all -@admin -@dangerous", false],
        ["+@all -@admin +config|get", true],
        ["+@all -@admin +config", true],
        ["+@all -@admin +client|setname", false],
        ["-@all +@read +@string", false],
        ["-@all +@read +@write", true], // PFDEBUG is @write and @admin
        ["-@all +@slow", true],
        ["-@all +get +set", false],
        ["allcommands", true],
        ["+@all -@admin -config", false],
        ["", false],
    ])("rulesMayRunAdmin(%j) is %s", (rules, expected) => {
        expect(rulesMayRunAdmin(rules)).toBe(expected);
    });
});

describe("killRedisClients: closing a retired password's connections", () => {
    const clients: Redis[] = [];
    /** A connection authenticated as USER with `pw`, as a pod holds one; it does not reconnect. */
    async function connection(pw: string): Promise<Redis> {
        const c = new Redis({ host: "127.0.0.1", port: portOf(redis.adminUrl), username: USER, password: pw, lazyConnect: true, enableReadyCheck: false, retryStrategy: () => null, maxRetriesPerRequest: 0 });
        c.on("error", () => undefined);
        await c.connect();
        clients.push(c);
        return c;
    }
    const connectionsOf = async (user: string) => String(await adminCall("CLIENT", "LIST")).split("\n").filter((l) => l.includes(` user=${user} `)).length;
    afterAll(() => clients.forEach((c) => c.disconnect()));

    it("closes every connection of the user and reports the count; the still-valid slot logs in again", async () => {
        const [leaked, kept] = [password(), password()];
        await applyRedisSlots(redis.adminUrl, USER, [leaked, kept]);
        const held = await Promise.all([leaked, leaked, kept].map(connection));
        await applyRedisSlots(redis.adminUrl, USER, [password(), kept]); // the leaked password is removed...
        expect(await canAuth(redis.adminUrl, USER, leaked)).toBe(false);
        expect(await held[0].set("after-rotation", "still-works")).toBe("OK"); // ...but its connections still run
        expect(await connectionsOf(USER)).toBe(3);

        // Each held connection ends (bounded: a connection that was not closed fails the test within 5 s).
        const ended = held.map((c) => new Promise((resolve, reject) => {
            c.once("end", resolve);
            setTimeout(() => reject(new Error("a connection of the retired password was not closed")), 5_000).unref();
        }));
        expect(await killRedisClients(redis.adminUrl, USER)).toEqual({ user: USER, killed: 3 });
        await Promise.all(ended);

        expect(await connectionsOf(USER)).toBe(0);
        expect(held.map((c) => c.status)).toEqual(["end", "end", "end"]);
        const again = await connection(kept); // pods reconnect with the slot that is still valid
        expect(await again.ping()).toBe("PONG");
        expect(await canAuth(redis.adminUrl, USER, leaked)).toBe(false);
        expect(await killRedisClients(redis.adminUrl, USER)).toEqual({ user: USER, killed: 1 });
    });

    it("refuses default and the admin's own user, and reports a user that does not exist", async () => {
        await adminCall("ACL", "SETUSER", "kill-admin", "on", `>${CANARY}`, "~*", "&*", "+@all");
        const killAdminUrl = redis.adminUrl.replace(/\/\/default:[^@]+@/, `//kill-admin:${encodeURIComponent(CANARY)}@`);
        expect(await failure(killRedisClients(killAdminUrl, "kill-admin"))).toEqual(
            new GuardrailError("refusing to close the connections of Redis ACL user kill-admin: it is the user the admin URL logs in as"),
        );
        expect(await failure(killRedisClients(redis.adminUrl, "default"))).toBeInstanceOf(GuardrailError);
        expect(await failure(killRedisClients(redis.adminUrl, "no-such-user"))).toEqual(new SourceError("Redis ACL user no-such-user does not exist"));
    });
});
