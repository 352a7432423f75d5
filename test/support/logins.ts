/**
 * Whether a real server on 127.0.0.1 accepts a credential: one PostgreSQL login (database `buywhere`, then `SELECT 1`;
 * `postgresAnswers` for any login and statement) or one Redis AUTH. Each connection is closed after; a refusal or an unreachable server is `false`, never a throw.
 */
import Redis from "ioredis";
import { Client, ClientConfig } from "pg";

export async function postgresAccepts(port: number, user: string, password: string): Promise<boolean> {
    return postgresAnswers({ host: "127.0.0.1", port, user, password, database: "buywhere" }, "SELECT 1");
}

/** Whether a PostgreSQL login with `config` (a server or a PgBouncer) runs `sql`; one connection, closed after. */
export async function postgresAnswers(config: ClientConfig, sql: string): Promise<boolean> {
    const c = new Client(config);
    c.on("error", () => undefined);
    try {
        await c.connect();
        await c.query(sql);
        return true;
    } catch {
        return false;
    } finally {
        await c.end().catch(() => undefined);
    }
}

export async function redisAccepts(port: number, user: string, password: string): Promise<boolean> {
    const r = new Redis({ host: "127.0.0.1", port, lazyConnect: true, enableReadyCheck: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on("error", () => undefined);
    try {
        await r.connect();
        return (await r.call("AUTH", user, password)) === "OK";
    } catch {
        return false;
    } finally {
        r.disconnect();
    }
}
