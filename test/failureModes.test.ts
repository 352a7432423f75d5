/**
 * Failure modes, against real PostgreSQL and Redis started by the test. The Pulumi engine cannot run here, so each
 * `pulumi up` is the real program under mocks whose declared effects are played against the real servers in the
 * program's order, each as an engine would (a resource runs when its inputs differ from what the engine recorded for
 * it): the PostgreSQL applier commands, the Kubernetes Secret write, the rollout of the API's pods, the health gate.
 * What the pods hold, what the gate checks and what the next run reads back all come from the program, never from
 * the test.
 * - an interrupted rotation (failure after the source applier, before publishing), then a rerun: it resumes the same
 *   target, and no credential in use is ever invalidated;
 * - a failed health check: the run fails, the previous slot's credential still works, and `rollback` (the CLI's
 *   request) publishes it again without regenerating anything;
 * - the Redis applier's side of an interrupted run.
 */
import { createHash } from "node:crypto";
import { Server, createServer } from "node:http";
import { Client } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requestFor } from "../automation/request";
import { HookName } from "../hooks/contracts";
import { bootstrapPostgres, canLogIn, loginConfig } from "../hooks/postgresApply";
import { applyRedisSlots, bootstrapRedisUser, canAuth } from "../hooks/redisApply";
import { Slot } from "../rotation/catalog";
import { hookCommand } from "../rotation/components/hookRun";
import { RotationRequest, encodeRequest } from "../rotation/request";
import { parseSettings } from "../rotation/settings";
import { password } from "./support/fixtures";
import { postgresAnswers } from "./support/logins";
import { HookResult, runHookProcess } from "./support/hookProcess";
import { ADMIN_ENV, Registration, Run, T, ofType, runProgram, stackConfig } from "./support/pulumiProgram";
import { useServers } from "./support/servers";

const settings = parseSettings(stackConfig("staging"));
const ROLES = settings.database.roles;
const USER = settings.redis.user;
const NOW = new Date("2026-11-25T12:00:00Z");
const rotateDatabase = requestFor({ command: "rotate", stack: "staging", services: ["database"], provider: "all" });
const rollbackDatabase = requestFor({ command: "rollback", stack: "staging", services: ["database"], provider: "all" });

const servers = useServers(async ({ pg, redis }) => {
    await bootstrapPostgres(pg.adminUrl, settings.database.groupRole, [ROLES.a, ROLES.b], settings.database.name);
    await bootstrapRedisUser(redis.adminUrl, USER, settings.redis.aclRules);
});

const loginOf = (url: string) => ({ user: decodeURIComponent(new URL(url).username), password: decodeURIComponent(new URL(url).password) });

/**
 * True when a query works with the login in `url` (a published DATABASE_URL). It names the stack's database host and
 * requires TLS; the role and password in it are what count, so it is tried against the test's server.
 */
async function queries(url: string): Promise<boolean> {
    const { user, password } = loginOf(url);
    return postgresAnswers(loginConfig(servers.pg.adminUrl, user, password), "SELECT count(*) FROM products");
}

/** The URL with its password replaced by a digest: comparable, and a failed assertion prints no credential. */
const redacted = (url: string | undefined) => {
    if (url === undefined) return undefined;
    const u = new URL(url);
    u.password = `sha256-${createHash("sha256").update(u.password).digest("hex").slice(0, 12)}`;
    return u.toString();
};

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
afterAll(async () => new Promise((r) => api?.close(r)));

/** The stack outputs the next run reads back through its StackReference. */
interface Kept {
    readonly rotationState?: any;
    readonly rotationAttempt?: any;
}

interface Up {
    readonly run: Run;
    /** The PostgreSQL applier commands this `up` ran, with what the hook reported. */
    readonly applied: { readonly name: string; readonly stderr: string }[];
    /** The DATABASE_URL the Kubernetes Secret holds after this `up` (undefined if it never got that far). */
    readonly published?: string;
    /** The health gate's result, if this `up` ran it. */
    readonly health?: HookResult;
    /** The stack outputs as the engine keeps them after this `up`. */
    readonly kept: Kept;
    /** Per resource name, the inputs the engine last recorded a successful step with. */
    readonly recorded: ReadonlyMap<string, string>;
}

