/**
 * The ElastiCache applier (hooks/elasticacheApply.ts) against a double of the ElastiCache query API
 * (test/support/elasticacheDouble.ts: ModifyUser/DescribeUsers with the documented rules) that applies the passwords
 * to a real redis-server speaking only TLS (test CA), so the AUTH proof runs against real Redis over TLS. Then the bad
 * inputs: a user id that does not exist, a user stuck in `modifying`, each stopping before anything changes with the
 * previous credential still valid, as a function and as the process the program runs.
 */
import { DescribeUsersCommand, ElastiCacheClient, ModifyUserCommand } from "@aws-sdk/client-elasticache";
import { readFileSync } from "node:fs";
import Redis from "ioredis";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { elasticacheApplyContract, fromEnv, toEnv } from "../hooks/contracts";
import { applyElastiCacheSlots, passwordProblem } from "../hooks/elasticacheApply";
import { HookInputError, SourceError } from "../hooks/hookRuntime";
import { REDIS_CA_ENV, canAuth } from "../hooks/redisApply";
import { ElastiCacheDouble, startElastiCacheDouble } from "./support/elasticacheDouble";
import { password } from "./support/fixtures";
import { runHookProcess } from "./support/hookProcess";
import { TestCa, TlsRedis, makeTestCa, startTlsRedis } from "./support/tlsServers";

const USER = "buywhere-api";
const USER_ID = "buywhere-api-staging";
const MODIFYING_MS = 400;

let ca: TestCa;
let redis: TlsRedis;
let double: ElastiCacheDouble;
let client: ElastiCacheClient;
const env = () => ({ [REDIS_CA_ENV]: ca.caFile });
const caPem = () => readFileSync(ca.caFile);
const endpoint = () => `rediss://localhost:${redis.port}`;
const auths = (p: string) => canAuth(endpoint(), USER, p, env());
const failure = (p: Promise<unknown>) => p.then(() => undefined, (e: Error) => e);

/** The user's passwords as the cache has them now (set directly, as a previous rotation left them). */
async function holds(...passwords: string[]): Promise<void> {
    const r = new Redis(redis.adminUrl, { tls: { ca: caPem() }, lazyConnect: true });
    await r.connect();
    try {
        await r.call("ACL", "SETUSER", USER, "on", "resetpass", ...passwords.map((p) => `>${p}`), "~*", "&*", "+@all", "-@admin", "-@dangerous");
    } finally {
        r.disconnect();
    }
}

const apply = (passwords: [string, string], extra: Partial<Parameters<typeof applyElastiCacheSlots>[0]> = {}) =>
    applyElastiCacheSlots({
        client,
        userId: USER_ID,
        user: USER,
        endpoint: endpoint(),
        passwords,
        modifyTimeoutMs: 10_000,
        pollMs: 50,
        env: env(),
        ...extra,
    });

beforeAll(async () => {
    ca = makeTestCa();
    redis = await startTlsRedis(ca);
}, 60_000);
afterAll(async () => {
    await redis?.stop();
    ca?.remove();
});
beforeEach(async () => {
    double = await startElastiCacheDouble({ redisAdminUrl: redis.adminUrl, redisOptions: { tls: { ca: caPem() } }, modifyingMs: MODIFYING_MS });
    double.addUser(USER_ID, USER);
    client = new ElastiCacheClient({ region: "ap-southeast-1", endpoint: double.endpoint, credentials: { accessKeyId: "testing", secretAccessKey: "testing" } });
});
afterEach(async () => {
    client.destroy();
    await double.stop();
});

