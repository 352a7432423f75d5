/**
 * Applies the redis group's two slots at their source: one Redis (>= 6) ACL user holds exactly the two slots'
 * passwords. A rotation regenerates one slot, so this sets {new, kept}: the new password is added and the stale one
 * (from two rotations ago) removed in one atomic `ACL SETUSER ... resetpass #<sha256> #<sha256>` — hashes, so the
 * plaintext never crosses the wire in an ACL command. Then it AUTHs as the user with both passwords.
 *
 * A requirepass-only server (Redis < 6, or ACL disabled) cannot hold two passwords, so no rotation of it can be
 * zero-downtime: the applier refuses with a clear message rather than fall back to overwriting.
 *
 * Environment: REDIS_USER, REDIS_PASSWORD_A, REDIS_PASSWORD_B (the slots', from the program); ROTATION_REDIS_ADMIN_URL
 * (redis:// or rediss:// URL of a user allowed to run ACL, inherited from the environment `pulumi up` runs in).
 */
import { createHash } from "node:crypto";
import Redis, { RedisOptions } from "ioredis";
import { HookInputError, requireEnv, runHook, stderrLogger } from "./hookRuntime";

const USER = /^[A-Za-z0-9_.-]{1,128}$/;

export const sha256Hex = (s: string) => createHash("sha256").update(s, "utf8").digest("hex");

/** ioredis options from a redis(s):// URL, without reconnect storms or offline queues. */
export function redisOptions(url: string, overrides: { username?: string; password?: string } = {}): RedisOptions {
    let u: URL;
    try {
        u = new URL(url);
    } catch {
        throw new HookInputError("ROTATION_REDIS_ADMIN_URL is not a valid redis:// URL");
    }
    if (u.protocol !== "redis:" && u.protocol !== "rediss:") {
        throw new HookInputError("ROTATION_REDIS_ADMIN_URL must be a redis:// or rediss:// URL");
    }
    return {
        host: u.hostname,
        port: Number(u.port || 6379),
        username: overrides.username ?? (decodeURIComponent(u.username) || undefined),
        password: overrides.password ?? (decodeURIComponent(u.password) || undefined),
        db: Number(u.pathname.slice(1) || 0),
        tls: u.protocol === "rediss:" ? {} : undefined,
        lazyConnect: true,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        connectTimeout: 10_000,
        retryStrategy: () => null,
    };
}

function describe(err: unknown): string {
    return ((err as Error).message ?? String(err)).split("\n")[0];
}

/** Opens a connection (AUTH happens on connect) and runs `fn`; always disconnects. */
async function withRedis<T>(options: RedisOptions, fn: (r: Redis) => Promise<T>): Promise<T> {
    const r = new Redis(options);
    // ioredis reports why a connection failed (refused, WRONGPASS) as an event and rejects connect() with a generic
    // "Connection is closed."; keep the event's error to report the real reason.
    let cause: Error | undefined;
    r.on("error", (err: Error) => (cause ??= err));
    try {
        try {
            await r.connect();
        } catch (err) {
            throw cause ?? err;
        }
        return await fn(r);
    } finally {
        r.disconnect();
    }
}

/** True when `user` can AUTH with `password` (on a fresh connection, as a restarting pod would). */
export async function canAuth(adminUrl: string, user: string, password: string): Promise<boolean> {
    // Connect unauthenticated and AUTH explicitly: the app user may not run INFO, which ioredis's ready check needs.
    const options = { ...redisOptions(adminUrl), username: undefined, password: undefined, enableReadyCheck: false };
    try {
        return await withRedis(options, async (r) => (await r.call("AUTH", user, password)) === "OK" && (await r.ping()) === "PONG");
    } catch (err) {
        if (/WRONGPASS|NOAUTH|invalid username-password/i.test(describe(err))) return false;
        throw new Error(`could not reach Redis to test the login of ${user}: ${describe(err)}`);
    }
}

