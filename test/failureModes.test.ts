/**
 * Failure modes at the level of our own programs (the Pulumi engine cannot run here), against real PostgreSQL and
 * Redis started by the test:
 * - an interrupted rotation — failure after the source applier, before publishing — then a rerun with the same
 *   stamp: one consistent state, and no credential in use is ever invalidated;
 * - a failed health check: the run fails, the previous slot's credential still works, and `rollback` (the CLI's
 *   request through the same planner) restores service.
 */
import { randomBytes } from "node:crypto";
import { Server, createServer } from "node:http";
import { Client } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildRequest } from "../automation/request";
import { applyPostgresSlot, bootstrapPostgres, canLogIn, loginConfig } from "../hooks/postgresApply";
import { applyRedisSlots, bootstrapRedisUser, canAuth } from "../hooks/redisApply";
import { Slot } from "../rotation/catalog";
import { parseSettings } from "../rotation/config";
import { planRotation } from "../rotation/plan";
import { Postgres, startPostgres } from "./support/postgres";
import { runHookProcess } from "./support/hookProcess";
import { stackConfig } from "./support/pulumiProgram";
import { RedisServer, startRedis } from "./support/redis";

let pg: Postgres;
let redis: RedisServer;
const ROLES: Record<Slot, string> = { a: "buywhere_app_a", b: "buywhere_app_b" };
const password = () => randomBytes(30).toString("base64").replace(/[^A-Za-z0-9]/g, "").slice(0, 40);
const settings = parseSettings(stackConfig("staging"));
const NOW = new Date("2026-11-25T12:00:00Z");

beforeAll(async () => {
    [pg, redis] = await Promise.all([startPostgres(), startRedis()]);
    await bootstrapPostgres(pg.adminUrl, "buywhere_app", [ROLES.a, ROLES.b], "buywhere");
    await bootstrapRedisUser(redis.adminUrl, "buywhere-api", ["~*", "&*", "+@all", "-@admin", "-@dangerous"]);
}, 120_000);
afterAll(async () => {
    await pg?.stop();
    await redis?.stop();
});

describe("an interrupted rotation, then a rerun with the same stamp", () => {
    it("PostgreSQL: whether the rerun reuses the generated password or makes a new one, the role in use keeps working", async () => {
        const deployed = planRotation(settings, undefined, NOW);
        const pw: Record<Slot, string> = { a: password(), b: password() };
        for (const slot of ["a", "b"] as const) await applyPostgresSlot(pg.adminUrl, ROLES[slot], pw[slot]);
        const inUse = { role: ROLES[deployed.nextState.groups.database.active], password: pw[deployed.nextState.groups.database.active] };

        const request = buildRequest({ command: "rotate", services: ["database"], provider: "all", stamp: "2026-11-25T1030Z" }, settings, deployed.nextState, NOW);
        const attempt = planRotation(settings, deployed.nextState, NOW, request);
        const [slot] = attempt.groups.database.regenerate;
        expect(slot).toBe("b");
        const generated = password();
        await applyPostgresSlot(pg.adminUrl, ROLES[slot], generated); // applied at source...
        // ...and the run dies here, before anything is published. Pods still hold slot a:
        expect(await canLogIn(pg.adminUrl, inUse.role, inUse.password)).toBe(true);

        // The rerun plans the same transition from the same state: same slot, same keeper.
        const rerun = planRotation(settings, deployed.nextState, NOW, request);
        expect(rerun.groups.database.keepers).toEqual(attempt.groups.database.keepers);
        // Case 1: the replaced password was recorded, so the rerun applies the same value: nothing changes.
        expect((await applyPostgresSlot(pg.adminUrl, ROLES[slot], generated)).changed).toBe(false);
        // Case 2: it was not, so the rerun generates anew: slot b changes again (nobody was given the first value).
        const regenerated = password();
        expect((await applyPostgresSlot(pg.adminUrl, ROLES[slot], regenerated)).changed).toBe(true);
        // One consistent state: the slot to publish logs in, and the slot in use was never touched.
        expect(await canLogIn(pg.adminUrl, ROLES[rerun.groups.database.next.active], regenerated)).toBe(true);
        expect(await canLogIn(pg.adminUrl, inUse.role, inUse.password)).toBe(true);
    });

    it("Redis: a rerun after a failure between apply and publish keeps the password in use valid", async () => {
        const pw: Record<Slot, string> = { a: password(), b: password() };
        await applyRedisSlots(redis.adminUrl, "buywhere-api", [pw.a, pw.b]);
        const first = password();
        await applyRedisSlots(redis.adminUrl, "buywhere-api", [pw.a, first]); // slot b applied, then the run dies
        expect(await canAuth(redis.adminUrl, "buywhere-api", pw.a)).toBe(true);
        expect((await applyRedisSlots(redis.adminUrl, "buywhere-api", [pw.a, first])).changed).toBe(false); // same value: no change
        const again = password();
        expect((await applyRedisSlots(redis.adminUrl, "buywhere-api", [pw.a, again])).changed).toBe(true); // regenerated
        expect(await canAuth(redis.adminUrl, "buywhere-api", pw.a)).toBe(true);
        expect(await canAuth(redis.adminUrl, "buywhere-api", again)).toBe(true);
        expect(await canAuth(redis.adminUrl, "buywhere-api", first)).toBe(false);
    });
});

