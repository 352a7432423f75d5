/**
 * `bootstrap` on the ElastiCache Redis kind (automation/elasticacheBootstrap.ts) against the double of the ElastiCache
 * query API (test/support/elasticacheDouble.ts: CreateUser, DescribeUserGroups, ModifyUserGroup with the documented
 * rules), whose user group's members are created on a real redis-server. As a process (`secrets-rotation bootstrap
 * --stack staging`, real PostgreSQL too) it needs no ROTATION_REDIS_ADMIN_URL and runs no ACL SETUSER; then the
 * rotation's ElastiCache applier gives the created user the two slots' passwords and both AUTH with the stack file's
 * rules (no @admin). Then the bad inputs, each changing nothing.
 */
import { CreateUserCommand, ElastiCacheClient, ModifyUserGroupCommand } from "@aws-sdk/client-elasticache";
import Redis from "ioredis";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { bootstrapElastiCacheUser } from "../automation/elasticacheBootstrap";
import { applyElastiCacheSlots } from "../hooks/elasticacheApply";
import { HookInputError } from "../hooks/hookRuntime";
import { canAuth } from "../hooks/redisApply";
import { sandbox } from "./support/cli";
import { ElastiCacheDouble, startElastiCacheDouble } from "./support/elasticacheDouble";
import { password } from "./support/fixtures";
import { useServers } from "./support/servers";

const servers = useServers();
const USER = "buywhere-api";
const USER_ID = "buywhere-api-staging"; // Pulumi.staging.yaml
const GROUP = "buywhere-staging"; // Pulumi.staging.yaml
const RULES = ["~*", "&*", "+@all", "-@admin", "-@dangerous"];

let double: ElastiCacheDouble;
let client: ElastiCacheClient;
const endpoint = () => {
    const u = new URL(servers.redis.adminUrl);
    return `redis://${u.hostname}:${u.port}`;
};
const failure = (p: Promise<unknown>) => p.then(() => undefined, (e: Error) => e);
const actions = () => double.calls.map((c) => c.action + (c.error ? `:${c.error}` : ""));

async function start(groupModifyingMs: number): Promise<void> {
    double = await startElastiCacheDouble({ redisAdminUrl: servers.redis.adminUrl, modifyingMs: 200, groupModifyingMs });
    double.addUserGroup(GROUP);
    client = new ElastiCacheClient({ region: "ap-southeast-1", endpoint: double.endpoint, credentials: { accessKeyId: "testing", secretAccessKey: "testing" } });
}

const bootstrap = (extra: Partial<Parameters<typeof bootstrapElastiCacheUser>[0]> = {}) =>
    bootstrapElastiCacheUser({ client, region: "ap-southeast-1", userId: USER_ID, userName: USER, userGroupId: GROUP, aclRules: RULES, timeoutMs: 5_000, pollMs: 50, log: () => undefined, ...extra });

/** Removes the test's user from the shared Redis, so each test starts without it. */
async function dropRedisUser(): Promise<void> {
    const r = new Redis(servers.redis.adminUrl, { lazyConnect: true });
    await r.connect();
    try {
        await r.call("ACL", "DELUSER", USER);
    } finally {
        r.disconnect();
    }
}

afterEach(async () => {
    client?.destroy();
    await double?.stop();
    await dropRedisUser();
});

