/**
 * Revoking a leaked credential end to end: the real program under the ENGINE EMULATOR (not Pulumi) against real
 * PostgreSQL, Redis and moto — the two runs the CLI's `revoke` makes (rotate, then retire with endSessions).
 */
import { Client } from "pg";
import Redis from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RotationWorld, startRotationWorld } from "./support/rotationWorld";

const NOW = new Date("2026-11-25T12:00:00Z");
const at = (minutes: number) => new Date(NOW.getTime() + minutes * 60_000);

describe("revoke (engine emulator, real PostgreSQL and Redis): both slots end up fresh, the leaked one's sessions are ended", () => {
    let world: RotationWorld;
    beforeAll(async () => {
        world = await startRotationWorld();
        const first = await world.up("first deployment", { now: NOW });
        expect(first.result, first.error).toBe("succeeded");
    }, 120_000);
    afterAll(async () => {
        await world?.stop();
    });

    /** A session opened with the URL's credentials, kept open. */
    async function openPg(url: string): Promise<Client> {
        const u = new URL(url);
        const c = new Client({ host: "127.0.0.1", port: world.pg.port, user: decodeURIComponent(u.username), password: decodeURIComponent(u.password), database: "buywhere" });
        // Ending the session is the point: the client reports it as an error event (57P01, admin_shutdown).
        c.on("error", () => undefined);
        await c.connect();
        return c;
    }
    async function openRedis(url: string): Promise<Redis> {
        const u = new URL(url);
        const admin = new URL(world.redis.adminUrl);
        const r = new Redis({ host: "127.0.0.1", port: Number(admin.port), username: decodeURIComponent(u.username), password: decodeURIComponent(u.password), lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableReadyCheck: false });
        r.on("error", () => undefined);
        await r.connect();
        return r;
    }
    const alive = async (c: Client) => c.query("SELECT 1").then(() => true, () => false);

    it("rotate, then retire with endSessions: the leaked URL no longer logs in, its open sessions are gone, the current one works", async () => {
        const leakedDb = await world.awsCurrent("DATABASE_URL");
        const leakedRedis = await world.awsCurrent("REDIS_URL");
        const leakedJwt = await world.awsCurrent("JWT_SECRET_KEY");
        const session = await openPg(leakedDb);
        const redisSession = await openRedis(leakedRedis);
        expect(await alive(session)).toBe(true);

        // Run 1 of revoke: the other slot becomes current and every consumer restarts onto it.
        const groups = ["database", "redis", "jwt"] as const;
        const first = await world.up("revoke 1/2", { now: at(1), request: { rotate: { groups: [...groups], scheduled: false } } });
        expect(first.result, first.error).toBe("succeeded");
        const currentDb = await world.awsCurrent("DATABASE_URL");
        expect(currentDb).not.toBe(leakedDb);
        // Between the runs nothing is broken: the leaked credential still works (consumers may not have restarted).
        expect(await world.canLogIn(leakedDb)).toBe(true);

        // Run 2: the leaked slot is regenerated and its sessions ended.
        const second = await world.up("revoke 2/2", { now: at(2), request: { retire: { groups: [...groups], endSessions: true } } });
        expect(second.result, second.error).toBe("succeeded");
        expect(await world.canLogIn(leakedDb)).toBe(false);
        expect(await world.canAuth(leakedRedis)).toBe(false);
        expect(await alive(session)).toBe(false);
        expect(redisSession.status).not.toBe("ready");
        // The current credentials are untouched and work; the previous JWT key is no longer the leaked one.
        expect(await world.awsCurrent("DATABASE_URL")).toBe(currentDb);
        expect(await world.canLogIn(currentDb)).toBe(true);
        expect(await world.canAuth(await world.awsCurrent("REDIS_URL"))).toBe(true);
        expect(await world.awsCurrent("JWT_SECRET_KEY_PREVIOUS")).not.toBe(leakedJwt);
        expect(world.k8sSecret().DATABASE_URL).toBe(currentDb);
        // Both slots of every revoked group are fresh.
        const state = world.emu.outputs("staging").rotationState.value as { groups: Record<string, { generation: Record<string, string> }> };
        for (const g of groups) expect(state.groups[g].generation).toEqual({ a: "g3", b: "g2" });
        await session.end().catch(() => undefined);
        redisSession.disconnect();
    }, 120_000);
});
