/**
 * Failure modes at the level of our own programs (the Pulumi engine cannot run here), against real PostgreSQL and
 * Redis started by the test:
 * - an interrupted rotation — failure after the source applier, before publishing — then a rerun with the same
 *   stamp: one consistent state, and no credential in use is ever invalidated;
 * - a failed health check: the run fails, the previous slot's credential still works, and `rollback` (the CLI's
 *   request through the real program) restores service. Each `up` is the real program under mocks, its commands
 *   and published values played against the real servers in the program's order; what the pods hold and what the
 *   health gate checks come from the program, never from the test.
 */
import { createHash } from "node:crypto";
import { Server, createServer } from "node:http";
import { Client } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildRequest } from "../automation/request";
import { applyPostgresSlot, bootstrapPostgres, canLogIn } from "../hooks/postgresApply";
import { applyRedisSlots, bootstrapRedisUser, canAuth } from "../hooks/redisApply";
import { Slot } from "../rotation/catalog";
import { RotationRequest, parseSettings } from "../rotation/config";
import { hookCommand } from "../rotation/hooks";
import { planRotation } from "../rotation/plan";
import { password } from "./support/fixtures";
import { HookResult, runHookProcess } from "./support/hookProcess";
import { ADMIN_ENV, Registration, Run, T, changedResources, ofType, runProgram, stackConfig } from "./support/pulumiProgram";
import { useServers } from "./support/servers";

const settings = parseSettings(stackConfig("staging"));
const ROLES = settings.database.roles;
const USER = settings.redis.user;
const NOW = new Date("2026-11-25T12:00:00Z");

const servers = useServers(async ({ pg, redis }) => {
    await bootstrapPostgres(pg.adminUrl, settings.database.groupRole, [ROLES.a, ROLES.b], settings.database.name);
    await bootstrapRedisUser(redis.adminUrl, USER, settings.redis.aclRules);
});

describe("an interrupted rotation, then a rerun with the same stamp", () => {
    it("PostgreSQL: whether the rerun reuses the generated password or makes a new one, the role in use keeps working", async () => {
        const { pg } = servers;
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

        // The rerun plans the same transition from the same state (the state was not saved).
        // Case 1: the replaced password was recorded, so the rerun applies the same value: nothing changes.
        expect((await applyPostgresSlot(pg.adminUrl, ROLES[slot], generated)).changed).toBe(false);
        // Case 2: it was not, so the rerun generates anew: slot b changes again (nobody was given the first value).
        const regenerated = password();
        expect((await applyPostgresSlot(pg.adminUrl, ROLES[slot], regenerated)).changed).toBe(true);
        // One consistent state: the slot to publish logs in, and the slot in use was never touched.
        expect(await canLogIn(pg.adminUrl, ROLES[attempt.groups.database.next.active], regenerated)).toBe(true);
        expect(await canLogIn(pg.adminUrl, inUse.role, inUse.password)).toBe(true);
    });

    it("Redis: a rerun after a failure between apply and publish keeps the password in use valid", async () => {
        const { redis } = servers;
        const pw: Record<Slot, string> = { a: password(), b: password() };
        await applyRedisSlots(redis.adminUrl, USER, [pw.a, pw.b]);
        const first = password();
        await applyRedisSlots(redis.adminUrl, USER, [pw.a, first]); // slot b applied, then the run dies
        expect(await canAuth(redis.adminUrl, USER, pw.a)).toBe(true);
        expect((await applyRedisSlots(redis.adminUrl, USER, [pw.a, first])).changed).toBe(false); // same value: no change
        const again = password();
        expect((await applyRedisSlots(redis.adminUrl, USER, [pw.a, again])).changed).toBe(true); // regenerated
        expect(await canAuth(redis.adminUrl, USER, pw.a)).toBe(true);
        expect(await canAuth(redis.adminUrl, USER, again)).toBe(true);
        expect(await canAuth(redis.adminUrl, USER, first)).toBe(false);
    });
});

