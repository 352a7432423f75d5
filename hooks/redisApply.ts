/**
 * Applies the redis group's two slots at their source: one Redis (>= 6) ACL user holds exactly the two slots'
 * passwords. A rotation regenerates one slot, so this sets {new, kept}: the new password is added and the stale one
 * (from two rotations ago) removed in one atomic `ACL SETUSER ... resetpass #<sha256> #<sha256>` — hashes, so the
 * plaintext never crosses the wire in an ACL command. Then it AUTHs as the user with both passwords.
 *
 * A requirepass-only server (Redis < 6, or ACL disabled) cannot hold two passwords, so no rotation of it can be
 * zero-downtime: the applier refuses with a clear message rather than fall back to overwriting.
 *
 * Inputs: `redisApplyContract` (hooks/contracts.ts), and the admin redis(s):// URL it names as `adminEnv`.
 */
import { createHash } from "node:crypto";
import Redis, { RedisOptions, ReplyError } from "ioredis";
import { REDIS_USER } from "../rotation/rules";
import { adminCredential, fromEnv, redisApplyContract } from "./contracts";
import { HookInputError, SourceError, firstErrorLine, runHook, stderrLogger } from "./hookRuntime";

const ADMIN_ENV = redisApplyContract.adminEnv;

/** No reconnect storms, no offline queue, no retries: one attempt, and its error reported as it is. */
const ONE_ATTEMPT: RedisOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 10_000,
    retryStrategy: () => null,
};

export const sha256Hex = (s: string) => createHash("sha256").update(s, "utf8").digest("hex");

/**
 * `url` as a WHATWG URL, if it is a lower-case `redis://` or `rediss://` URL. ioredis would also take a bare
 * `host:port`, and it turns TLS on only for a lower-case `rediss://` (ioredis built/Redis.js `parseOptions`;
 * https://redis.io/docs/latest/develop/clients/connection-urls/), so `REDISS://` would silently connect in plain text.
 */
