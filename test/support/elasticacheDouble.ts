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
    readonly userGroupIds: readonly string[];
    status: "active" | "modifying" | "deleting";
    passwordCount: number;
}

export interface ElastiCacheDouble {
    /** Environment that points the SDK's ElastiCache client (only) at the double, with test credentials. */
    readonly env: Record<string, string>;
    readonly endpoint: string;
    readonly users: Map<string, DoubleUser>;
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
        req.on("end", () => {
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
        calls,
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
