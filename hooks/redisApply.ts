/**
 * Applies the redis group's two slots at their source: one Redis (>= 6) ACL user holds exactly the two slots'
 * passwords. A rotation regenerates one slot, so this sets {new, kept}: the new password is added and the stale one
 * (from two rotations ago) removed in one atomic `ACL SETUSER ... resetpass #<sha256> #<sha256>` — hashes, so the
 * ACL command carries no plaintext. Then it AUTHs as the user with both passwords, over the same link as the admin's:
 * TLS (`rediss://`) unless the server is this machine (`redisUrl`).
 *
 * Before any change it refuses a user a rotation must never manage (`refuseUnsafeUser`).
 *
 * A requirepass-only server (Redis < 6, or ACL disabled) cannot hold two passwords, so no rotation of it can be
 * zero-downtime: the applier refuses with a clear message rather than fall back to overwriting.
 *
 * Inputs: `redisApplyContract` (hooks/contracts.ts), the admin redis(s):// URL it names as `adminEnv`, and optionally
 * ROTATION_REDIS_CA_FILE (the CA bundle that issued the server's certificate).
 */
import "./isolateEnv"; // first: strips other hooks' credentials before any library loads
import { createHash } from "node:crypto";
import Redis, { RedisOptions, ReplyError } from "ioredis";
import { REDIS_USER } from "../rotation/rules";
import { adminCredentialOf } from "./adminSecret";
import { fromEnv, hookSecrets, redisApplyContract } from "./contracts";
import { GuardrailError, HookInputError, Log, SourceError, firstErrorLine, runHook } from "./hookRuntime";
import { isLoopbackHost, readCaBundle, tlsHint } from "./transport";

const ADMIN_ENV = redisApplyContract.adminEnv;

