/**
 * Applies the redis group's two slots to an ElastiCache (Redis OSS / Valkey) RBAC user: the user holds exactly the two
 * slots' passwords, then both AUTH over TLS. ElastiCache forbids `ACL SETUSER` for passwords ("You can't specify
 * passwords in an access string. You set passwords with CreateUser or ModifyUser calls.",
 * https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/Clusters.RBAC.html), so this calls the API:
 *
 * 1. DescribeUsers until the user is `active` ("Can be "active", "modifying" or "deleting"",
 *    https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_User.html): a concurrent change leaves it
 *    `modifying`, and a user that does not exist fails here (UserNotFound), before any change.
 * 2. Idempotence: ElastiCache never returns passwords, only `Authentication.PasswordCount`, so "already holds this
 *    pair" is asked of Redis: the user has at most two passwords, so two that both AUTH are exactly its passwords.
 * 3. ModifyUser with `AuthenticationMode {Type: password, Passwords: [a, b]}`, which replaces the user's passwords
 *    ("You are allowed up to two", https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_ModifyUser.html).
 *    The slot kept from the last rotation is one of the two, so clients holding it keep working throughout.
 *    InvalidUserState ("User ... has status modifying. Only active users can be modified.",
 *    hashicorp/terraform-provider-aws#49726) is retried after waiting for `active` again, as the provider's fix
 *    (PR #49976) does.
 * 4. DescribeUsers until `active` again: AWS's own rotation function takes `active` to mean "the password was
 *    propagated to all associated instances" (aws-samples/aws-secrets-manager-rotation-lambdas,
 *    SecretsManagerElasticacheUserRotation/lambda_function.py), and checks `PasswordCount` is 2.
 * 5. AUTH as the user name with each password over TLS (hooks/redisApply.ts `canAuth`: certificate verified against
 *    ROTATION_REDIS_CA_FILE or Node's CAs), before anything is published.
 *
 * Every wait shares one deadline (`ELASTICACHE_MODIFY_TIMEOUT_SECONDS`); a user still `modifying` at the deadline fails
 * the run with the user's id and status. The client uses the run's AWS credentials (no admin credential) and the
 * region of the stack; its endpoint is the SDK's (`AWS_ENDPOINT_URL_ELASTICACHE`, which the program refuses outside
 * the `local` stack unless ROTATION_ALLOW_AWS_ENDPOINT names it: rotation/settings.ts), which is how the tests point
 * it at a double of the API.
 *
 * MemoryDB is not covered: it has its own API (UpdateUser by user name, @aws-sdk/client-memorydb) and permissions.
 */
import "./isolateEnv"; // first: strips every admin credential before any library loads
import { DescribeUsersCommand, ElastiCacheClient, ModifyUserCommand, User } from "@aws-sdk/client-elasticache";
import { elasticacheApplyContract, fromEnv, hookSecrets } from "./contracts";
import { HookInputError, Log, SourceError, firstErrorLine, runHook, sleep } from "./hookRuntime";
import { canAuth } from "./redisApply";
import { elasticacheOpenSessionsWarning } from "../rotation/elasticacheSessions";

/**
 * ElastiCache's documented password rules: "at least 16 and a maximum of 128 printable characters", and "The printable
 * characters @, ", and / cannot be used" (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/auth.html, AUTH
 * token constraints; the research notes, ../shared/research/managed-platforms.md section 2, give RBAC passwords the
 * same 16-128 printable characters). Checked before any call, so a bad password never reaches the API.
 */