interface UpOptions {
    readonly request?: RotationRequest;
    /** The run dies right after the source appliers, before anything is published. */
    readonly dieAfterAppliers?: boolean;
    /** ...and before the engine recorded the appliers' success (they had changed the source already). */
    readonly appliersUnrecorded?: boolean;
}

/** One `pulumi up` of the staging stack, pointed at the test's PostgreSQL and API (see the file's header). */
async function up(previous: Up | undefined, opts: UpOptions = {}): Promise<Up> {
    const { pg } = servers;
    const run = await runProgram({
        stack: "staging",
        lastState: previous?.kept.rotationState ?? undefined,
        lastAttempt: previous?.kept.rotationAttempt ?? undefined,
        config: {
            "rotation:health": { urls: [healthUrl], attempts: 2, requiredSuccesses: 1, initialBackoffSeconds: 1, maxBackoffSeconds: 1, timeoutSeconds: 5 },
        },
        env: { ...ADMIN_ENV, ROTATION_PG_ADMIN_URL: pg.adminUrl, ...(opts.request ? { ROTATION_REQUEST: encodeRequest(opts.request) } : {}) },
        now: NOW,
    });
    const recorded = new Map(previous?.recorded);
    const due = (r: Registration) => recorded.get(r.name) !== JSON.stringify(r.inputs);
    const record = (r: Registration) => recorded.set(r.name, JSON.stringify(r.inputs));
    const commandsOf = (hook: HookName) => ofType(run, T.command).filter((c) => c.inputs.create === hookCommand(hook));
    // What the engine keeps when an update fails: the old outputs, with the last attempt record the program sent
    // merged over them (see recordAttempt in rotation/program.ts): the one after its new credentials were created,
    // since here the failures come later.
    const failed = (): Up => {
        const early = run.stackOutputEvents.filter((e) => e.outputs.rotationAttempt).at(-1);
        return { run, applied, published, health, kept: { ...previous?.kept, ...early?.outputs }, recorded };
    };

    const applied: { name: string; stderr: string }[] = [];
    for (const applier of commandsOf("postgresApply").filter(due)) {
        const result = await runHookProcess("postgresApply", { ...applier.inputs.environment, ROTATION_PG_ADMIN_URL: pg.adminUrl });
        expect(result.code, result.stderr).toBe(0);
        applied.push({ name: applier.name, stderr: result.stderr });
        if (!opts.appliersUnrecorded) record(applier);
    }
    let published: string | undefined;
    let health: HookResult | undefined;
    if (opts.dieAfterAppliers) return failed();

    const [secret] = ofType(run, T.secretPatch);
    if (due(secret)) record(secret);
    published = Buffer.from(secret.inputs.data.DATABASE_URL, "base64").toString("utf8");
    const rollout = ofType(run, T.deploymentPatch).find((d) => d.inputs.metadata.name === "buywhere-api")!;
    if (due(rollout)) {
        held = published;
        record(rollout);
    }
    const [gate] = commandsOf("healthCheck");
    if (due(gate)) {
        health = await runHookProcess("healthCheck", gate.inputs.environment);
        if (health.code !== 0) return failed();
        record(gate);
    }
    return { run, applied, published, health, kept: { rotationState: run.outputs.rotationState, rotationAttempt: run.outputs.rotationAttempt }, recorded };
}