/** The CA bundle (PEM) that verifies the server's certificate; without it, Node's bundled public CAs do. */
export const REDIS_CA_ENV = "ROTATION_REDIS_CA_FILE";

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
 * `url` as a WHATWG URL, if the hook accepts it for a link that carries the admin's and the slots' passwords:
 * - a lower-case `redis://` or `rediss://` URL: ioredis would also take a bare `host:port`, and it turns TLS on only
 *   for a lower-case `rediss://` (ioredis built/Redis.js `parseOptions`;
 *   https://redis.io/docs/latest/develop/clients/connection-urls/), so `REDISS://` would silently connect in plain text;
 * - `rediss://` unless the host is loopback (`isLoopbackHost`): `AUTH` sends passwords as they are;
 * - no query: ioredis merges query parameters into its options (ioredis built/utils/index.js `parseURL`), so one
 *   could set `tls` or a socket `path` behind the URL's back.
 *
 * @throws HookInputError naming the variable (exit code 2), before any connection is attempted
 */
function redisUrl(url: string): URL {
    if (!/^rediss?:\/\//.test(url)) throw new HookInputError(`${ADMIN_ENV} must be a redis:// or rediss:// URL`);
    let u: URL;
    try {
        u = new URL(url);
    } catch {
        // The TypeError carries the input, password and all, in `input`: report none of it.
        throw new HookInputError(`${ADMIN_ENV} is not a valid redis:// or rediss:// URL`);
    }
    if (u.search !== "") throw new HookInputError(`${ADMIN_ENV} must not carry query parameters`);
    if (u.hostname === "") throw new HookInputError(`${ADMIN_ENV} must name a host`);
    if (u.protocol === "redis:" && !isLoopbackHost(u.hostname)) {
        throw new HookInputError(`${ADMIN_ENV} must be a rediss:// URL (TLS): its host is not loopback`);
    }
    return u;
}

/**
 * A client of the server at `url`, not yet connected. ioredis reads the URL itself — host, port, user, password
 * (percent-decoded), db, and TLS for `rediss://` (ioredis built/utils/index.js `parseURL`) — with the same WHATWG
 * parser `redisUrl` checked it with. What the URL says takes precedence over `options` (lodash `defaults`, URL first).
 * With TLS, the certificate is verified against ROTATION_REDIS_CA_FILE (else Node's bundled CAs) and the URL's host
 * (ioredis passes `host` to tls.connect, whose default `checkServerIdentity` checks it:
 * https://nodejs.org/api/tls.html#tlsconnectoptions-callback); `rejectUnauthorized: true` is explicit, so
 * NODE_TLS_REJECT_UNAUTHORIZED cannot turn that off.
 */
export function redisClient(url: string, options: RedisOptions = {}, env: NodeJS.ProcessEnv = process.env): Redis {
    const u = redisUrl(url);
    const tls = u.protocol === "rediss:" ? { tls: { rejectUnauthorized: true, ca: readCaBundle(REDIS_CA_ENV, env) } } : {};
    return new Redis(url, { ...ONE_ATTEMPT, ...options, ...tls });
}

/** The options ioredis derives from `url` plus ours, for callers that build their own client (the load test). */
export function redisOptions(url: string, env: NodeJS.ProcessEnv = process.env): RedisOptions {
    return redisClient(url, {}, env).options;
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

/** A Redis or TLS error in one line, with a hint for an unverified certificate. */
function redisErrorLine(err: unknown): string {
    return `${firstErrorLine(err)}${tlsHint(err, REDIS_CA_ENV)}`;
}

/**
 * True when a Redis error reply has this prefix: the server starts every error with an upper-case word naming its
 * kind, for code to check instead of the description (https://redis.io/docs/latest/develop/reference/errors/).
 */
function isReply(err: unknown, prefix: string): boolean {
    return err instanceof ReplyError && (err as Error).message.startsWith(`${prefix} `);
}

/** True when `user` can AUTH with `password` (on a fresh connection, as a restarting pod would; same TLS settings). */
export async function canAuth(adminUrl: string, user: string, password: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
    // Connect unauthenticated and AUTH explicitly: the app user may not run INFO, which ioredis's ready check needs.
    const r = redisClient(withoutCredentials(adminUrl), { enableReadyCheck: false }, env);
    try {
        return await withRedis(r, async (c) => (await c.call("AUTH", user, password)) === "OK" && (await c.ping()) === "PONG");
    } catch (err) {
        // A wrong password and a disabled user both answer WRONGPASS (redis/redis src/acl.c, addAuthErrReply).
        if (isReply(err, "WRONGPASS")) return false;
        throw new Error(`could not reach Redis to test the login of ${user}: ${redisErrorLine(err)}`);
    }
}

/** What `ACL GETUSER` says of a user (https://redis.io/docs/latest/commands/acl-getuser/). */
export interface AclUser {
    readonly flags: readonly string[];
    /** SHA-256 hex of each password. */
    readonly passwords: readonly string[];
    /** The root command rules, e.g. `+@all -@dangerous`. */
    readonly commands: string;
}

/** The ACL user, or undefined if there is no such user. */
async function getUser(r: Redis, user: string): Promise<AclUser | undefined> {
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
    // A nil reply for a user that does not exist; else a flat list of field names and values.
    if (reply === null) return undefined;
    const fields = reply as unknown[];
    const field = (name: string) => {
        const i = fields.findIndex((f) => String(f) === name);
        return i < 0 ? undefined : fields[i + 1];
    };
    const list = (v: unknown) => (Array.isArray(v) ? v.map(String) : []);
    return { flags: list(field("flags")), passwords: list(field("passwords")), commands: String(field("commands") ?? "") };
}

/**
 * Categories that hold at least one `@admin` command, measured on Redis 7.0.15 (`COMMAND LIST FILTERBY ACLCAT <c>`
 * intersected with `@admin`): every `@admin` command is also `@dangerous` and `@slow` or `@fast`; CLIENT KILL & co. are
 * `@connection`; PFDEBUG is `@write` and `@hyperloglog`.
 */
const ADMIN_BEARING_CATEGORIES = ["all", "admin", "dangerous", "slow", "fast", "connection", "write", "hyperloglog"];

/** The `@admin` commands of Redis 7.0.15 (`COMMAND LIST FILTERBY ACLCAT admin`), as rules name them. */
const ADMIN_COMMANDS = [
    "acl|deluser", "acl|dryrun", "acl|getuser", "acl|list", "acl|load", "acl|log", "acl|save", "acl|setuser", "acl|users",
    "bgrewriteaof", "bgsave", "client|kill", "client|list", "client|no-evict", "client|pause", "client|unblock", "client|unpause",
    "cluster", "config|get", "config|resetstat", "config|rewrite", "config|set", "debug", "failover", "lastsave", "latency",
    "module", "monitor", "pfdebug", "pfselftest", "psync", "replconf", "replicaof", "role", "save", "shutdown", "slaveof",
    "slowlog", "sync",
];

/**
 * For a server without `ACL DRYRUN` (Redis < 7): whether root command rules as `ACL GETUSER` prints them might let
 * the user run an `@admin` command, read left to right as Redis applies them. Conservative: `+@all`, `allcommands`,
 * a category that holds an `@admin` command, or an `@admin` command (or its container) turns it on; `-@all`,
 * `nocommands`, `-@admin` and `-@dangerous` (a superset of `@admin`) turn it off; removing single commands never does.
 */
export function rulesMayRunAdmin(commands: string): boolean {
    let may = false;
    for (const rule of commands.split(/\s+/).filter(Boolean).map((r) => r.toLowerCase())) {
        if (rule === "allcommands") may = true;
        else if (rule === "nocommands" || rule === "-@all" || rule === "-@admin" || rule === "-@dangerous") may = false;
        else if (rule.startsWith("+@")) may ||= ADMIN_BEARING_CATEGORIES.includes(rule.slice(2));
        else if (rule.startsWith("+")) {
            const command = rule.slice(1);
            may ||= ADMIN_COMMANDS.some((a) => a === command || a.startsWith(`${command}|`) || command.startsWith(`${a}|`));
        }
    }
    return may;
}

/**
 * The `@admin` commands `user` may run, asked of Redis itself: every command it lists in `@admin`
 * (`COMMAND LIST FILTERBY ACLCAT admin`, Redis >= 7.0: https://redis.io/docs/latest/commands/command-list/), each
 * tried with `ACL DRYRUN` (Redis >= 7.0: https://redis.io/docs/latest/commands/acl-dryrun/; it weighs selectors too),
 * with placeholder arguments up to the command's arity (`COMMAND INFO`). Undefined on a server that has neither.
 */
async function adminCommandsAllowed(r: Redis, user: string): Promise<string[] | undefined> {
    let names: string[];
    try {
        names = ((await r.call("COMMAND", "LIST", "FILTERBY", "ACLCAT", "admin")) as unknown[]).map(String);
    } catch {
        return undefined;
    }
    const info = (await r.call("COMMAND", "INFO", ...names)) as (unknown[] | null)[];
    const pipeline = r.pipeline();
    names.forEach((name, i) => {
        const argv = name.split("|");
        const arity = Math.abs(Number(info[i]?.[1] ?? 1));
        while (argv.length < arity) argv.push("x");
        pipeline.call("ACL", "DRYRUN", user, ...argv);
    });
    const results = (await pipeline.exec()) ?? [];
    if (results.some(([err]) => err && /unknown subcommand/i.test(err.message))) return undefined;
    // Allowed unless Redis says the command itself is not: an error, or a refusal of the placeholder key or
    // channel only, counts as allowed (fail closed).
    return names.filter((_, i) => {
        const [err, reply] = results[i] ?? [];
        return err !== null || !/no permissions to run/.test(String(reply));
    });
}

/**
 * Refuses (GuardrailError, before any change) an ACL user a rotation must never manage. The rule:
 * - not `default`: every new connection is authenticated as it, and it is usually the admin
 *   (https://redis.io/docs/latest/operate/oss_and_stack/management/security/acl/);
 * - not the user the admin URL logs in as (`ACL WHOAMI`): applying would replace the admin's passwords with
 *   application credentials;
 * - no `nopass` flag: any password authenticates as such a user (same page, "nopass");
 * - may run no `@admin` command (ACL and user management, CONFIG, MODULE, DEBUG, SHUTDOWN, REPLICAOF, MONITOR,
 *   CLIENT KILL…): asked of Redis with `ACL DRYRUN` for every `@admin` command (Redis >= 7), else read from its rules
 *   (`rulesMayRunAdmin`, Redis 6). `+@all` with `-@admin` (or the default rules, `+@all -@admin -@dangerous`) passes;
 *   keys and channels are not restricted by this rule.
 */
export async function refuseUnsafeUser(r: Redis, user: string, acl: AclUser): Promise<void> {
    refuseDefaultUser(user);
    if (String(await r.call("ACL", "WHOAMI")) === user) throw new GuardrailError(`refusing Redis ACL user ${user}: it is the user the admin URL logs in as`);
    if (acl.flags.includes("nopass")) throw new GuardrailError(`refusing Redis ACL user ${user}: it has nopass (any password authenticates as it)`);
    const allowed = await adminCommandsAllowed(r, user);
    if (allowed === undefined ? rulesMayRunAdmin(acl.commands) : allowed.length > 0) {
        const which = allowed && allowed.length > 0 ? ` (e.g. ${allowed.slice(0, 3).join(", ")})` : "";
        throw new GuardrailError(`refusing Redis ACL user ${user}: it may run @admin commands${which}; give it -@admin`);
    }
}

function refuseDefaultUser(user: string): void {
    if (user === "default") throw new GuardrailError("refusing Redis ACL user default: every connection starts as it, and it is usually the admin");
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
    log: Log = () => undefined,
    env: NodeJS.ProcessEnv = process.env,
): Promise<RedisApplyResult> {
    checkUser(user);
    refuseDefaultUser(user);
    const admin = redisClient(adminUrl, {}, env);
    const want = [...new Set(passwords.map(sha256Hex))].sort();
    let changed = false;
    try {
        await withRedis(admin, async (r) => {
            const acl = await getUser(r, user);
            if (acl === undefined) {
                throw new SourceError(`Redis ACL user ${user} does not exist; run \`secrets-rotation bootstrap --stack <stack>\` first`);
            }
            await refuseUnsafeUser(r, user, acl);
            if (JSON.stringify([...acl.passwords].sort()) === JSON.stringify(want)) {
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
        if (err instanceof HookInputError || err instanceof SourceError || err instanceof GuardrailError) throw err;
        throw new Error(`could not update Redis ACL user ${user}: ${redisErrorLine(err)}`);
    }
    for (const [i, p] of passwords.entries()) {
        if (!(await canAuth(adminUrl, user, p, env))) {
            throw new SourceError(`${user} does not AUTH with slot ${i === 0 ? "a" : "b"}'s password after ACL SETUSER`);
        }
    }
    if (changed) log(`${user} now holds the two slots' passwords; both AUTH`);
    return { changed };
}

/**
 * Creates the ACL user if it does not exist: enabled, with `rules` (key/command permissions), no password yet. A user
 * `refuseUnsafeUser` refuses is refused whether it existed or was just created with `rules` (then it is deleted
 * again, so nothing changed).
 */
export async function bootstrapRedisUser(adminUrl: string, user: string, rules: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
    checkUser(user);
    refuseDefaultUser(user);
    return withRedis(redisClient(adminUrl, {}, env), async (r) => {
        const existing = await getUser(r, user);
        if (existing !== undefined) {
            await refuseUnsafeUser(r, user, existing);
            return false;
        }
        await r.call("ACL", "SETUSER", user, "on", "resetpass", ...rules);
        try {
            await refuseUnsafeUser(r, user, (await getUser(r, user))!);
        } catch (err) {
            await r.call("ACL", "DELUSER", user);
            throw err;
        }
        return true;
    });
}

/** What `killRedisClients` did. */
export interface KillResult {
    readonly user: string;
    /** Connections that were authenticated as the user and have been closed. */
    readonly killed: number;
}

/**
 * Closes every connection authenticated as `user` (for `revoke`: a connection that authenticated with a password
 * since removed keeps working until it is closed). Redis cannot tell which of the user's passwords a connection used,
 * so this closes the connections of both slots: clients reconnect with the password they hold, and only the one
 * removed (`ACL SETUSER ... resetpass`, run first) fails.
 *
 * `CLIENT KILL USER <user>` closes "all the connections that are authenticated with the specified ACL username" and,
 * in this filter form, replies with the number of clients killed; it errs for a user that does not exist
 * (https://redis.io/docs/latest/commands/client-kill/). The USER filter came with ACLs in Redis 6.0 (it precedes
 * LADDR, added in 6.2: redis/redis src/commands/client-kill.json `history`); tested here on Redis 7.0.
 *
 * @throws GuardrailError for `default` and the admin's own user; SourceError for a user that does not exist
 */
export async function killRedisClients(adminUrl: string, user: string, env: NodeJS.ProcessEnv = process.env): Promise<KillResult> {
    checkUser(user);
    refuseDefaultUser(user);
    try {
        return await withRedis(redisClient(adminUrl, {}, env), async (r) => {
            if (String(await r.call("ACL", "WHOAMI")) === user) {
                throw new GuardrailError(`refusing to close the connections of Redis ACL user ${user}: it is the user the admin URL logs in as`);
            }
            try {
                return { user, killed: Number(await r.call("CLIENT", "KILL", "USER", user)) };
            } catch (err) {
                if (isReply(err, "ERR") && /no such user/i.test((err as Error).message)) throw new SourceError(`Redis ACL user ${user} does not exist`);
                throw err;
            }
        });
    } catch (err) {
        if (err instanceof HookInputError || err instanceof SourceError || err instanceof GuardrailError) throw err;
        throw new Error(`could not close the connections of Redis ACL user ${user}: ${redisErrorLine(err)}`);
    }
}

if (require.main === module) {
    runHook("redis-apply", hookSecrets(redisApplyContract, process.env), async (log) => {
        const input = fromEnv(redisApplyContract, process.env);
        const { user, passwordA, passwordB, endSessions } = input;
        // ROTATION_REDIS_ADMIN_URL, or the secret `rotation:adminSecrets.redis` names (hooks/adminSecret.ts).
        const adminUrl = await adminCredentialOf(redisApplyContract, input, "url", process.env);
        await applyRedisSlots(adminUrl, user, [passwordA, passwordB], log);
        if (endSessions) {
            // Redis cannot tell which of the user's passwords a connection used: every connection of the user is
            // closed, and clients reconnect with the password that is still valid.
            const { killed } = await killRedisClients(adminUrl, user);
            log(`closed ${killed} connection(s) of ${user}`);
        }
    });
}