export function passwordProblem(password: string): string | undefined {
    if (password.length < 16 || password.length > 128) return "must be 16 to 128 characters long";
    if (!/^[\x21-\x7e]+$/.test(password)) return "must be printable ASCII without spaces";
    if (/[@"/]/.test(password)) return 'must not contain @, " or /';
    return undefined;
}

export interface ElastiCacheApplyOptions {
    readonly client: ElastiCacheClient;
    readonly userId: string;
    /** The user name clients AUTH with. */
    readonly user: string;
    /** `rediss://<host>:<port>` (plain only for loopback: `canAuth` refuses otherwise). */
    readonly endpoint: string;
    readonly passwords: readonly [string, string];
    readonly modifyTimeoutMs: number;
    readonly pollMs: number;
    readonly log?: Log;
    readonly env?: NodeJS.ProcessEnv;
}

export interface ElastiCacheApplyResult {
    readonly changed: boolean;
}

const errorName = (err: unknown) => (err as Error | undefined)?.name ?? "";

/** The user, as DescribeUsers reports it. UserNotFound (HTTP 404, SDK `UserNotFoundFault`) is a SourceError. */
async function describe(client: ElastiCacheClient, userId: string): Promise<User> {
    try {
        const user = (await client.send(new DescribeUsersCommand({ UserId: userId }))).Users?.[0];
        if (user === undefined) throw new SourceError(`ElastiCache user ${userId} does not exist (DescribeUsers returned no user)`);
        return user;
    } catch (err) {
        if (err instanceof SourceError) throw err;
        if (errorName(err) === "UserNotFoundFault") throw new SourceError(`ElastiCache user ${userId} does not exist (UserNotFound); check \`rotation:redis.userId\``);
        throw new Error(`DescribeUsers for ElastiCache user ${userId} failed: ${firstErrorLine(err)}`);
    }
}

/** Polls until the user is `active`; a user still in another status at `deadline` fails the run. */
async function waitActive(client: ElastiCacheClient, userId: string, deadline: number, pollMs: number, log: Log): Promise<User> {
    for (let logged = ""; ; ) {
        const user = await describe(client, userId);
        if (user.Status === "active") return user;
        if (user.Status !== logged) log(`ElastiCache user ${userId} is ${user.Status}; waiting for active`);
        logged = user.Status ?? "";
        if (Date.now() + pollMs > deadline) {
            throw new SourceError(`ElastiCache user ${userId} is still ${user.Status} at the end of its bound (rotation:redis.modifyTimeoutSeconds); nothing was published`);
        }
        await sleep(pollMs);
    }
}

/** Makes the RBAC user hold exactly the two slots' passwords, waits until it is active, then proves both AUTH. */
export async function applyElastiCacheSlots(o: ElastiCacheApplyOptions): Promise<ElastiCacheApplyResult> {
    const log = o.log ?? (() => undefined);
    const env = o.env ?? process.env;
    o.passwords.forEach((p, i) => {
        const problem = passwordProblem(p);
        if (problem) throw new HookInputError(`slot ${i === 0 ? "a" : "b"}'s password ${problem} (ElastiCache's password rules)`);
    });
    if (o.passwords[0] === o.passwords[1]) throw new HookInputError("the two slots' passwords are the same");
    const deadline = Date.now() + o.modifyTimeoutMs;
    await waitActive(o.client, o.userId, deadline, o.pollMs, log);
    const both = async () => (await Promise.all(o.passwords.map((p) => canAuth(o.endpoint, o.user, p, env)))).every(Boolean);
    if (await both()) {
        log(`${o.user} already AUTHs with both slots' passwords (it holds at most two); nothing to change`);
        return { changed: false };
    }
    for (;;) {
        try {
            await o.client.send(
                new ModifyUserCommand({ UserId: o.userId, AuthenticationMode: { Type: "password", Passwords: [...o.passwords] } }),
            );
            break;
        } catch (err) {
            if (errorName(err) === "UserNotFoundFault") throw new SourceError(`ElastiCache user ${o.userId} does not exist (UserNotFound); check \`rotation:redis.userId\``);
            if (errorName(err) !== "InvalidUserStateFault") throw new Error(`ModifyUser for ElastiCache user ${o.userId} failed: ${firstErrorLine(err)}`);
            log(`ElastiCache user ${o.userId} is not active (InvalidUserState); waiting to retry ModifyUser`);
            await waitActive(o.client, o.userId, deadline, o.pollMs, log);
        }
    }
    log(`ModifyUser sent for ${o.userId}; waiting until the user is active on every node`);
    const user = await waitActive(o.client, o.userId, deadline, o.pollMs, log);
    if (user.Authentication?.Type !== "password" || user.Authentication.PasswordCount !== 2) {
        throw new SourceError(
            `ElastiCache user ${o.userId} reports authentication ${user.Authentication?.Type ?? "?"} with ${user.Authentication?.PasswordCount ?? "?"} password(s) after ModifyUser; expected password with 2`,
        );
    }
    for (const [i, p] of o.passwords.entries()) {
        if (!(await canAuth(o.endpoint, o.user, p, env))) {
            throw new SourceError(`${o.user} does not AUTH with slot ${i === 0 ? "a" : "b"}'s password after ModifyUser (is user ${o.userId} in the cache's user group?)`);
        }
    }
    log(`${o.user} (${o.userId}) now holds the two slots' passwords; both AUTH`);
    return { changed: true };
}

if (require.main === module) {
    runHook("elasticache-apply", hookSecrets(elasticacheApplyContract, process.env), async (log) => {
        const input = fromEnv(elasticacheApplyContract, process.env);
        const client = new ElastiCacheClient({ region: input.region });
        try {
            await applyElastiCacheSlots({
                client,
                userId: input.userId,
                user: input.user,
                endpoint: input.endpoint,
                passwords: [input.passwordA, input.passwordB],
                modifyTimeoutMs: input.modifyTimeoutSeconds * 1000,
                pollMs: input.pollSeconds * 1000,
                log,
            });
        } finally {
            client.destroy();
        }
        if (input.endSessions) {
            // No Redis login here to CLIENT KILL with (rotation/elasticacheSessions.ts: what the docs say, what to run).
            log(`warning: ${elasticacheOpenSessionsWarning(input.user)}`);
        }
    });
}
