/**
 * The Redis applier against a real redis-server (started by the test): one ACL user holding exactly the two slots'
 * passwords, set as SHA-256 hashes, over successive rotations driven by the real slot state machine.
 */
import { randomBytes } from "node:crypto";
import Redis from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyRedisSlots, bootstrapRedisUser, canAuth, redisOptions, sha256Hex } from "../hooks/redisApply";
import { GroupState, transitionGroup } from "../rotation/slots";
import { runHookProcess } from "./support/hookProcess";
import { RedisServer, startRedis } from "./support/redis";

let redis: RedisServer;
const USER = "buywhere-api";
const RULES = ["~*", "&*", "+@all", "-@admin", "-@dangerous"];
const password = () => randomBytes(30).toString("base64").replace(/[^A-Za-z0-9]/g, "").slice(0, 40);

async function adminCall(...args: string[]): Promise<unknown> {
    const r = new Redis(redisOptions(redis.adminUrl));
    await r.connect();
    try {
        return await r.call(args[0], ...args.slice(1));
    } finally {
        r.disconnect();
    }
}

beforeAll(async () => {
    redis = await startRedis();
    expect(await bootstrapRedisUser(redis.adminUrl, USER, RULES)).toBe(true);
}, 60_000);
afterAll(async () => redis?.stop());

describe("Redis ACL dual passwords", () => {
    it("bootstrap creates the user once, enabled, with its rules and no password", async () => {
        expect(await bootstrapRedisUser(redis.adminUrl, USER, RULES)).toBe(false);
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
        const now = new Date("2026-11-25T12:00:00Z");
        const target = (stamp: string) => ({ stamp, stampKey: "rotation:stamp", rollbackKey: "r", holdKey: "h" });
        let state: GroupState = transitionGroup("redis", undefined, target("2026-08"), now).next;
        const pw: Record<string, string> = { a: password(), b: password() };
        await applyRedisSlots(redis.adminUrl, USER, [pw.a, pw.b]);
        const held = [pw.a];
        for (const stamp of ["2026-09", "2026-10", "2026-11"]) {
            const t = transitionGroup("redis", state, target(stamp), now);
            pw[t.regenerate[0]] = password();
            await applyRedisSlots(redis.adminUrl, USER, [pw.a, pw.b]);
            state = t.next;
            held.push(pw[state.active]);
            const n = held.length;
            expect(await canAuth(redis.adminUrl, USER, held[n - 1])).toBe(true);
            expect(await canAuth(redis.adminUrl, USER, held[n - 2])).toBe(true);
            if (n >= 3) expect(await canAuth(redis.adminUrl, USER, held[n - 3])).toBe(false);
        }
    });

    it("refuses a server without ACL support (ACL renamed away, as on Redis < 6) with a clear message", async () => {
        const old = await startRedis(['rename-command ACL ""']);
        try {
            const err = await applyRedisSlots(old.adminUrl, USER, [password(), password()]).then(() => undefined, (e: Error) => e);
            expect(err?.message).toBe(
                "this Redis server has no ACL support (Redis >= 6 required): a requirepass-only server holds one password, so a rotation could not keep the old one valid; refusing rather than overwriting it",
            );
        } finally {
            await old.stop();
        }
    });

    it.each([
        ["a missing ACL user", () => redis.adminUrl, "buywhere-other", /^Redis ACL user buywhere-other does not exist; run `secrets-rotation bootstrap --stack <stack>` first$/],
        ["a wrong admin password", () => redis.adminUrl.replace(/:[^:@/]+@/, ":wrong@"), USER, /^could not update Redis ACL user buywhere-api: WRONGPASS/],
        ["an unreachable server", () => "redis://default:x@127.0.0.1:9/0", USER, /^could not update Redis ACL user buywhere-api: connect ECONNREFUSED 127\.0\.0\.1:9$/],
    ])("fails clearly for %s, and no password is in the message", async (_, url, user, message) => {
        const pws: [string, string] = [password(), password()];
        const err = await applyRedisSlots(url(), user, pws).then(() => undefined, (e: Error) => e);
        expect(err?.message).toMatch(message);
        for (const p of pws) expect(`${err?.message}${err?.stack}`).not.toContain(p);
    });

    it("runs as the process the program runs: exit 0; 2 on missing input", async () => {
        const run = (env: Record<string, string>) => runHookProcess("redisApply", env);
        const [a, b] = [password(), password()];
        const ok = await run({ REDIS_USER: USER, REDIS_PASSWORD_A: a, REDIS_PASSWORD_B: b, ROTATION_REDIS_ADMIN_URL: redis.adminUrl });
        expect(ok.code).toBe(0);
        expect(ok.stderr).toBe(`[redis-apply] ${USER} now holds the two slots' passwords; both AUTH\n`);
        expect(await canAuth(redis.adminUrl, USER, b)).toBe(true);
        const bad = await run({ REDIS_USER: USER, REDIS_PASSWORD_A: a, ROTATION_REDIS_ADMIN_URL: redis.adminUrl });
        expect(bad.code).toBe(2);
        expect(bad.stderr).toBe("[redis-apply] error: environment variable REDIS_PASSWORD_B is required\n");
    });
});