/** The password hashes the ACL user holds, or undefined if there is no such user. */
async function passwordHashes(r: Redis, user: string): Promise<string[] | undefined> {
    let reply: unknown;
    try {
        reply = await r.call("ACL", "GETUSER", user);
    } catch (err) {
        if (/unknown command/i.test(describe(err))) {
            throw new Error(
                "this Redis server has no ACL support (Redis >= 6 required): a requirepass-only server holds one password, " +
                    "so a rotation could not keep the old one valid; refusing rather than overwriting it",
            );
        }
        throw new Error(`ACL GETUSER failed: ${describe(err)}`);
    }
    if (reply === null) return undefined;
    const fields = reply as unknown[];
    const i = fields.findIndex((f) => String(f) === "passwords");
    return i < 0 ? [] : (fields[i + 1] as unknown[]).map(String);
}

export interface RedisApplyResult {
    readonly changed: boolean;
}

/** Makes the ACL user hold exactly the two slots' passwords, then proves both AUTH. */
export async function applyRedisSlots(
    adminUrl: string,
    user: string,
    passwords: readonly [string, string],
    log: (m: string) => void = () => undefined,
): Promise<RedisApplyResult> {
    if (!USER.test(user)) throw new HookInputError(`${JSON.stringify(user)} is not a valid Redis ACL user name`);
    const want = [...new Set(passwords.map(sha256Hex))].sort();
    let changed = false;
    try {
        await withRedis(redisOptions(adminUrl), async (r) => {
            const have = await passwordHashes(r, user);
            if (have === undefined) {
                throw new Error(`Redis ACL user ${user} does not exist; run \`secrets-rotation bootstrap --stack <stack>\` first`);
            }
            if (JSON.stringify([...have].sort()) === JSON.stringify(want)) {
                log(`${user} already holds exactly this pair of passwords; nothing to change`);
                return;
            }
            await r.call("ACL", "SETUSER", user, "resetpass", ...want.map((h) => `#${h}`));
            changed = true;
            const aclFile = (await r.call("CONFIG", "GET", "aclfile").catch(() => ["aclfile", ""])) as string[];
            if (aclFile[1]) await r.call("ACL", "SAVE"); // persist across restarts when ACLs live in a file
        });
    } catch (err) {
        if (err instanceof HookInputError || /^(Redis ACL user|this Redis server|ACL GETUSER)/.test((err as Error).message)) throw err;
        throw new Error(`could not update Redis ACL user ${user}: ${describe(err)}`);
    }
    for (const [i, p] of passwords.entries()) {
        if (!(await canAuth(adminUrl, user, p))) {
            throw new Error(`${user} does not AUTH with slot ${i === 0 ? "a" : "b"}'s password after ACL SETUSER`);
        }
    }
    if (changed) log(`${user} now holds the two slots' passwords; both AUTH`);
    return { changed };
}

/** Creates the ACL user if it does not exist: enabled, with `rules` (key/command permissions), no password yet. */
export async function bootstrapRedisUser(adminUrl: string, user: string, rules: readonly string[]): Promise<boolean> {
    if (!USER.test(user)) throw new HookInputError(`${JSON.stringify(user)} is not a valid Redis ACL user name`);
    return withRedis(redisOptions(adminUrl), async (r) => {
        if ((await passwordHashes(r, user)) !== undefined) return false;
        await r.call("ACL", "SETUSER", user, "on", "resetpass", ...rules);
        return true;
    });
}

if (require.main === module) {
    runHook("redis-apply", async () => {
        const user = requireEnv(process.env, "REDIS_USER");
        const a = requireEnv(process.env, "REDIS_PASSWORD_A");
        const b = requireEnv(process.env, "REDIS_PASSWORD_B");
        const adminUrl = requireEnv(process.env, "ROTATION_REDIS_ADMIN_URL");
        await applyRedisSlots(adminUrl, user, [a, b], stderrLogger("redis-apply"));
    });
}
