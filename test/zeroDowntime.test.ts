/**
 * Zero downtime under load, against real PostgreSQL 15 and Redis started by the test. While clients holding the
 * *previous* credentials keep opening new connections (as pods not yet restarted do), 5 rotations run back to back
 * in the program's order. The two-slot model (the real slot state machine and the real appliers) must cause 0
 * authentication failures; the seed's single-slot overwrite, run the same way, must cause some — which shows the
 * test can fail. The figures are printed (`ZERO-DOWNTIME ...`) and quoted in the README.
 */
import Redis from "ioredis";
import { Client } from "pg";
import { describe, expect, it } from "vitest";
import { applyPostgresSlot, bootstrapPostgres, loginConfig } from "../hooks/postgresApply";
import { applyRedisSlots, bootstrapRedisUser, redisOptions } from "../hooks/redisApply";
import { Slot } from "../rotation/catalog";
import { GroupIntent, GroupTransition, isRefusal, transitionGroup } from "../rotation/slots";
import { GroupState } from "../rotation/state";
import { onDemandStamp } from "../rotation/stamp";
import { ACL_RULES, password, rotateIntent } from "./support/fixtures";
import { LoadOptions, LoadResult, LoadTarget, RotationStrategy, runLoad } from "./support/loadHarness";
import { useServers } from "./support/servers";

const OPTIONS: LoadOptions = { clients: 8, rotations: 5, rolloutMs: 400, settleMs: 150 };

const servers = useServers(async ({ pg, redis }) => {
    await bootstrapPostgres(pg.adminUrl, "buywhere_app", ["buywhere_app_a", "buywhere_app_b", "buywhere_app_single"], "buywhere");
    await bootstrapRedisUser(redis.adminUrl, "buywhere-api", ACL_RULES);
    await bootstrapRedisUser(redis.adminUrl, "buywhere-single", ACL_RULES);
});

interface Creds {
    readonly user: string;
    readonly password: string;
}

/** The two-slot strategy: the real state machine decides which slot to regenerate; `apply` makes it valid. */
function twoSlot(roles: Record<Slot, string>, apply: (slot: Slot, pw: Record<Slot, string>) => Promise<void>): RotationStrategy<Creds> {
    let clock = Date.UTC(2026, 0, 1);
    const stamp = () => onDemandStamp(new Date((clock += 3_600_000)));
    let serial = 0;
    const transition = (last: GroupState | undefined, intent: GroupIntent): GroupTransition => {
        const t = transitionGroup("database", last, intent, `g${++serial}`, new Date());
        if (isRefusal(t)) throw new Error(`the state machine refused: ${t.kind}`);
        return t;
    };
    const pw: Record<Slot, string> = { a: password(), b: password() };
    let state: GroupState;
    return {
        async initial() {
            state = transition(undefined, rotateIntent(stamp())).next;
            await apply("a", pw);
            await apply("b", pw);
            return { user: roles[state.active], password: pw[state.active] };
        },
        async rotate() {
            const t = transition(state, rotateIntent(stamp()));
            const [slot] = t.regenerate;
            pw[slot] = password(); // generate
            await apply(slot, pw); // apply at source
            state = t.next;
            return { user: roles[state.active], password: pw[state.active] };
        },
    };
}

/** The seed's way: one credential, overwritten in place. */
function singleSlot(user: string, overwrite: (pw: string) => Promise<void>): RotationStrategy<Creds> {
    const next = async () => {
        const pw = password();
        await overwrite(pw);
        return { user, password: pw };
    };
    return { initial: next, rotate: next };
}

function report(what: string, r: LoadResult): void {
    console.log(`ZERO-DOWNTIME ${what}: requests=${r.requests} stale-credential requests=${r.staleRequests} auth failures=${r.failures}`);
}

describe("zero downtime under load: PostgreSQL", () => {
    const clients = (): LoadTarget<Creds> => ({
        async request(creds) {
            const c = new Client(loginConfig(servers.pg.adminUrl, creds.user, creds.password));
            try {
                await c.connect();
                await c.query("SELECT 1");
                return "ok";
            } catch (err) {
                if ((err as { code?: string }).code === "28P01") return "auth-failed";
                throw err;
            } finally {
                await c.end().catch(() => undefined);
            }
        },
    });

    it("two slots (alternating roles): 5 rotations under load, 0 authentication failures", async () => {
        const roles = { a: "buywhere_app_a", b: "buywhere_app_b" };
        const result = await runLoad(clients(), twoSlot(roles, async (slot, pw) => void (await applyPostgresSlot(servers.pg.adminUrl, roles[slot], pw[slot]))), OPTIONS);
        report("postgres two-slot", result);
        expect(result.staleRequests).toBeGreaterThan(50); // pods really did keep using the previous credential
        expect(result.failures).toBe(0);
    });

    it("one slot overwritten in place (the seed's way): the same load fails", async () => {
        const result = await runLoad(clients(), singleSlot("buywhere_app_single", async (pw) => void (await applyPostgresSlot(servers.pg.adminUrl, "buywhere_app_single", pw))), OPTIONS);
        report("postgres single-slot", result);
        expect(result.failures).toBeGreaterThan(0);
    });
});

describe("zero downtime under load: Redis", () => {
    const clients = (): LoadTarget<Creds> => ({
        async request(creds) {
            const r = new Redis({ ...redisOptions(servers.redis.adminUrl), username: undefined, password: undefined, enableReadyCheck: false, enableOfflineQueue: true });
            r.on("error", () => undefined);
            try {
                await r.connect();
                try {
                    await r.call("AUTH", creds.user, creds.password);
                } catch (err) {
                    if (/WRONGPASS/.test((err as Error).message)) return "auth-failed";
                    throw err;
                }
                await r.set("rotation:probe", "1");
                await r.get("rotation:probe");
                return "ok";
            } finally {
                r.disconnect();
            }
        },
    });

    it("two slots (one ACL user, two passwords): 5 rotations under load, 0 authentication failures", async () => {
        const user = { a: "buywhere-api", b: "buywhere-api" };
        const result = await runLoad(clients(), twoSlot(user, async (_, pw) => void (await applyRedisSlots(servers.redis.adminUrl, "buywhere-api", [pw.a, pw.b]))), OPTIONS);
        report("redis two-slot", result);
        expect(result.staleRequests).toBeGreaterThan(50);
        expect(result.failures).toBe(0);
    });

    it("one password overwritten in place (the seed's way): the same load fails", async () => {
        const result = await runLoad(clients(), singleSlot("buywhere-single", async (pw) => void (await applyRedisSlots(servers.redis.adminUrl, "buywhere-single", [pw, pw]))), OPTIONS);
        report("redis single-slot", result);
        expect(result.failures).toBeGreaterThan(0);
    });
});
