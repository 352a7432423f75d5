/**
 * Fixtures shared by the test files, one copy each: random credentials, a slot-machine intent, the default Redis
 * ACL rules, a throwaway PostgreSQL + Redis pair, the engine's secret marker and deterministic UUID-shaped ids for
 * stand-ins.
 *
 * Loads neither vitest nor the Pulumi SDK and starts nothing on import, so code outside the test runner (bench/,
 * stand-in engines run as child processes) can import it too; `useServers` in ./servers.ts registers the server
 * pair with a test file's hooks.
 */
import { createHash, randomInt } from "node:crypto";
import type { Provider } from "../../rotation/catalog";
import type { Source } from "../../rotation/refusals";
import type { GroupIntent } from "../../rotation/slots";
import { Postgres, startPostgres } from "./postgres";
import { RedisServer, startRedis } from "./redis";

const ALPHANUMERIC = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** A fresh random credential shaped like the program's: 40 alphanumeric characters. */
export function password(): string {
    return Array.from({ length: 40 }, () => ALPHANUMERIC[randomInt(ALPHANUMERIC.length)]).join("");
}

/** Where a request's ask comes from, for `transitionGroup` intents: the run's request (the CLI's). */
export const FROM_REQUEST: Source = { kind: "request" };

/** The intent to rotate a group to `stamp` (for `transitionGroup`), holding `hold` back, as a request asks it. */
export function rotateIntent(stamp: string, hold: readonly Provider[] = []): GroupIntent {
    return { kind: "rotate", stamp, source: FROM_REQUEST, hold, holdSource: FROM_REQUEST };
}

/**
 * The Redis ACL rules a stack gets when `rotation:redis.aclRules` is not set (test/config.test.ts pins that
 * default in `rotation/settings.ts`); what `bootstrap` gives the ACL user.
 */
export const ACL_RULES: readonly string[] = ["~*", "&*", "+@all", "-@admin", "-@dangerous"];

/** A real PostgreSQL and a real Redis, both throwaway. */
export interface Servers {
    readonly pg: Postgres;
    readonly redis: RedisServer;
}

/** Starts a PostgreSQL and a Redis side by side; if either fails to start, stops the other and throws. */
export async function startServers(): Promise<Servers & { stop(): Promise<void> }> {
    const [pg, redis] = await Promise.allSettled([startPostgres(), startRedis()]);
    const stop = async () => {
        await Promise.all([pg.status === "fulfilled" ? pg.value.stop() : undefined, redis.status === "fulfilled" ? redis.value.stop() : undefined]);
    };
    if (pg.status === "rejected" || redis.status === "rejected") {
        await stop();
        throw pg.status === "rejected" ? pg.reason : (redis as PromiseRejectedResult).reason;
    }
    return { pg: pg.value, redis: redis.value, stop };
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

/** The forms a leaked value may take in text: plain, URL-encoded (as in a connection URL), base64 and base64url. */
export function leakForms(values: readonly string[]): string[] {
    return values.flatMap((v) => [v, encodeURIComponent(v), Buffer.from(v).toString("base64"), Buffer.from(v).toString("base64url")]);
}
