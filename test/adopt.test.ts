/**
 * Onboarding a live environment (issue 10): `adopt`, then two rotations, under the ENGINE EMULATOR (not Pulumi; see
 * test/support/engineEmulator.ts) with the real program and real servers: moto holds the legacy values in Secrets
 * Manager, the emulated cluster's Secret holds the same, PostgreSQL has a legacy application user that owns a table,
 * Redis has the ACL user with its legacy password, the Typesense keys double a legacy key.
 *
 * Clients holding the legacy credentials run under load through adopt and the first rotation: 0 authentication
 * failures. The second rotation retires the adopted values: the legacy Redis password is rejected after it.
 */
import { CreateSecretCommand, ListSecretVersionIdsCommand, PutSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import Redis from "ioredis";
import { Client } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GROUPS } from "../rotation/catalog";
import { stackConfig } from "./support/pulumiProgram";
import { AWS_PREFIX, CONTEXT, NAMESPACE, RotationWorld, SECRET_NAME, startRotationWorld } from "./support/rotationWorld";

const NOV = new Date("2026-11-25T12:00:00Z");
const DEC = new Date("2026-12-02T12:00:00Z");
const JAN = new Date("2027-01-04T12:00:00Z");

const LEGACY_USER = "buywhere_legacy";
const LEGACY_PG_PASSWORD = "LegacyPg0000000000000000000000000000001";
const LEGACY_REDIS_PASSWORD = "LegacyRedis000000000000000000000000001";
const LEGACY_JWT = "legacy-jwt-signing-key-0000000000000000000000000000000000000000001";
const LEGACY_API_KEY = "legacy-api-key-00000000000000000000000000000001";
const LEGACY_TYPESENSE = "LegacyTypesense0000000000000000000000001";

/** The R2 token in use before adoption: id = R2's access key id, SHA-256 of its value = the secret access key. */
let legacyToken: { id: string; secretAccessKey: string };

/** The values in use before adoption, by secret name (what the seed system left in both stores). */
function legacyValues(world: RotationWorld): Record<string, string> {
    const redisPort = new URL(world.redis.adminUrl).port;
    // The seed's ten secrets: no POSTGRES_USER (the user is DATABASE_URL's), no *_PREVIOUS.
    return {
        POSTGRES_PASSWORD: LEGACY_PG_PASSWORD,
        // The seed's own URL shapes: not what the program would compose (another parameter order), kept verbatim.
        DATABASE_URL: `postgresql://${LEGACY_USER}:${LEGACY_PG_PASSWORD}@db.internal:5432/buywhere?application_name=legacy&sslmode=require`,
        DATABASE_REPLICA_URL: `postgresql://${LEGACY_USER}:${LEGACY_PG_PASSWORD}@db-ro.internal:5432/buywhere?sslmode=require`,
        PGBOUNCER_URL: `postgresql://${LEGACY_USER}:${LEGACY_PG_PASSWORD}@pgbouncer.internal:6432/buywhere?sslmode=require`,
        REDIS_URL: `rediss://buywhere-api:${LEGACY_REDIS_PASSWORD}@cache.internal:${redisPort}/0`,
        JWT_SECRET_KEY: LEGACY_JWT,
        BUYWHERE_API_KEY: LEGACY_API_KEY,
        R2_ACCESS_KEY_ID: legacyToken.id,
        R2_SECRET_ACCESS_KEY: legacyToken.secretAccessKey,
        TYPESENSE_API_KEY: LEGACY_TYPESENSE,
    };
}

/** Puts the legacy values in Secrets Manager (AWSCURRENT) and the Kubernetes Secret, and returns each AWS version id. */
async function seedLegacy(world: RotationWorld, values: Record<string, string>, k8sOverride: Record<string, string | undefined> = {}): Promise<Record<string, string>> {
    const versions: Record<string, string> = {};
    for (const [name, value] of Object.entries(values)) {
        const id = `${AWS_PREFIX}${name}`;
        const put = await world.sm
            .send(new PutSecretValueCommand({ SecretId: id, SecretString: value }))
            .catch(async () => world.sm.send(new CreateSecretCommand({ Name: id, SecretString: value })));
        versions[name] = put.VersionId!;
    }
    const data = { ...values, ...k8sOverride };
    world.emu.kubernetes.put(CONTEXT, {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: SECRET_NAME, namespace: NAMESPACE },
        type: "Opaque",
        data: Object.fromEntries(
            Object.entries({ SENTRY_DSN: "https://sentry.example/1", ...data })
                .filter(([, v]) => v !== undefined)
                .map(([k, v]) => [k, Buffer.from(v!, "utf8").toString("base64")]),
        ),
    });
    return versions;
}

