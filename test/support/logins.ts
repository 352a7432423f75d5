/**
 * Whether a real server on 127.0.0.1 accepts a credential: one PostgreSQL login (database `buywhere`, then `SELECT 1`)
 * or one Redis AUTH. Each connection is closed after; a refusal or an unreachable server is `false`, never a throw.
 */
import Redis from "ioredis";
import { Client } from "pg";

export async function postgresAccepts(port: number, user: string, password: string): Promise<boolean> {
    const c = new Client({ host: "127.0.0.1", port, user, password, database: "buywhere" });
    c.on("error", () => undefined);
    try {
        await c.connect();
        await c.query("SELECT 1");
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