describe("bootstrap --stack staging (kind elasticache) as a process, against the double of the ElastiCache API", () => {
    beforeEach(() => start(0));

    it("creates the RBAC user (CreateUser) and adds it to the user group (ModifyUserGroup) without a Redis admin URL; idempotent; then the applier's two passwords AUTH", async () => {
        const s = sandbox();
        const env = { ROTATION_PG_ADMIN_URL: servers.pg.adminUrl, ...double.env };
        const first = await s.run(["bootstrap", "--stack", "staging", "--json"], env);
        expect(first.stderr).not.toContain("error");
        expect(first.code).toBe(0);
        expect(JSON.parse(first.stdout).redis).toEqual({ kind: "elasticache", userId: USER_ID, user: USER, userGroupId: GROUP, created: true, addedToGroup: true });
        expect(actions()).toEqual(["DescribeUserGroups", "DescribeUsers:UserNotFound", "DescribeUserGroups", "DescribeUsers:UserNotFound", "CreateUser", "DescribeUsers", "DescribeUserGroups", "ModifyUserGroup", "DescribeUserGroups"]);
        expect(double.users.get(USER_ID)).toMatchObject({ userName: USER, accessString: "on ~* &* +@all -@admin -@dangerous", status: "active", passwordCount: 1, userGroupIds: [GROUP] });
        expect(double.groups.get(GROUP)!.userIds).toEqual(["default", USER_ID]);
        // The throwaway password is never shown: no 64-hex-character string in the output.
        expect(first.stdout + first.stderr).not.toMatch(/[0-9a-f]{64}/);

        const again = await s.run(["bootstrap", "--stack", "staging", "--json"], env);
        expect(again.code).toBe(0);
        expect(JSON.parse(again.stdout).redis).toMatchObject({ created: false, addedToGroup: false });
        expect(actions().filter((a) => a === "CreateUser" || a === "ModifyUserGroup")).toEqual(["CreateUser", "ModifyUserGroup"]);

        // Nobody can AUTH as the user yet; the rotation's applier gives it the two slots' passwords.
        const [a, b] = [password(), password()];
        expect(await canAuth(endpoint(), USER, a)).toBe(false);
        await applyElastiCacheSlots({ client, userId: USER_ID, user: USER, endpoint: endpoint(), passwords: [a, b], modifyTimeoutMs: 5_000, pollMs: 50 });
        expect(await canAuth(endpoint(), USER, a)).toBe(true);
        expect(await canAuth(endpoint(), USER, b)).toBe(true);
        // With the stack file's rules: data commands yes, @admin no.
        const app = new Redis(`redis://${encodeURIComponent(USER)}:${b}@${new URL(endpoint()).host}`, { lazyConnect: true, maxRetriesPerRequest: 0 });
        await app.connect();
        try {
            expect(await app.set("bootstrap-probe", "1")).toBe("OK");
            await expect(app.call("CONFIG", "GET", "maxmemory")).rejects.toThrow(/NOPERM/);
        } finally {
            app.disconnect();
        }
    });

    it("a user group that does not exist: exit 2, one line naming rotation:redis.userGroupId, before PostgreSQL's part; no user created", async () => {
        double.groups.delete(GROUP);
        const r = await sandbox().run(["bootstrap", "--stack", "staging"], { ROTATION_PG_ADMIN_URL: servers.pg.adminUrl, ...double.env });
        expect(r.code).toBe(2);
        expect(r.stderr).toBe("error: ElastiCache user group buywhere-staging does not exist (UserGroupNotFound); check `rotation:redis.userGroupId`\n");
        expect(actions()).toEqual(["DescribeUserGroups:UserGroupNotFound"]);
        expect(double.users.size).toBe(0);
    });
});