describe("an interrupted rotation, then a rerun", () => {
    it.each([
        ["the engine recorded the applier's success", false, []],
        ["the run died before the engine recorded the applier", true, ["database-apply-b"]],
    ])("%s: the rerun resumes the same target, publishes slot b, and the credential in use keeps working throughout", async (_, unrecorded, reapplied) => {
        const { pg } = servers;
        const deployed = await up(undefined);
        expect(deployed.health?.code).toBe(0);
        const inUse = loginOf(deployed.published!);
        expect(inUse.user).toBe(ROLES.a);

        const attempt = await up(deployed, { request: rotateDatabase, dieAfterAppliers: true, appliersUnrecorded: unrecorded });
        expect(attempt.applied.map((a) => a.name)).toEqual(["database-apply-b"]); // applied at source, then the run died
        expect(attempt.kept.rotationState).toEqual(deployed.kept.rotationState); // nothing committed...
        expect(attempt.kept.rotationAttempt).toMatchObject({ from: deployed.kept.rotationState.serial }); // ...the attempt recorded
        expect(redacted(held)).toBe(redacted(deployed.published)); // pods still hold slot a, which still works
        expect(await canLogIn(pg.adminUrl, inUse.user, inUse.password)).toBe(true);

        // A plain `pulumi up` resumes the unfinished run: the same generation for slot b, so the same credential. An
        // applier the engine recorded does not run again; one it did not runs again and finds the value in place.
        const rerun = await up(attempt);
        expect(rerun.run.logs).toContain("resuming an unfinished run");
        expect(rerun.applied.map((a) => a.name)).toEqual(reapplied);
        for (const a of rerun.applied) expect(a.stderr).toContain("nothing to change");
        expect(loginOf(rerun.published!).user).toBe(ROLES.b);
        expect(redacted(held)).toBe(redacted(rerun.published));
        expect(rerun.health?.code).toBe(0);
        expect(rerun.kept.rotationAttempt).toBeNull();
        expect(rerun.kept.rotationState).toEqual(attempt.kept.rotationAttempt.target); // committed: exactly the attempt's target
        // The previous slot stays valid for pods not yet restarted.
        expect(await canLogIn(pg.adminUrl, inUse.user, inUse.password)).toBe(true);
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
    it("the run fails on health, the previous credential still works, and rollback publishes it again, regenerating nothing", async () => {
        const { pg } = servers;
        const deployed = await up(undefined);
        expect(loginOf(deployed.published!).user).toBe(ROLES.a);
        expect(deployed.health?.code).toBe(0);

        // Slot b's role is broken by hand (no longer in the group role, so it cannot read the tables), as a
        // misconfiguration would; then `rotate --service database` regenerates and applies slot b and publishes it.
        const admin = new Client({ connectionString: pg.adminUrl });
        await admin.connect();
        await admin.query(`REVOKE ${settings.database.groupRole} FROM ${ROLES.b}`);
        try {
            const rotation = await up(deployed, { request: rotateDatabase });
            expect(rotation.applied.map((a) => a.name)).toEqual(["database-apply-b"]);
            expect(loginOf(rotation.published!).user).toBe(ROLES.b);
            expect(redacted(held)).toBe(redacted(rotation.published)); // published and rolled out
            expect(rotation.health?.code).toBe(1); // the up fails here
            expect(rotation.health?.stderr).toContain("health check failed");
            expect(rotation.kept.rotationState).toEqual(deployed.kept.rotationState); // nothing committed

            // The previous slot's credential, as published before the rotation, still works...
            const previous = loginOf(deployed.published!);
            expect(await canLogIn(pg.adminUrl, previous.user, previous.password)).toBe(true);
            expect(await queries(deployed.published!)).toBe(true);

            // ...and `rollback --service database` undoes the unfinished run: it publishes exactly that credential
            // again; nothing is regenerated or applied at source; the pods roll back and the health gate passes.
            const rollback = await up(rotation, { request: rollbackDatabase });
            expect(rollback.run.logs).toContain("rolling back an unfinished run");
            const passwords = (u: Up) => ofType(u.run, T.password).map((p) => [p.name, p.inputs.keepers]);
            expect(passwords(rollback)).toEqual(passwords(rotation));
            expect(rollback.applied).toEqual([]);
            expect(redacted(rollback.published)).toBe(redacted(deployed.published));
            expect(redacted(held)).toBe(redacted(deployed.published));
            expect(rollback.health?.code).toBe(0);
            expect(rollback.kept.rotationAttempt).toBeNull();
            expect(rollback.kept.rotationState.groups.database.active).toBe("a");
            // Slot b's credential stayed valid at its source throughout: the rollback invalidated nothing.
            const rotated = loginOf(rotation.published!);
            expect(await canLogIn(pg.adminUrl, rotated.user, rotated.password)).toBe(true);
        } finally {
            await admin.query(`GRANT ${settings.database.groupRole} TO ${ROLES.b}`);
            await admin.end();
        }
    });
});