describe("a failed health check, then rollback", () => {
    /** The API under test: /health answers 200 only when a query works with the credential its pods hold. */
    let held: { role: string; password: string };
    let api: Server;
    let healthUrl: string;
    beforeAll(async () => {
        const admin = new Client({ connectionString: pg.adminUrl });
        await admin.connect();
        await admin.query("CREATE TABLE IF NOT EXISTS products (id int)");
        await admin.query("GRANT SELECT ON products TO buywhere_app");
        await admin.end();
        api = createServer(async (_, res) => {
            const c = new Client(loginConfig(pg.adminUrl, held.role, held.password));
            try {
                await c.connect();
                await c.query("SELECT count(*) FROM products");
                res.statusCode = 200;
            } catch {
                res.statusCode = 503;
            } finally {
                await c.end().catch(() => undefined);
                res.end();
            }
        });
        await new Promise<void>((r) => api.listen(0, "127.0.0.1", r));
        healthUrl = `http://127.0.0.1:${(api.address() as { port: number }).port}/health`;
    });
    afterAll(async () => new Promise((r) => api.close(r)));

    /** The health-check hook, exactly as the program runs it. */
    const healthCheck = () =>
        runHookProcess("healthCheck", {
            HEALTH_URLS: JSON.stringify([healthUrl]),
            HEALTH_ATTEMPTS: "3",
            HEALTH_INITIAL_BACKOFF_SECONDS: "0.05",
            HEALTH_MAX_BACKOFF_SECONDS: "0.1",
        });

    it("the run fails on health, the previous credential still works, and rollback restores service", async () => {
        const deployed = planRotation(settings, undefined, NOW);
        const pw: Record<Slot, string> = { a: password(), b: password() };
        for (const slot of ["a", "b"] as const) await applyPostgresSlot(pg.adminUrl, ROLES[slot], pw[slot]);
        held = { role: ROLES.a, password: pw.a };
        expect((await healthCheck()).code).toBe(0);

        // Rotate database: slot b is regenerated and applied — but its role was broken by hand (no longer in the
        // group role, so it cannot read the tables), as a misconfiguration would.
        const rotation = planRotation(settings, deployed.nextState, NOW, buildRequest({ command: "rotate", services: ["database"], provider: "all" }, settings, deployed.nextState, NOW));
        const [slot] = rotation.groups.database.regenerate;
        pw[slot] = password();
        await applyPostgresSlot(pg.adminUrl, ROLES[slot], pw[slot]);
        const admin = new Client({ connectionString: pg.adminUrl });
        await admin.connect();
        await admin.query(`REVOKE buywhere_app FROM ${ROLES[slot]}`);
        await admin.end();
        const published = rotation.secrets.find((s) => s.spec.name === "DATABASE_URL")!.slot.k8s;
        held = { role: ROLES[published], password: pw[published] }; // published and rolled out
        const failed = await healthCheck();
        expect(failed.code).toBe(1); // the up fails here
        expect(failed.stderr).toContain("health check failed");

        // The previous slot's credential still works...
        expect(await canLogIn(pg.adminUrl, ROLES.a, pw.a)).toBe(true);
        // ...and `rollback --service database` (Pulumi keeps the outputs a failed update's program registered, so the
        // state records the rotation) makes it the published one again, with nothing regenerated.
        const rollback = planRotation(
            settings,
            rotation.nextState,
            NOW,
            buildRequest({ command: "rollback", services: ["database"], provider: "all" }, settings, rotation.nextState, NOW),
        );
        expect(rollback.groups.database.change).toBe("rollback");
        expect(rollback.groups.database.regenerate).toEqual([]);
        const back = rollback.secrets.find((s) => s.spec.name === "DATABASE_URL")!.slot.k8s;
        held = { role: ROLES[back], password: pw[back] };
        expect(back).toBe("a");
        expect((await healthCheck()).code).toBe(0);
    });
});
