/**
 * The Redis applier against a real redis-server (started by the test): one ACL user holding exactly the two slots'
 * passwords, set as SHA-256 hashes, over successive rotations; the admin URL read by ioredis itself; its inputs
 * decoded through its contract (hooks/contracts.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminCredential, fromEnv, redisApplyContract, toEnv } from "../hooks/contracts";
import { HookInputError, SourceError } from "../hooks/hookRuntime";
import { applyRedisSlots, bootstrapRedisUser, canAuth, redisClient, sha256Hex } from "../hooks/redisApply";
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
        expect(tls.tls).toBeTruthy();
        const plain = redisClient("redis://cache.internal").options;
        expect(plain).toMatchObject({ host: "cache.internal", port: 6379, db: 0, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, connectTimeout: 10_000 });
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
