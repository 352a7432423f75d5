/**
 * A test double of the ElastiCache query API (moto 5.2.1 has no ModifyUser: "NotImplementedError: The modify_user
 * action has not been implemented"), over HTTP on 127.0.0.1, for the AWS SDK v3 client: form-encoded `Action=...`
 * POSTs in, XML out (the awsQuery protocol; error codes as @aws-sdk/client-elasticache maps them: `UserNotFound` 404 ->
 * UserNotFoundFault, `InvalidUserState` 400 -> InvalidUserStateFault, from its schema's awsQueryError traits).
 *
 * DescribeUsers (https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_DescribeUsers.html) and
 * ModifyUser (https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_ModifyUser.html), with the rules
 * the documentation gives and the hook relies on:
 * - an unknown `UserId` is UserNotFound;
 * - `Passwords.member.N` / `AuthenticationMode.Passwords.member.N`: "You are allowed up to two", at least one, not
 *   both forms at once; each 16-128 printable characters without @, " or /
 *   (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/auth.html);
 * - a user whose `Status` is not `active` ("Can be "active", "modifying" or "deleting"",
 *   https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_User.html) cannot be modified:
 *   InvalidUserState, "User ... has status modifying. Only active users can be modified."
 *   (hashicorp/terraform-provider-aws#49726);
 * - after ModifyUser the user is `modifying` for `modifyingMs`; then the passwords are applied to a real Redis
 *   (`ACL SETUSER <user name> resetpass >a >b`, which a self-run Redis allows; ElastiCache does the equivalent on
 *   every node) and the user is `active` again. Until then the old passwords stay valid, as on ElastiCache.
 *
 *
 * For `bootstrap` (automation/elasticacheBootstrap.ts), CreateUser
 * (https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_CreateUser.html), DescribeUserGroups and
 * ModifyUserGroup (https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_ModifyUserGroup.html):
 * - CreateUser requires UserId (`[a-zA-Z][a-zA-Z0-9\-]*`), UserName, Engine (`redis` | `valkey`) and AccessString;
 *   an existing id is UserAlreadyExists, an existing user name DuplicateUserName ("A user with this username already
 *   exists", @aws-sdk/client-elasticache); the access string may not carry passwords or `reset`/`nopass` ("You can't
 *   specify passwords in an access string", "You can't use the reset command as a part of an access string",
 *   https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/Clusters.RBAC.html); passwords follow ModifyUser's rules;
 * - ModifyUserGroup: an unknown group is UserGroupNotFound, a group not `active` InvalidUserGroupState ("The user
 *   group is not in an active state"), an unknown user id UserNotFound, a second user of the same name in one group
 *   DuplicateUserName, removing `default` DefaultUserRequired ("You must add default user to a user group"). The group
 *   is `modifying` with PendingChanges for `groupModifyingMs`; then the added users exist on the "nodes" (the real
 *   Redis: `ACL SETUSER <name> reset <access string> >password`, their access string and passwords as created).
 *
 * Requests must be SigV4-signed (an `Authorization: AWS4-HMAC-SHA256 ...` header); the signature is not verified.
 */
import { randomUUID } from "node:crypto";
import { AddressInfo } from "node:net";
import http from "node:http";
import Redis, { RedisOptions } from "ioredis";

export interface DoubleUser {
    readonly userId: string;
    readonly userName: string;
    readonly accessString: string;
    userGroupIds: string[];
    status: "active" | "modifying" | "deleting";
    passwordCount: number;
}

export interface DoubleUserGroup {
    readonly userGroupId: string;
    status: "active" | "modifying" | "creating" | "deleting";
    userIds: string[];
    pendingAdd: string[];
    pendingRemove: string[];
}

export interface ElastiCacheDouble {
    /** Environment that points the SDK's ElastiCache client (only) at the double, with test credentials. */
    readonly env: Record<string, string>;
    readonly endpoint: string;
    readonly users: Map<string, DoubleUser>;
    readonly groups: Map<string, DoubleUserGroup>;
    /** A user group (with the `default` user, as ElastiCache requires) whose members the real Redis stands in for. */
    addUserGroup(userGroupId: string): void;
    /** Every call, in order: `Action` and, for errors, the error code. */
    readonly calls: { action: string; error?: string; passwords?: number }[];
    addUser(userId: string, userName: string): void;
    /** The user is `modifying` for `ms` (forever with Infinity): a change someone else made. */
    busy(userId: string, ms: number): void;
    /** The next ModifyUser of the user finds a concurrent change: InvalidUserState, and `modifying` for `ms`. */
    raceNextModify(userId: string, ms: number): void;
    stop(): Promise<void>;
}