async function versionCount(world: RotationWorld, name: string): Promise<number> {
    const r = await world.sm.send(new ListSecretVersionIdsCommand({ SecretId: `${AWS_PREFIX}${name}`, IncludeDeprecated: true }));
    return r.Versions?.length ?? 0;
}

/** Legacy clients: log in to PostgreSQL as the legacy user (read and write its table) and AUTH to Redis, in a loop. */
function legacyLoad(world: RotationWorld) {
    const failures: string[] = [];
    let attempts = 0;
    let running = true;
    const redisPort = Number(new URL(world.redis.adminUrl).port);
    const pgLoop = (async () => {
        while (running) {
            attempts++;
            const c = new Client({ host: "127.0.0.1", port: world.pg.port, user: LEGACY_USER, password: LEGACY_PG_PASSWORD, database: "buywhere" });
            c.on("error", () => undefined);
            try {
                await c.connect();
                await c.query("INSERT INTO legacy_orders (note) VALUES ('load')");
                await c.query("SELECT count(*) FROM legacy_orders");
            } catch (err) {
                failures.push(`postgres: ${(err as Error).message}`);
            } finally {
                await c.end().catch(() => undefined);
            }
            await new Promise((r) => setTimeout(r, 20));
        }
    })();
    const redisLoop = (async () => {
        while (running) {
            attempts++;
            const r = new Redis({ host: "127.0.0.1", port: redisPort, lazyConnect: true, enableReadyCheck: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
            r.on("error", () => undefined);
            try {
                await r.connect();
                await r.call("AUTH", "buywhere-api", LEGACY_REDIS_PASSWORD);
                await r.set("legacy-load", "1");
            } catch (err) {
                failures.push(`redis: ${(err as Error).message}`);
            } finally {
                r.disconnect();
            }
            await new Promise((r) => setTimeout(r, 20));
        }
    })();
    return {
        failures,
        get attempts() {
            return attempts;
        },
        async stop() {
            running = false;
            await Promise.all([pgLoop, redisLoop]);
        },
    };
}

const ADOPTING: Record<string, unknown> = { "rotation:firstDeployment": false };

/** The resource types a run created, but the root stack (which the engine registers before the program runs). */
function created(r: { steps: readonly { type: string; op: string }[] }): string[] {
    return r.steps.filter((s) => s.op === "create" && s.type !== "pulumi:pulumi:Stack").map((s) => s.type);
}

describe("adopt an environment in use, then rotate twice (engine emulator, real PostgreSQL/Redis/moto, Typesense keys double)", () => {
    let world: RotationWorld;
    let legacyKeyId: number;
    beforeAll(async () => {
        world = await startRotationWorld({ deployments: 2 });
        const admin = new Client({ connectionString: world.pg.adminUrl });
        await admin.connect();
        try {
            await admin.query(`CREATE ROLE ${LEGACY_USER} LOGIN PASSWORD '${LEGACY_PG_PASSWORD}'`);
            await admin.query(`CREATE TABLE legacy_orders (id serial PRIMARY KEY, note text)`);
            await admin.query(`ALTER TABLE legacy_orders OWNER TO ${LEGACY_USER}`);
            // What bootstrap's migration does for the slot roles (issue 10 item 3): the group role may use the table.
            await admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON legacy_orders TO buywhere_app`);
            await admin.query(`GRANT USAGE ON SEQUENCE legacy_orders_id_seq TO buywhere_app`);
        } finally {
            await admin.end();
        }
        const redis = new Redis(world.redis.adminUrl);
        await redis.call("ACL", "SETUSER", "buywhere-api", "on", "resetpass", `>${LEGACY_REDIS_PASSWORD}`);
        redis.disconnect();
        // The legacy Typesense key, registered by hand long ago (POST /keys with the admin key).
        const res = await fetch(`${world.typesense.url}/keys`, {
            method: "POST",
            headers: { "X-TYPESENSE-API-KEY": world.typesense.adminKey, "Content-Type": "application/json" },
            body: JSON.stringify({ description: "buywhere api (legacy)", value: LEGACY_TYPESENSE, actions: ["documents:search"], collections: ["*"] }),
        });
        legacyKeyId = ((await res.json()) as { id: number }).id;
        // The stack file names what adopt takes over: the legacy login (retired with opt-in) and the legacy key's id.
        ADOPTING["rotation:database"] = { ...(stackConfig("staging")["rotation:database"] as object), legacyUser: LEGACY_USER, retireLegacyLogin: true };
        ADOPTING["rotation:typesense"] = { ...(world.config["rotation:typesense"] as object), legacyKeyId };
        // The legacy R2 token: an account token the seed system's operators issued (in the Cloudflare double).
        const r2 = (world.config["rotation:r2"] ?? stackConfig("staging")["rotation:r2"]) as { accountId: string };
        const issued = world.emu.cloudflare.issue(r2.accountId, "buywhere r2 (legacy)", []);
        legacyToken = { id: issued.token.id, secretAccessKey: issued.token.valueSha256 };
        ADOPTING["rotation:r2"] = { ...r2, legacyTokenId: issued.token.id };
    }, 120_000);
    afterAll(async () => world?.stop());

    it("refuses any run on a stack without state unless it adopts or says nothing is in use; adopt refuses stores that disagree", async () => {
        await seedLegacy(world, legacyValues(world));
        const plain = await world.up("first contact", { now: NOV, config: ADOPTING });
        expect(plain.result).toBe("failed");
        expect(plain.error).toMatch(/^the stack has no recorded state, and a first deployment would replace every credential in use: run `secrets-rotation adopt --stack <stack>`/);
        expect(created(plain)).toEqual([]);

        const rotate = await world.up("rotate jwt on first contact", { now: NOV, config: ADOPTING, request: { rotate: { groups: ["jwt"], scheduled: false } } });
        expect(rotate.result).toBe("failed");
        expect(rotate.error).toMatch(/no recorded state/);

        // The stores disagree on JWT_SECRET_KEY: refused, naming the secret and both versions, never a value.
        const versions = await seedLegacy(world, legacyValues(world), { JWT_SECRET_KEY: "something-else" });
        const mismatch = await world.up("adopt mismatch", { now: NOV, config: ADOPTING, request: { adopt: {} } });
        expect(mismatch.result).toBe("failed");
        expect(mismatch.error).toContain(`JWT_SECRET_KEY differs between \`${AWS_PREFIX}JWT_SECRET_KEY\` (version ${versions.JWT_SECRET_KEY}) and Kubernetes Secret ${NAMESPACE}/${SECRET_NAME} (resourceVersion`);
        expect(mismatch.error).not.toContain(LEGACY_JWT);
        expect(mismatch.error).not.toContain("something-else");
        // An adopt run registers its providers before it reads (no side effect anywhere), and nothing else.
        expect(created(mismatch).filter((t) => !t.startsWith("pulumi:providers:"))).toEqual([]);

        // A key missing from the Kubernetes Secret.
        await seedLegacy(world, legacyValues(world), { BUYWHERE_API_KEY: undefined });
        const missing = await world.up("adopt missing", { now: NOV, config: ADOPTING, request: { adopt: {} } });
        expect(missing.error).toMatch(/has no key BUYWHERE_API_KEY, while `buywhere\/staging\/BUYWHERE_API_KEY` has version/);
        if (world.emu.hasStack("staging")) expect(world.emu.outputs("staging").rotationState?.value ?? null).toBeNull();
    }, 180_000);

    it("adopt publishes nothing and restarts nobody; rotation 1 keeps the adopted values valid as previous; rotation 2 retires them", async () => {
        const legacy = legacyValues(world);
        const versions = await seedLegacy(world, legacy);
        const counts = Object.fromEntries(await Promise.all(Object.keys(legacy).map(async (n) => [n, await versionCount(world, n)] as const)));
        const k8sBefore = world.k8sSecret();
        const load = legacyLoad(world);
        try {
            const adopted = await world.up("adopt", { now: NOV, config: ADOPTING, request: { adopt: {} } });
            expect(adopted.error).toBeUndefined();
            expect(adopted.result).toBe("succeeded");
            // Nothing published: no new version of any secret, the Kubernetes Secret as it was; nobody restarted.
            for (const name of Object.keys(legacy)) expect(await versionCount(world, name), name).toBe(counts[name]);
            for (const name of Object.keys(legacy)) expect(await world.awsCurrent(name), name).toBe(legacy[name]);
            expect(world.k8sSecret()).toEqual(k8sBefore);
            for (const d of world.deployments) expect(world.restartedAt(d)).toBeUndefined();
            for (const s of world.ecsServices) expect(await world.ecsTrigger(s)).toBeUndefined();
            // The state names the versions adopted, never a value.
            const state = adopted.outputs.rotationState.value as { groups: Record<string, { active: string; generation: Record<string, string>; adopted?: { versions: Record<string, string> } }> };
            for (const g of GROUPS) expect(state.groups[g].generation.a).toBe("adopted");
            expect(state.groups.jwt.adopted?.versions.JWT_SECRET_KEY).toBe(versions.JWT_SECRET_KEY);
            expect(Object.keys(state.groups.database.adopted?.versions ?? {}).sort()).toEqual(["DATABASE_REPLICA_URL", "DATABASE_URL", "PGBOUNCER_URL", "POSTGRES_PASSWORD"]);
            const outputsText = JSON.stringify(adopted.outputs);
            for (const v of [LEGACY_PG_PASSWORD, LEGACY_REDIS_PASSWORD, LEGACY_JWT, LEGACY_API_KEY, LEGACY_TYPESENSE]) {
                expect(outputsText).not.toContain(v);
                expect(adopted.log.join("\n")).not.toContain(v);
            }
            // Adopt again: refused, the stack has state.
            const again = await world.up("adopt again", { now: NOV, config: ADOPTING, request: { adopt: {} } });
            expect(again.error).toMatch(/already has recorded state \(commit 1\): adopt is only for a stack's first deployment/);

            // Rotation 1: the new slot b becomes current; the adopted values stay valid as the previous ones.
            const first = await world.up("rotation 1", { now: DEC, config: { ...ADOPTING, "rotation:stamp": "2026-12" } });
            expect(first.error).toBeUndefined();
            expect(await world.awsCurrent("JWT_SECRET_KEY")).not.toBe(LEGACY_JWT);
            expect(await world.awsCurrent("JWT_SECRET_KEY_PREVIOUS")).toBe(LEGACY_JWT);
            expect(await world.awsCurrent("BUYWHERE_API_KEY_PREVIOUS")).toBe(LEGACY_API_KEY);
            expect(world.k8sSecret().JWT_SECRET_KEY_PREVIOUS).toBe(LEGACY_JWT);
            expect(await world.canLogIn(await world.awsCurrent("DATABASE_URL"))).toBe(true);
            expect(await world.canAuth(await world.awsCurrent("REDIS_URL"))).toBe(true);
            expect(await world.canAuth(legacy.REDIS_URL)).toBe(true);
            expect(await world.canLogIn(legacy.DATABASE_URL)).toBe(true);
            expect(world.typesense.keys().map((k) => k.id)).toContain(legacyKeyId);
            expect(world.emu.cloudflare.active().map((t) => t.id)).toContain(legacyToken.id);
            for (const d of world.deployments) expect(world.restartedAt(d)).toBeDefined();
        } finally {
            await load.stop();
        }
        // The figures the README's table quotes.
        console.log(`legacy clients through adopt and rotation 1: ${load.attempts} logins/AUTHs, ${load.failures.length} failures`);
        expect(load.failures).toEqual([]);
        expect(load.attempts).toBeGreaterThan(20);

        // Rotation 2: the adopted slot is regenerated; its values are retired.
        const second = await world.up("rotation 2", { now: JAN, config: { ...ADOPTING, "rotation:stamp": "2027-01" } });
        expect(second.error).toBeUndefined();
        expect(await world.canAuth(legacy.REDIS_URL)).toBe(false);
        // The opt-in retires the legacy PostgreSQL login; the legacy Typesense key is revoked by id.
        expect(await world.canLogIn(legacy.DATABASE_URL)).toBe(false);
        expect(world.typesense.keys().map((k) => k.id)).not.toContain(legacyKeyId);
        expect(world.typesense.keys().length).toBe(2);
        // The legacy R2 token, imported as slot a's token on adopt, was replaced (new token first), which revoked it.
        const tokens = world.emu.cloudflare.tokens();
        expect(tokens.find((t) => t.id === legacyToken.id)?.status).toBe("revoked");
        expect(world.emu.cloudflare.active().length).toBe(2);
        expect(await world.awsCurrent("JWT_SECRET_KEY_PREVIOUS")).not.toBe(LEGACY_JWT);
        expect(await world.awsCurrent("BUYWHERE_API_KEY_PREVIOUS")).not.toBe(LEGACY_API_KEY);
        expect(await world.canLogIn(await world.awsCurrent("DATABASE_URL"))).toBe(true);
        const state = second.outputs.rotationState.value as { groups: Record<string, { generation: Record<string, string>; adopted?: unknown }> };
        for (const g of GROUPS) {
            expect(state.groups[g].generation.a).not.toBe("adopted");
            expect(state.groups[g].adopted).toBeUndefined();
        }
        // The adopted values left the engine's state with the resources that held them.
        expect(second.steps.filter((s) => s.urn.includes("-adopted-") && s.op === "delete").length).toBeGreaterThan(0);
    }, 300_000);
});