describe("ElastiCache RBAC user: both slots' passwords through ModifyUser (double of the API, real Redis over TLS)", () => {
    it("a rotation: the kept slot AUTHs throughout, the new one once the user is active again; the stale one is gone", async () => {
        const [stale, kept, fresh] = [password(), password(), password()];
        await holds(stale, kept);
        const logs: string[] = [];
        const run = apply([kept, fresh], { log: (l) => logs.push(l) });
        // While the user is modifying: the kept slot still works, the new one not yet.
        await new Promise((r) => setTimeout(r, MODIFYING_MS / 2));
        expect(double.users.get(USER_ID)!.status).toBe("modifying");
        expect(await auths(kept)).toBe(true);
        expect(await auths(fresh)).toBe(false);
        expect(await run).toEqual({ changed: true });
        expect(await auths(kept)).toBe(true);
        expect(await auths(fresh)).toBe(true);
        expect(await auths(stale)).toBe(false);
        const modify = double.calls.filter((c) => c.action === "ModifyUser");
        expect(modify).toEqual([{ action: "ModifyUser", passwords: 2 }]);
        expect(double.calls.filter((c) => c.action === "DescribeUsers").length).toBeGreaterThanOrEqual(3); // before, while modifying, after
        expect(logs.join("\n")).not.toContain(fresh);
    });

    it("applying the same pair again changes nothing: no ModifyUser (both AUTH, and the user holds at most two)", async () => {
        const [a, b] = [password(), password()];
        await holds(a, b);
        expect(await apply([a, b])).toEqual({ changed: false });
        expect(double.calls.map((c) => c.action)).not.toContain("ModifyUser");
    });

    it("waits for a user another change left modifying, then modifies it", async () => {
        const [a, b, c] = [password(), password(), password()];
        await holds(a, b);
        double.busy(USER_ID, 300);
        expect(await apply([b, c])).toEqual({ changed: true });
        expect(await auths(c)).toBe(true);
    });

    it("retries InvalidUserState (a concurrent change between DescribeUsers and ModifyUser)", async () => {
        const [a, b, c] = [password(), password(), password()];
        await holds(a, b);
        double.raceNextModify(USER_ID, 200);
        expect(await apply([b, c])).toEqual({ changed: true });
        expect(double.calls.filter((x) => x.action === "ModifyUser")).toEqual([
            { action: "ModifyUser", error: "InvalidUserState" },
            { action: "ModifyUser", passwords: 2 },
        ]);
        expect(await auths(b)).toBe(true);
        expect(await auths(c)).toBe(true);
    });

    it("a user id that does not exist stops before any change; the previous passwords still AUTH", async () => {
        const [a, b, c] = [password(), password(), password()];
        await holds(a, b);
        const err = await failure(apply([b, c], { userId: "no-such-user" }));
        expect(err).toBeInstanceOf(SourceError);
        expect(err!.message).toBe("ElastiCache user no-such-user does not exist (UserNotFound); check `rotation:redis.userId`");
        expect(double.calls.map((x) => x.action)).toEqual(["DescribeUsers"]);
        expect(await auths(a)).toBe(true);
        expect(await auths(b)).toBe(true);
    });

    it("a user stuck in modifying past the timeout stops the run, naming it; nothing was sent and the passwords are unchanged", async () => {
        const [a, b, c] = [password(), password(), password()];
        await holds(a, b);
        double.busy(USER_ID, Infinity);
        const started = Date.now();
        const err = await failure(apply([b, c], { modifyTimeoutMs: 500, pollMs: 100 }));
        expect(Date.now() - started).toBeLessThan(2_000);
        expect(err).toBeInstanceOf(SourceError);
        expect(err!.message).toMatch(/^ElastiCache user buywhere-api-staging is still modifying at the end of its bound \(rotation:redis\.modifyTimeoutSeconds\); nothing was published$/);
        expect(double.calls.map((x) => x.action)).not.toContain("ModifyUser");
        expect(await auths(a)).toBe(true);
        expect(await auths(b)).toBe(true);
    });

    it("ModifyUser accepted but the user never becomes active in time: the run fails; the kept slot still AUTHs", async () => {
        const [a, b, c] = [password(), password(), password()];
        await holds(a, b);
        await double.stop();
        double = await startElastiCacheDouble({ redisAdminUrl: redis.adminUrl, redisOptions: { tls: { ca: caPem() } }, modifyingMs: Infinity });
        double.addUser(USER_ID, USER);
        client.destroy();
        client = new ElastiCacheClient({ region: "ap-southeast-1", endpoint: double.endpoint, credentials: { accessKeyId: "testing", secretAccessKey: "testing" } });
        const err = await failure(apply([b, c], { modifyTimeoutMs: 400, pollMs: 100 }));
        expect(err).toBeInstanceOf(SourceError);
        expect(err!.message).toContain("is still modifying");
        expect(await auths(b)).toBe(true);
    });

    it("refuses passwords ElastiCache would refuse, before any call", async () => {
        expect(passwordProblem("a".repeat(15))).toBe("must be 16 to 128 characters long");
        expect(passwordProblem("a".repeat(129))).toBe("must be 16 to 128 characters long");
        expect(passwordProblem(`${"a".repeat(20)}@x`)).toBe('must not contain @, " or /');
        expect(passwordProblem(`${"a".repeat(20)} x`)).toBe("must be printable ASCII without spaces");
        expect(passwordProblem(password())).toBeUndefined();
        const err = await failure(apply([password(), "short"]));
        expect(err).toBeInstanceOf(HookInputError);
        expect(err!.message).toBe("slot b's password must be 16 to 128 characters long (ElastiCache's password rules)");
        expect(double.calls).toEqual([]);
    });
});