describe("a failed health check, then rollback", () => {
    /** True when a query works over `url` (a published DATABASE_URL). */
    async function queries(url: string): Promise<boolean> {
        const c = new Client({ connectionString: url });
        try {
            await c.connect();
            await c.query("SELECT count(*) FROM products");
            return true;
        } catch {
            return false;
        } finally {
            await c.end().catch(() => undefined);
        }
    }

    /** The DATABASE_URL the API's pods were last started with; undefined until the first rollout. */
    let held: string | undefined;
    let api: Server;
    let healthUrl: string;
    beforeAll(async () => {
        const admin = new Client({ connectionString: servers.pg.adminUrl });
        await admin.connect();
        await admin.query("CREATE TABLE IF NOT EXISTS products (id int)");
        await admin.query(`GRANT SELECT ON products TO ${settings.database.groupRole}`);
        await admin.end();
        // The API under test: /health answers 200 only when a query works with the credential its pods hold.
        api = createServer(async (_, res) => {
            res.statusCode = held !== undefined && (await queries(held)) ? 200 : 503;
            res.end();
        });
        await new Promise<void>((r) => api.listen(0, "127.0.0.1", r));
        healthUrl = `http://127.0.0.1:${(api.address() as { port: number }).port}/health`;
    });
    afterAll(async () => new Promise((r) => api.close(r)));

    interface Up {
        readonly run: Run;
        /** Names of the PostgreSQL applier commands this `up` ran. */
        readonly applied: string[];
        /** The DATABASE_URL the Kubernetes Secret holds after this `up`. */
        readonly published: string;
        /** The health gate's result, if this `up` ran it. */
        readonly health?: HookResult;
    }

    /**
     * One `pulumi up` of the staging stack, pointed at the test's PostgreSQL and API: the real program registers
     * its resources, then their effects are played in the program's order — the PostgreSQL applier commands whose
     * inputs changed (Pulumi reruns a Command when they do), the Secret write, the rollout of the API's pods, the
     * health gate — each exactly as the program declared it.
     */
    async function up(previous: Up | undefined, request?: RotationRequest): Promise<Up> {
        const { pg } = servers;
        const run = await runProgram({
            stack: "staging",
            lastState: previous?.run.outputs.rotationState,
            config: {
                "rotation:database": { ...settings.database, host: pg.host, port: pg.port, params: { sslmode: "disable" } },
                "rotation:health": { urls: [healthUrl], attempts: 2, requiredSuccesses: 1, initialBackoffSeconds: 1, maxBackoffSeconds: 1, timeoutSeconds: 5 },
            },
            env: { ...ADMIN_ENV, ROTATION_PG_ADMIN_URL: pg.adminUrl, ...(request ? { ROTATION_REQUEST: JSON.stringify(request) } : {}) },
            now: NOW,
        });
        const changed = new Set(previous ? changedResources(previous.run, run) : run.registrations.map((r) => r.name));
        const commandsOf = (hook: Parameters<typeof hookCommand>[0]) => ofType(run, T.command).filter((c) => c.inputs.create === hookCommand(hook));

        const applied: string[] = [];
        for (const applier of commandsOf("postgresApply").filter((c) => changed.has(c.name))) {
            const result = await runHookProcess("postgresApply", { ...applier.inputs.environment, ROTATION_PG_ADMIN_URL: pg.adminUrl });
            expect(result.code, result.stderr).toBe(0);
            applied.push(applier.name);
        }
        const [secret] = ofType(run, T.secretPatch);
        const published = Buffer.from(secret.inputs.data.DATABASE_URL, "base64").toString("utf8");
        const rollout = ofType(run, T.deploymentPatch).find((d: Registration) => d.inputs.metadata.name === "buywhere-api")!;
        if (changed.has(rollout.name)) held = published;
        const [gate] = commandsOf("healthCheck");
        const health = changed.has(gate.name) ? await runHookProcess("healthCheck", gate.inputs.environment) : undefined;
        return { run, applied, published, health };
    }

    const loginOf = (url: string) => ({ user: decodeURIComponent(new URL(url).username), password: decodeURIComponent(new URL(url).password) });
    /** The URL with its password replaced by a digest: comparable, and a failed assertion prints no credential. */
    const redacted = (url: string | undefined) => {
        if (url === undefined) return undefined;
        const u = new URL(url);
        u.password = `sha256-${createHash("sha256").update(u.password).digest("hex").slice(0, 12)}`;
        return u.toString();
    };

    it("the run fails on health, the previous credential still works, and rollback publishes it again, regenerating nothing", async () => {
        const { pg } = servers;
        const deployed = await up(undefined);
        expect(deployed.applied.sort()).toEqual(["database-apply-a", "database-apply-b"]);
        expect(loginOf(deployed.published).user).toBe(ROLES.a);
        expect(deployed.health?.code).toBe(0);

        // Slot b's role is broken by hand (no longer in the group role, so it cannot read the tables), as a
        // misconfiguration would; then `rotate --service database` regenerates and applies slot b and publishes it.
        const admin = new Client({ connectionString: pg.adminUrl });
        await admin.connect();
        await admin.query(`REVOKE ${settings.database.groupRole} FROM ${ROLES.b}`);
        await admin.end();
        const rotateRequest = buildRequest({ command: "rotate", services: ["database"], provider: "all" }, settings, deployed.run.outputs.rotationState, NOW);
        const rotation = await up(deployed, rotateRequest);
        expect(rotation.applied).toEqual(["database-apply-b"]);
        expect(loginOf(rotation.published).user).toBe(ROLES.b);
        expect(redacted(held)).toBe(redacted(rotation.published)); // published and rolled out
        expect(rotation.health?.code).toBe(1); // the up fails here
        expect(rotation.health?.stderr).toContain("health check failed");

        // The previous slot's credential, as published before the rotation, still works...
        const previous = loginOf(deployed.published);
        expect(await canLogIn(pg.adminUrl, previous.user, previous.password)).toBe(true);
        expect(await queries(deployed.published)).toBe(true);

        // ...and `rollback --service database` (Pulumi keeps the outputs a failed update's program registered, so the
        // state records the rotation) publishes exactly it again: nothing regenerated, nothing applied at source,
        // the pods roll back and the health gate passes.
        const rollbackRequest = buildRequest({ command: "rollback", services: ["database"], provider: "all" }, settings, rotation.run.outputs.rotationState, NOW);
        const rollback = await up(rotation, rollbackRequest);
        const regenerated = changedResources(rotation.run, rollback.run).filter((name) => ofType(rollback.run, T.password).some((p) => p.name === name));
        expect(regenerated).toEqual([]);
        expect(rollback.applied).toEqual([]);
        expect(redacted(rollback.published)).toBe(redacted(deployed.published));
        expect(redacted(held)).toBe(redacted(deployed.published));
        expect(rollback.health?.code).toBe(0);
        // Slot b's credential stayed valid at its source throughout: the rollback invalidated nothing.
        const rotated = loginOf(rotation.published);
        expect(await canLogIn(pg.adminUrl, rotated.user, rotated.password)).toBe(true);
    });
});