describe("bootstrapElastiCacheUser: waits, retries and refusals (double of the API, user groups modifying for a while)", () => {
    beforeEach(() => start(300));

    it("a user group busy with another change: InvalidUserGroupState is retried once it is active; the user is a member at the end", async () => {
        const g = double.groups.get(GROUP)!;
        g.status = "modifying";
        setTimeout(() => (g.status = "active"), 250);
        // ModifyUserGroup finds it busy (InvalidUserGroupState); bootstrap waits until it is active and sends it again.
        const result = await bootstrap();
        expect(result).toEqual({ created: true, addedToGroup: true });
        expect(g.userIds).toContain(USER_ID);
        expect(g.status).toBe("active");
        expect(actions()).toContain("ModifyUserGroup:InvalidUserGroupState");
        expect(actions().at(-1)).toBe("DescribeUserGroups");
    });

    it("a user group stuck in modifying past the bound: fails naming the group and its status", async () => {
        double.groups.get(GROUP)!.status = "modifying";
        const err = await failure(bootstrap({ timeoutMs: 400 }));
        expect(err?.message).toBe("ElastiCache user group buywhere-staging is still modifying at the end of its bound (rotation:redis.modifyTimeoutSeconds)");
        expect(double.groups.get(GROUP)!.userIds).toEqual(["default"]);
    });

    it("an existing user id with another user name, or the user name taken by another id: refused (bad input), nothing created or added", async () => {
        double.addUser(USER_ID, "someone-else");
        let err = await failure(bootstrap());
        expect(err).toBeInstanceOf(HookInputError);
        expect(err!.message).toBe(`ElastiCache user ${USER_ID} exists with user name someone-else, not \`rotation:redis.user\` ${USER}; check \`rotation:redis.userId\` and \`rotation:redis.user\``);
        double.users.clear();
        double.addUser("buywhere-api-old", USER);
        err = await failure(bootstrap());
        expect(err).toBeInstanceOf(HookInputError);
        expect(err!.message).toBe(`an ElastiCache user named ${USER} already exists under another user id; set \`rotation:redis.userId\` to that user's id`);
        expect([...double.users.keys()]).toEqual(["buywhere-api-old"]);
        expect(double.groups.get(GROUP)!.userIds).toEqual(["default"]);
        expect(actions()).not.toContain("ModifyUserGroup");
    });

    it("ElastiCache's default user is refused before any call", async () => {
        const err = await failure(bootstrap({ userId: "default" }));
        expect(err).toBeInstanceOf(HookInputError);
        expect(double.calls).toEqual([]);
    });

    it("the double enforces the documented rules (so the tests above can fail)", async () => {
        const send = (input: ConstructorParameters<typeof CreateUserCommand>[0]) => failure(client.send(new CreateUserCommand(input)));
        const base = { UserId: "u1", UserName: "u1", Engine: "redis", AccessString: "on ~* +@read" };
        expect((await send({ ...base, AccessString: `on ~* +@read >${password()}`, NoPasswordRequired: true }))?.name).toBe("InvalidParameterValueException");
        expect((await send({ ...base, AccessString: "on reset ~*", NoPasswordRequired: true }))?.name).toBe("InvalidParameterValueException");
        expect((await send({ ...base, AuthenticationMode: { Type: "password", Passwords: [password(), password(), password()] } }))?.name).toBe("InvalidParameterValueException");
        expect((await send({ ...base, AuthenticationMode: { Type: "password", Passwords: ["short"] } }))?.name).toBe("InvalidParameterValueException");
        expect(await send({ ...base, AuthenticationMode: { Type: "password", Passwords: [password()] } })).toBeUndefined();
        expect((await send({ ...base, UserName: "u2", AuthenticationMode: { Type: "password", Passwords: [password()] } }))?.name).toBe("UserAlreadyExistsFault");
        expect((await send({ ...base, UserId: "u2", AuthenticationMode: { Type: "password", Passwords: [password()] } }))?.name).toBe("DuplicateUserNameFault");
        const modify = (input: ConstructorParameters<typeof ModifyUserGroupCommand>[0]) => failure(client.send(new ModifyUserGroupCommand(input)));
        expect((await modify({ UserGroupId: "nope", UserIdsToAdd: ["u1"] }))?.name).toBe("UserGroupNotFoundFault");
        expect((await modify({ UserGroupId: GROUP, UserIdsToAdd: ["nobody"] }))?.name).toBe("UserNotFoundFault");
        expect((await modify({ UserGroupId: GROUP, UserIdsToRemove: ["default"] }))?.name).toBe("DefaultUserRequired");
        expect(await modify({ UserGroupId: GROUP, UserIdsToAdd: ["u1"] })).toBeUndefined();
        expect((await modify({ UserGroupId: GROUP, UserIdsToAdd: ["u1"] }))?.name).toBe("InvalidUserGroupStateFault");
    });
});