describe("the double enforces the documented rules (so the applier cannot pass against a lax fake)", () => {
    const modify = (passwords: string[]) =>
        failure(client.send(new ModifyUserCommand({ UserId: USER_ID, AuthenticationMode: { Type: "password", Passwords: passwords } })));

    it.each([
        ["three passwords", [password(), password(), password()], "You are allowed up to two passwords."],
        ["15 characters", ["a".repeat(15)], "Passwords length must be between 16-128 characters."],
        ["an @", [`${"a".repeat(20)}@`], 'Passwords must be printable characters and must not contain @, " or /.'],
        ["no password", [], "At least one password is required with AuthenticationMode password."],
    ])("ModifyUser with %s is InvalidParameterValue", async (_what, passwords, message) => {
        const err = await modify(passwords);
        expect(err?.name).toBe("InvalidParameterValueException");
        expect(err?.message).toBe(message);
    });

    it("an unknown user is UserNotFoundFault; a modifying user is InvalidUserStateFault, then active again", async () => {
        expect((await failure(client.send(new DescribeUsersCommand({ UserId: "nobody" }))))?.name).toBe("UserNotFoundFault");
        double.busy(USER_ID, 200);
        const err = await modify([password(), password()]);
        expect(err?.name).toBe("InvalidUserStateFault");
        expect(err?.message).toBe(`User ${USER_ID} has status modifying. Only active users can be modified.`);
        await new Promise((r) => setTimeout(r, 300));
        const user = (await client.send(new DescribeUsersCommand({ UserId: USER_ID }))).Users![0];
        expect(user).toMatchObject({ UserId: USER_ID, UserName: USER, Status: "active", Authentication: { Type: "password", PasswordCount: 2 } });
        expect(user.ARN).toBe(`arn:aws:elasticache:ap-southeast-1:111122223333:user:${USER_ID}`);
    });
});

describe("as the process the program runs (inputs in the environment, the SDK pointed at the double by AWS_ENDPOINT_URL_ELASTICACHE)", () => {
    const hookEnv = (passwords: [string, string], userId = USER_ID, extra: Record<string, string> = {}) => ({
        ...double.env,
        [REDIS_CA_ENV]: ca.caFile,
        ...toEnv(elasticacheApplyContract, {
            region: "ap-southeast-1",
            userId,
            user: USER,
            endpoint: endpoint(),
            passwordA: passwords[0],
            passwordB: passwords[1],
            modifyTimeoutSeconds: 1,
            pollSeconds: 0.1,
        }),
        ...extra,
    });

    it("applies, exits 0, and prints no password", async () => {
        const [a, b, c] = [password(), password(), password()];
        await holds(a, b);
        const run = await runHookProcess("elasticacheApply", hookEnv([c, b]));
        expect(run.stderr).not.toMatch(new RegExp(`${a}|${b}|${c}`));
        expect(run.code).toBe(0);
        expect(await auths(b)).toBe(true);
        expect(await auths(c)).toBe(true);
        expect(await auths(a)).toBe(false);
    });

    it("an unknown user id: exit 1, one line naming it, nothing changed", async () => {
        const [a, b, c] = [password(), password(), password()];
        await holds(a, b);
        const run = await runHookProcess("elasticacheApply", hookEnv([b, c], "ghost-user"));
        expect(run.code).toBe(1);
        expect(run.stderr.trim().split("\n").filter((l) => l.includes("error:"))).toEqual([
            "[elasticache-apply] error: ElastiCache user ghost-user does not exist (UserNotFound); check `rotation:redis.userId`",
        ]);
        expect(await auths(a)).toBe(true);
        expect(await auths(b)).toBe(true);
    });

    it("stuck in modifying: exit 1 after the bound, one line naming the user, nothing changed", async () => {
        const [a, b, c] = [password(), password(), password()];
        await holds(a, b);
        double.busy(USER_ID, Infinity);
        const run = await runHookProcess("elasticacheApply", hookEnv([b, c]));
        expect(run.code).toBe(1);
        expect(run.stderr).toContain("error: ElastiCache user buywhere-api-staging is still modifying at the end of its bound");
        expect(double.calls.map((x) => x.action)).not.toContain("ModifyUser");
        expect(await auths(a)).toBe(true);
    });

    it("a bad input exits 2 before any call", async () => {
        const run = await runHookProcess("elasticacheApply", { ...hookEnv([password(), password()]), ELASTICACHE_USER_ID: "9-not-an-id" });
        expect(run.code).toBe(2);
        expect(run.stderr).toContain("ELASTICACHE_USER_ID");
        expect(double.calls).toEqual([]);
        expect(() => fromEnv(elasticacheApplyContract, { ...hookEnv([password(), password()]), ELASTICACHE_POLL_SECONDS: "5", ELASTICACHE_MODIFY_TIMEOUT_SECONDS: "5" })).toThrow(
            "ELASTICACHE_POLL_SECONDS must be less than ELASTICACHE_MODIFY_TIMEOUT_SECONDS",
        );
    });
});