function redisUrl(url: string): URL {
    if (!/^rediss?:\/\//.test(url)) throw new HookInputError(`${ADMIN_ENV} must be a redis:// or rediss:// URL`);
    try {
        return new URL(url);
    } catch {
        // The TypeError carries the input, password and all, in `input`: report none of it.
        throw new HookInputError(`${ADMIN_ENV} is not a valid redis:// or rediss:// URL`);
    }
}

/**
 * A client of the server at `url`, not yet connected. ioredis reads the URL itself — host, port, user, password
 * (percent-decoded), db, and TLS for `rediss://` (ioredis built/utils/index.js `parseURL`) — with the same WHATWG
 * parser `redisUrl` checked it with. What the URL says takes precedence over `options` (lodash `defaults`, URL first).
 */
export function redisClient(url: string, options: RedisOptions = {}): Redis {
    redisUrl(url);
    return new Redis(url, { ...ONE_ATTEMPT, ...options });
}

/** The options ioredis derives from `url` plus ours, for callers that build their own client (the load test). */
export function redisOptions(url: string): RedisOptions {
    return redisClient(url).options;
}

/** The server of `url`, with no user or password (ioredis then sends no AUTH on connect). */
function withoutCredentials(url: string): string {
    const u = redisUrl(url);
    u.username = "";
    u.password = "";
    return u.toString();
}

/** Connects `r` (AUTH happens on connect) and runs `fn`; always disconnects. */
async function withRedis<T>(r: Redis, fn: (r: Redis) => Promise<T>): Promise<T> {
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

/**
 * True when a Redis error reply has this prefix: the server starts every error with an upper-case word naming its
 * kind, for code to check instead of the description (https://redis.io/docs/latest/develop/reference/errors/).
 */
function isReply(err: unknown, prefix: string): boolean {
    return err instanceof ReplyError && (err as Error).message.startsWith(`${prefix} `);
}

/** True when `user` can AUTH with `password` (on a fresh connection, as a restarting pod would). */
export async function canAuth(adminUrl: string, user: string, password: string): Promise<boolean> {
    // Connect unauthenticated and AUTH explicitly: the app user may not run INFO, which ioredis's ready check needs.
    const r = redisClient(withoutCredentials(adminUrl), { enableReadyCheck: false });
    try {
        return await withRedis(r, async (c) => (await c.call("AUTH", user, password)) === "OK" && (await c.ping()) === "PONG");
    } catch (err) {
        // A wrong password and a disabled user both answer WRONGPASS (redis/redis src/acl.c, addAuthErrReply).
        if (isReply(err, "WRONGPASS")) return false;
        throw new Error(`could not reach Redis to test the login of ${user}: ${firstErrorLine(err)}`);
    }
}

/** The password hashes the ACL user holds, or undefined if there is no such user. */
async function passwordHashes(r: Redis, user: string): Promise<string[] | undefined> {
    let reply: unknown;
    try {
        reply = await r.call("ACL", "GETUSER", user);
    } catch (err) {
        // Without ACL support (Redis < 6, or the command renamed away) the server answers
        // "ERR unknown command 'ACL', ..." (redis/redis src/server.c, processCommand).
        if (isReply(err, "ERR") && /unknown command/i.test((err as Error).message)) {
            throw new SourceError(
                "this Redis server has no ACL support (Redis >= 6 required): a requirepass-only server holds one password, " +
                    "so a rotation could not keep the old one valid; refusing rather than overwriting it",
            );
        }
        throw new SourceError(`ACL GETUSER failed: ${firstErrorLine(err)}`);
    }
    // A nil reply for a user that does not exist; else a flat list of field names and values, `passwords` holding
    // the SHA-256 hex of each password (https://redis.io/docs/latest/commands/acl-getuser/).
    if (reply === null) return undefined;
    const fields = reply as unknown[];
    const i = fields.findIndex((f) => String(f) === "passwords");
    return i < 0 ? [] : (fields[i + 1] as unknown[]).map(String);
}

export interface RedisApplyResult {
    readonly changed: boolean;
}

function checkUser(user: string): void {
    if (!REDIS_USER.test(user)) throw new HookInputError(`${JSON.stringify(user)} is not a valid Redis ACL user name`);
}

/** Makes the ACL user hold exactly the two slots' passwords, then proves both AUTH. */
export async function applyRedisSlots(
    adminUrl: string,
    user: string,
    passwords: readonly [string, string],
    log: (m: string) => void = () => undefined,
): Promise<RedisApplyResult> {
    checkUser(user);
    const want = [...new Set(passwords.map(sha256Hex))].sort();
    let changed = false;
    try {
        await withRedis(redisClient(adminUrl), async (r) => {
            const have = await passwordHashes(r, user);
            if (have === undefined) {
                throw new SourceError(`Redis ACL user ${user} does not exist; run \`secrets-rotation bootstrap --stack <stack>\` first`);
            }
            if (JSON.stringify([...have].sort()) === JSON.stringify(want)) {
                log(`${user} already holds exactly this pair of passwords; nothing to change`);
                return;
            }
            // `resetpass` drops every password and `#<hash>` adds one by its SHA-256 hex, in one command, applied
            // left to right (https://redis.io/docs/latest/operate/oss_and_stack/management/security/acl/).
            await r.call("ACL", "SETUSER", user, "resetpass", ...want.map((h) => `#${h}`));
            changed = true;
            // ACL SAVE writes the users to the aclfile, and fails when none is configured
            // (https://redis.io/docs/latest/commands/acl-save/): persist across restarts only when one is.
            const aclFile = (await r.call("CONFIG", "GET", "aclfile").catch(() => ["aclfile", ""])) as string[];
            if (aclFile[1]) await r.call("ACL", "SAVE");
        });
    } catch (err) {
        if (err instanceof HookInputError || err instanceof SourceError) throw err;
        throw new Error(`could not update Redis ACL user ${user}: ${firstErrorLine(err)}`);
    }
    for (const [i, p] of passwords.entries()) {
        if (!(await canAuth(adminUrl, user, p))) {
            throw new SourceError(`${user} does not AUTH with slot ${i === 0 ? "a" : "b"}'s password after ACL SETUSER`);
        }
    }
    if (changed) log(`${user} now holds the two slots' passwords; both AUTH`);
    return { changed };
}

/** Creates the ACL user if it does not exist: enabled, with `rules` (key/command permissions), no password yet. */
export async function bootstrapRedisUser(adminUrl: string, user: string, rules: readonly string[]): Promise<boolean> {
    checkUser(user);
    return withRedis(redisClient(adminUrl), async (r) => {
        if ((await passwordHashes(r, user)) !== undefined) return false;
        await r.call("ACL", "SETUSER", user, "on", "resetpass", ...rules);
        return true;
    });
}

if (require.main === module) {
    runHook("redis-apply", async () => {
        const { user, passwordA, passwordB } = fromEnv(redisApplyContract, process.env);
        const adminUrl = adminCredential(redisApplyContract, process.env);
        await applyRedisSlots(adminUrl, user, [passwordA, passwordB], stderrLogger("redis-apply"));
    });
}