export interface ElastiCacheDoubleOptions {
    /** The real Redis (admin URL) whose ACL users stand in for the cache's nodes. */
    readonly redisAdminUrl: string;
    readonly redisOptions?: RedisOptions;
    /** How long a user stays `modifying` after ModifyUser. */
    readonly modifyingMs: number;
    /** How long a user group stays `modifying` after ModifyUserGroup (0: applied before the call returns). */
    readonly groupModifyingMs?: number;
    readonly region?: string;
    readonly account?: string;
}

const NS = "http://elasticache.amazonaws.com/doc/2015-02-02/";
const xmlEscape = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** Why a password breaks ElastiCache's documented rules, or undefined. */
function passwordRule(p: string): string | undefined {
    if (p.length < 16 || p.length > 128) return "Passwords length must be between 16-128 characters.";
    if (!/^[\x21-\x7e]+$/.test(p) || /[@"/]/.test(p)) return 'Passwords must be printable characters and must not contain @, " or /.';
    return undefined;
}

class QueryError extends Error {
    constructor(
        readonly status: number,
        readonly code: string,
        message: string,
    ) {
        super(message);
    }
}

export async function startElastiCacheDouble(o: ElastiCacheDoubleOptions): Promise<ElastiCacheDouble> {
    const region = o.region ?? "ap-southeast-1";
    const account = o.account ?? "111122223333";
    const users = new Map<string, DoubleUser>();
    const groups = new Map<string, DoubleUserGroup>();
    /** The passwords each user was created with (CreateUser), applied on the nodes when it joins a group. */
    const createdPasswords = new Map<string, readonly string[]>();
    const calls: ElastiCacheDouble["calls"] = [];
    const timers = new Set<NodeJS.Timeout>();
    const races = new Map<string, number>();
    const pendingApplies = new Set<Promise<void>>();

    const later = (ms: number, fn: () => void) => {
        if (!Number.isFinite(ms)) return;
        const t = setTimeout(() => {
            timers.delete(t);
            fn();
        }, ms);
        timers.add(t);
    };

    const userXml = (u: DoubleUser) =>
        `<UserId>${xmlEscape(u.userId)}</UserId><UserName>${xmlEscape(u.userName)}</UserName><Status>${u.status}</Status>` +
        `<Engine>redis</Engine><MinimumEngineVersion>6.0</MinimumEngineVersion><AccessString>${xmlEscape(u.accessString)}</AccessString>` +
        `<UserGroupIds>${u.userGroupIds.map((g) => `<member>${xmlEscape(g)}</member>`).join("")}</UserGroupIds>` +
        `<Authentication><Type>${u.passwordCount > 0 ? "password" : "no-password"}</Type><PasswordCount>${u.passwordCount}</PasswordCount></Authentication>` +
        `<ARN>arn:aws:elasticache:${region}:${account}:user:${xmlEscape(u.userId)}</ARN>`;

    const userOf = (id: string | null): DoubleUser => {
        const u = id === null ? undefined : users.get(id);
        if (!u) throw new QueryError(404, "UserNotFound", `User ${id} not found.`);
        return u;
    };

    /** Applies the passwords on the "nodes" (the real Redis), then the user is active again. */
    async function applyOnNodes(u: DoubleUser, passwords: readonly string[]): Promise<void> {
        const r = new Redis(o.redisAdminUrl, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, ...o.redisOptions });
        try {
            await r.connect();
            await r.call("ACL", "SETUSER", u.userName, "resetpass", ...passwords.map((p) => `>${p}`));
            u.passwordCount = passwords.length;
            u.status = "active";
        } finally {
            r.disconnect();
        }
    }

    function modifyUser(q: URLSearchParams): string {
        const u = userOf(q.get("UserId"));
        const list = (prefix: string) => [...q.keys()].filter((k) => k.startsWith(`${prefix}.member.`)).sort().map((k) => q.get(k)!);
        const top = list("Passwords");
        const mode = q.get("AuthenticationMode.Type");
        const inMode = list("AuthenticationMode.Passwords");
        if (top.length > 0 && mode !== null) throw new QueryError(400, "InvalidParameterCombination", "Passwords and AuthenticationMode cannot be specified together.");
        if (q.has("AccessString") || q.has("AppendAccessString")) throw new QueryError(400, "InvalidParameterValue", "This double only changes passwords.");
        if (mode !== null && mode !== "password") throw new QueryError(400, "InvalidParameterValue", `AuthenticationMode.Type ${mode} is not supported by this double.`);
        const passwords = mode !== null ? inMode : top;
        if (passwords.length === 0) throw new QueryError(400, "InvalidParameterValue", "At least one password is required with AuthenticationMode password.");
        if (passwords.length > 2) throw new QueryError(400, "InvalidParameterValue", "You are allowed up to two passwords.");
        for (const p of passwords) {
            const rule = passwordRule(p);
            if (rule) throw new QueryError(400, "InvalidParameterValue", rule);
        }
        const race = races.get(u.userId);
        if (race !== undefined) {
            races.delete(u.userId);
            u.status = "modifying";
            later(race, () => (u.status = "active"));
        }
        if (u.status !== "active") throw new QueryError(400, "InvalidUserState", `User ${u.userId} has status ${u.status}. Only active users can be modified.`);
        u.status = "modifying";
        calls[calls.length - 1].passwords = passwords.length;
        later(o.modifyingMs, () => {
            const p = applyOnNodes(u, passwords).catch((err) => {
                u.status = "active";
                throw err;
            });
            pendingApplies.add(p);
            p.finally(() => pendingApplies.delete(p)).catch(() => undefined);
        });
        return `<ModifyUserResponse xmlns="${NS}"><ModifyUserResult>${userXml(u)}</ModifyUserResult><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></ModifyUserResponse>`;
    }

    const list = (q: URLSearchParams, prefix: string) =>
        [...q.keys()].filter((k) => k.startsWith(`${prefix}.member.`)).sort((a, b) => Number(a.split(".").pop()) - Number(b.split(".").pop())).map((k) => q.get(k)!);

    function createUser(q: URLSearchParams): string {
        const userId = q.get("UserId") ?? "";
        const userName = q.get("UserName") ?? "";
        const engine = q.get("Engine") ?? "";
        const access = q.get("AccessString") ?? "";
        if (!/^[a-zA-Z][a-zA-Z0-9-]*$/.test(userId)) throw new QueryError(400, "InvalidParameterValue", "UserId must begin with a letter and contain only letters, digits and hyphens.");
        if (userName === "") throw new QueryError(400, "InvalidParameterValue", "UserName is required.");
        if (!/^(redis|valkey)$/i.test(engine)) throw new QueryError(400, "InvalidParameterValue", "Engine must be redis or valkey.");
        if (!/\S/.test(access)) throw new QueryError(400, "InvalidParameterValue", "AccessString is required.");
        for (const token of access.split(/\s+/)) {
            if (/^[><#!]/.test(token) || /^(nopass|resetpass|reset)$/i.test(token)) {
                throw new QueryError(400, "InvalidParameterValue", `Access string cannot contain passwords or ${token.replace(/^([><#!]).*/, "$1...")}.`);
            }
        }
        const top = list(q, "Passwords");
        const mode = q.get("AuthenticationMode.Type");
        const noPassword = q.get("NoPasswordRequired") === "true";
        if (top.length > 0 && mode !== null) throw new QueryError(400, "InvalidParameterCombination", "Passwords and AuthenticationMode cannot be specified together.");
        const passwords = mode !== null ? list(q, "AuthenticationMode.Passwords") : top;
        if (noPassword && passwords.length > 0) throw new QueryError(400, "InvalidParameterCombination", "No password required flag is true but password is also provided.");
        if (mode !== null && mode !== "password") throw new QueryError(400, "InvalidParameterValue", `AuthenticationMode.Type ${mode} is not supported by this double.`);
        if (!noPassword && passwords.length === 0) throw new QueryError(400, "InvalidParameterValue", "At least one password is required with AuthenticationMode password.");
        if (passwords.length > 2) throw new QueryError(400, "InvalidParameterValue", "You can create up to two passwords for each user.");
        for (const p of passwords) {
            const rule = passwordRule(p);
            if (rule) throw new QueryError(400, "InvalidParameterValue", rule);
        }
        const id = userId.toLowerCase(); // "This value is stored as a lowercase string." (CreateUser, UserId)
        if (users.has(id)) throw new QueryError(400, "UserAlreadyExists", `User ${id} already exists.`);
        if ([...users.values()].some((u) => u.userName === userName)) throw new QueryError(400, "DuplicateUserName", `A user with the username ${userName} already exists.`);
        const u: DoubleUser = { userId: id, userName, accessString: access, userGroupIds: [], status: "active", passwordCount: passwords.length };
        users.set(id, u);
        createdPasswords.set(id, passwords);
        return `<CreateUserResponse xmlns="${NS}"><CreateUserResult>${userXml(u)}</CreateUserResult><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></CreateUserResponse>`;
    }

    const members = (ids: readonly string[]) => ids.map((id) => `<member>${xmlEscape(id)}</member>`).join("");
    const groupXml = (g: DoubleUserGroup) =>
        `<UserGroupId>${xmlEscape(g.userGroupId)}</UserGroupId><Status>${g.status}</Status><Engine>redis</Engine><UserIds>${members(g.userIds)}</UserIds>` +
        `<MinimumEngineVersion>6.0</MinimumEngineVersion>` +
        (g.pendingAdd.length + g.pendingRemove.length > 0
            ? `<PendingChanges><UserIdsToRemove>${members(g.pendingRemove)}</UserIdsToRemove><UserIdsToAdd>${members(g.pendingAdd)}</UserIdsToAdd></PendingChanges>`
            : "") +
        `<ReplicationGroups><member>buywhere</member></ReplicationGroups><ARN>arn:aws:elasticache:${region}:${account}:usergroup:${xmlEscape(g.userGroupId)}</ARN>`;

    const groupOf = (id: string | null): DoubleUserGroup => {
        const g = id === null ? undefined : groups.get(id);
        if (!g) throw new QueryError(404, "UserGroupNotFound", `User group ${id} not found.`);
        return g;
    };

    function describeUserGroups(q: URLSearchParams): string {
        const id = q.get("UserGroupId");
        const found = id === null ? [...groups.values()] : [groupOf(id)];
        return (
            `<DescribeUserGroupsResponse xmlns="${NS}"><DescribeUserGroupsResult><UserGroups>${found.map((g) => `<member>${groupXml(g)}</member>`).join("")}</UserGroups></DescribeUserGroupsResult>` +
            `<ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></DescribeUserGroupsResponse>`
        );
    }

    /** The added users now exist on the "nodes": created in the real Redis with their access string and passwords. */
    async function joinOnNodes(ids: readonly string[]): Promise<void> {
        const r = new Redis(o.redisAdminUrl, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, ...o.redisOptions });
        try {
            await r.connect();
            for (const id of ids) {
                const u = users.get(id);
                if (!u) continue;
                await r.call("ACL", "SETUSER", u.userName, "reset", ...u.accessString.split(/\s+/).filter(Boolean), ...(createdPasswords.get(id) ?? []).map((p) => `>${p}`));
            }
        } finally {
            r.disconnect();
        }
    }

    function finishGroupChange(g: DoubleUserGroup): Promise<void> {
        const added = g.pendingAdd;
        g.userIds = [...g.userIds.filter((id) => !g.pendingRemove.includes(id)), ...added];
        for (const id of added) users.get(id)?.userGroupIds.push(g.userGroupId);
        g.pendingAdd = [];
        g.pendingRemove = [];
        return joinOnNodes(added).finally(() => {
            g.status = "active";
        });
    }

    async function modifyUserGroup(q: URLSearchParams): Promise<string> {
        const g = groupOf(q.get("UserGroupId"));
        const add = list(q, "UserIdsToAdd").map((id) => id.toLowerCase());
        const remove = list(q, "UserIdsToRemove").map((id) => id.toLowerCase());
        if (g.status !== "active") throw new QueryError(400, "InvalidUserGroupState", `User group ${g.userGroupId} is not in active state.`);
        if (remove.includes("default")) throw new QueryError(400, "DefaultUserRequired", "You must add default user to a user group.");
        for (const id of [...add, ...remove]) userOf(id);
        const names = new Set(g.userIds.filter((id) => !remove.includes(id)).map((id) => users.get(id)?.userName));
        for (const id of add.filter((id) => !g.userIds.includes(id))) {
            const name = users.get(id)!.userName;
            if (names.has(name)) throw new QueryError(400, "DuplicateUserName", `A user with the username ${name} already exists in user group ${g.userGroupId}.`);
            names.add(name);
        }
        g.status = "modifying";
        g.pendingAdd = add.filter((id) => !g.userIds.includes(id));
        g.pendingRemove = remove;
        const reply = `<ModifyUserGroupResponse xmlns="${NS}"><ModifyUserGroupResult>${groupXml(g)}</ModifyUserGroupResult><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></ModifyUserGroupResponse>`;
        const groupMs = o.groupModifyingMs ?? o.modifyingMs;
        if (groupMs === 0) {
            await finishGroupChange(g);
        } else {
            later(groupMs, () => {
                const p = finishGroupChange(g);
                pendingApplies.add(p);
                p.finally(() => pendingApplies.delete(p)).catch(() => undefined);
            });
        }
        return reply;
    }

    function describeUsers(q: URLSearchParams): string {
        const id = q.get("UserId");
        const found = id === null ? [...users.values()] : [userOf(id)];
        return (
            `<DescribeUsersResponse xmlns="${NS}"><DescribeUsersResult><Users>${found.map((u) => `<member>${userXml(u)}</member>`).join("")}</Users></DescribeUsersResult>` +
            `<ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></DescribeUsersResponse>`
        );
    }

    const server = http.createServer((req, res) => {
        let body = "";
        req.on("data", (d) => (body += d));
        req.on("end", async () => {
            const q = new URLSearchParams(body);
            const action = q.get("Action") ?? "";
            calls.push({ action });
            const reply = (status: number, xml: string) => {
                res.writeHead(status, { "content-type": "text/xml" });
                res.end(xml);
            };
            try {
                if (req.method !== "POST" || !/^AWS4-HMAC-SHA256 Credential=/.test(req.headers.authorization ?? "")) {
                    throw new QueryError(403, "MissingAuthenticationToken", "Request is missing Authentication Token");
                }
                if (q.get("Version") !== "2015-02-02") throw new QueryError(400, "InvalidAction", "Unknown API version.");
                if (action === "ModifyUser") return reply(200, modifyUser(q));
                if (action === "DescribeUsers") return reply(200, describeUsers(q));
                if (action === "CreateUser") return reply(200, createUser(q));
                if (action === "DescribeUserGroups") return reply(200, describeUserGroups(q));
                if (action === "ModifyUserGroup") return reply(200, await modifyUserGroup(q));
                throw new QueryError(400, "InvalidAction", `The action ${action} is not valid for this web service.`);
            } catch (err) {
                const e = err instanceof QueryError ? err : new QueryError(500, "InternalFailure", String(err));
                calls[calls.length - 1].error = e.code;
                reply(
                    e.status,
                    `<ErrorResponse xmlns="${NS}"><Error><Type>Sender</Type><Code>${e.code}</Code><Message>${xmlEscape(e.message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
                );
            }
        });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return {
        endpoint,
        env: {
            // The SDK's per-service endpoint variable (service id "ElastiCache"): only the ElastiCache client goes here
            // (https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html).
            AWS_ENDPOINT_URL_ELASTICACHE: endpoint,
            ROTATION_ALLOW_AWS_ENDPOINT: endpoint,
            AWS_ACCESS_KEY_ID: "testing",
            AWS_SECRET_ACCESS_KEY: "testing",
            AWS_REGION: region,
        },
        users,
        groups,
        calls,
        addUserGroup(userGroupId) {
            groups.set(userGroupId, { userGroupId, status: "active", userIds: ["default"], pendingAdd: [], pendingRemove: [] });
        },
        addUser(userId, userName) {
            users.set(userId, { userId, userName, accessString: "on ~* &* +@all -@admin -@dangerous", userGroupIds: ["buywhere"], status: "active", passwordCount: 2 });
        },
        busy(userId, ms) {
            const u = userOf(userId);
            u.status = "modifying";
            later(ms, () => (u.status = "active"));
        },
        raceNextModify(userId, ms) {
            races.set(userId, ms);
        },
        async stop() {
            for (const t of timers) clearTimeout(t);
            await Promise.allSettled([...pendingApplies]);
            await new Promise<void>((resolve) => server.close(() => resolve()));
        },
    };
}
