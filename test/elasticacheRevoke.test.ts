/**
 * `revoke --service redis` on the ElastiCache kind (rotation/elasticacheSessions.ts): the plan warns, before the run,
 * that the leaked password's open connections are not closed and what the operator runs instead; the applier, as the
 * process the program runs against the double of the ElastiCache API and a real redis-server, removes the leaked
 * password (no new connection with it), prints the same line, and leaves a connection it already authenticated open —
 * until `CLIENT KILL USER <user>`, the command the line names, closes it while the current password keeps working.
 */
import Redis from "ioredis";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { elasticacheApplyContract, toEnv } from "../hooks/contracts";
import { canAuth } from "../hooks/redisApply";
import { elasticacheOpenSessionsWarning } from "../rotation/elasticacheSessions";
import { Planned, RotationPlan, planRotation } from "../rotation/plan";
import { RotationRequest } from "../rotation/request";
import { parseSettings } from "../rotation/settings";
import { StoredState } from "../rotation/state";
import { ElastiCacheDouble, startElastiCacheDouble } from "./support/elasticacheDouble";
import { password } from "./support/fixtures";
import { runHookProcess } from "./support/hookProcess";
import { stackConfig } from "./support/pulumiProgram";
import { RedisServer, startRedis } from "./support/redis";

const USER = "buywhere-api";
const USER_ID = "buywhere-api-staging";
const NOW = new Date("2026-11-25T12:00:00Z");

describe("the plan of a revoke on ElastiCache warns, naming what to run", () => {
    const staging = stackConfig("staging");
    const planned = (p: Planned): RotationPlan => {
        if (p.refusal) throw new Error("unexpected refusal");
        return p.plan;
    };
    const plan = (stored: StoredState, request: RotationRequest | undefined, redis?: Record<string, unknown>) =>
        planned(planRotation({ settings: parseSettings({ ...staging, ...(redis ? { "rotation:redis": redis } : {}) }), stored, now: NOW, request, stack: "staging" }));
    /** A stack deployed, then rotated (so a retire has a slot to retire). */
    const rotated = (redis?: Record<string, unknown>): StoredState => {
        const first = plan({}, undefined, redis);
        return { committed: plan({ committed: first.nextState }, { rotate: { groups: ["redis"], scheduled: false } }, redis).nextState };
    };
    const line = elasticacheOpenSessionsWarning(USER);

    it("retire with endSessions (revoke's second run) on kind elasticache: the warning; without endSessions or on kind acl: none", () => {
        const revoke: RotationRequest = { retire: { groups: ["redis"], endSessions: true } };
        expect(plan(rotated(), revoke).warnings).toContain(line);
        expect(plan(rotated(), { retire: { groups: ["redis"], endSessions: false } }).warnings).not.toContain(line);
        const acl = { kind: "acl", host: "redis.internal.example", port: 6379, user: USER, tls: true };
        expect(plan(rotated(acl), revoke, acl).warnings).not.toContain(line);
    });

    it("the line is one line and names the user and the command", () => {
        expect(line).not.toContain("\n");
        expect(line).toContain(`CLIENT KILL USER ${USER}`);
        expect(line).toContain("every node of the cache (primary and replicas)");
    });
});

describe("the ElastiCache applier with REDIS_END_SESSIONS (a process, double of the API, real Redis)", () => {
    let redis: RedisServer;
    let double: ElastiCacheDouble;
    beforeAll(async () => {
        redis = await startRedis();
    }, 60_000);
    afterAll(async () => {
        await redis?.stop();
    });
    beforeEach(async () => {
        double = await startElastiCacheDouble({ redisAdminUrl: redis.adminUrl, modifyingMs: 200 });
        double.addUser(USER_ID, USER);
    });
    afterEach(async () => {
        await double.stop();
    });
    const admin = async <T>(fn: (r: Redis) => Promise<T>): Promise<T> => {
        const r = new Redis(redis.adminUrl, { lazyConnect: true });
        await r.connect();
        try {
            return await fn(r);
        } finally {
            r.disconnect();
        }
    };
    const endpoint = () => {
        const u = new URL(redis.adminUrl);
        return `redis://${u.hostname}:${u.port}`;
    };

    it("removes the leaked password, prints the warning, and the open connection stays until CLIENT KILL USER closes it", async () => {
        const [leaked, kept, fresh] = [password(), password(), password()];
        await admin((r) => r.call("ACL", "SETUSER", USER, "on", "resetpass", `>${leaked}`, `>${kept}`, "~*", "&*", "+@all", "-@admin", "-@dangerous"));
        const u = new URL(endpoint());
        const open = new Redis({ host: u.hostname, port: Number(u.port), username: USER, password: leaked, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
        await open.connect();
        expect(await open.ping()).toBe("PONG");

        const run = await runHookProcess("elasticacheApply", {
            ...double.env,
            ...toEnv(elasticacheApplyContract, {
                region: "ap-southeast-1",
                userId: USER_ID,
                user: USER,
                endpoint: endpoint(),
                passwordA: fresh,
                passwordB: kept,
                modifyTimeoutSeconds: 5,
                pollSeconds: 0.1,
                endSessions: true,
            }),
        });
        expect(run.code).toBe(0);
        expect(run.stderr).toContain(`warning: ${elasticacheOpenSessionsWarning(USER)}`);
        expect(run.stderr).not.toMatch(new RegExp(`${leaked}|${kept}|${fresh}`));
        expect(await canAuth(endpoint(), USER, leaked)).toBe(false);
        expect(await canAuth(endpoint(), USER, fresh)).toBe(true);
        expect(await canAuth(endpoint(), USER, kept)).toBe(true);
        // What the warning says: the connection the leaked password authenticated is still open...
        expect(await open.ping()).toBe("PONG");
        // ...until the command it names closes it; the current passwords still connect.
        const closed = new Promise<void>((resolve) => open.once("end", () => resolve()));
        expect(Number(await admin((r) => r.call("CLIENT", "KILL", "USER", USER)))).toBeGreaterThanOrEqual(1);
        await closed;
        await expect(open.ping()).rejects.toThrow();
        expect(await canAuth(endpoint(), USER, kept)).toBe(true);
    });
});
