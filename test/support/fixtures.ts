/**
 * Fixtures shared by the test files, one copy each: random credentials, a slot-machine target, the default Redis
 * ACL rules, a throwaway PostgreSQL + Redis pair per test file, the engine's secret marker and deterministic
 * UUID-shaped ids for stand-ins.
 *
 * Loads no Pulumi SDK and starts nothing on import.
 */
import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll } from "vitest";
import type { GroupTarget, HoldableProvider } from "../../rotation/slots";
import { Postgres, startPostgres } from "./postgres";
import { RedisServer, startRedis } from "./redis";

/** A fresh random credential shaped like the program's: 40 alphanumeric characters. */
export function password(): string {
    return randomBytes(30).toString("base64").replace(/[^A-Za-z0-9]/g, "").slice(0, 40);
}

/**
 * What a run asks of a group, for `transitionGroup`, with the stack file's key names (they appear in refusals).
 * The keys name `database`'s rollback and hold whatever the group: messages are only matched for `database`.
 */
export function target(stamp: string, rollback?: string, hold?: readonly HoldableProvider[]): GroupTarget {
    return {
        stamp,
        stampKey: "rotation:stamp",
        rollback,
        rollbackKey: "rotation:rollback.database",
        hold,
        holdKey: "rotation:hold.database",
    };
}

/**
 * The Redis ACL rules a stack gets when `rotation:redis.aclRules` is not set (test/config.test.ts pins that
 * default in `rotation/config.ts`); what `bootstrap` gives the ACL user.
 */
export const ACL_RULES: readonly string[] = ["~*", "&*", "+@all", "-@admin", "-@dangerous"];

/** A real PostgreSQL and a real Redis, both throwaway. */
export interface Servers {
    readonly pg: Postgres;
    readonly redis: RedisServer;
}

/**
 * Starts a PostgreSQL and a Redis for the enclosing test file or `describe` (in `beforeAll`, then `setup`, e.g.
 * bootstrap roles) and stops both in `afterAll`. The returned object is usable inside tests and hooks only.
 */
export function useServers(setup?: (servers: Servers) => Promise<void>): Servers {
    let started: { pg?: Postgres; redis?: RedisServer } = {};
    beforeAll(async () => {
        const [pg, redis] = await Promise.allSettled([startPostgres(), startRedis()]);
        started = {
            pg: pg.status === "fulfilled" ? pg.value : undefined,
            redis: redis.status === "fulfilled" ? redis.value : undefined,
        };
        if (pg.status === "rejected") throw pg.reason;
        if (redis.status === "rejected") throw redis.reason;
        await setup?.({ pg: pg.value, redis: redis.value });
    }, 120_000);
    afterAll(async () => {
        await Promise.all([started.pg?.stop(), started.redis?.stop()]);
    });
    const get = <K extends keyof Servers>(key: K): Servers[K] => {
        const server = started[key];
        if (server === undefined) throw new Error(`useServers: ${key} is not running (used outside a test, or failed to start)`);
        return server as Servers[K];
    };
    return {
        get pg() {
            return get("pg");
        },
        get redis() {
            return get("redis");
        },
    };
}

/**
 * The key under which the Pulumi SDK marks a special value in serialized inputs (`specialSigKey` in
 * `@pulumi/pulumi/runtime/rpc`, not part of its documented API): `{ [SECRET_SIG]: <sig>, value }` is a secret.
 * test/sdkInternals.test.ts fails if the pinned SDK stops using it.
 */
export const SECRET_SIG = "4dabf18193072939515e22adb298388d";

/**
 * A deterministic UUID-shaped id (8-4-4-4-12 hex) from `seed`, as AWS gives a secret version: the same seed gives the
 * same id. For stand-ins of the engine and of providers.
 */
export function uuidFromHash(seed: string): string {
    const h = createHash("sha256").update(seed).digest("hex");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}
