/**
 * The whole Pulumi program under `pulumi.runtime.setMocks`, with config from the real stack files. Assertions are
 * on what the engine would receive: inputs, secret markers, dependency edges and resource options.
 */
import { describe, expect, it } from "vitest";
import { SECRETS } from "../rotation/catalog";
import { RESTARTED_AT } from "../rotation/components/restarts";
import { hookCommand } from "../rotation/hooks";
import { ADMIN_ENV, Registration, Run, T, changedResources, isSecretAt, named, ofType, runProgram, runProgramExpectingFailure } from "./support/pulumiProgram";

const NAMES = SECRETS.map((s) => s.name);
const DATABASE_SECRETS = ["POSTGRES_PASSWORD", "POSTGRES_USER", "DATABASE_URL", "DATABASE_REPLICA_URL", "PGBOUNCER_URL"];
const deps = (r: Registration) => r.dependencies;

describe.each(["staging", "production"] as const)("the program on the %s stack", (stack) => {
    let first: Run;
    const firstRun = async () => (first ??= await runProgram({ stack }));

    it("gives every group two random slots keyed to stamps, URL-safe", async () => {
        const run = await firstRun();
        const passwords = ofType(run, T.password);
        for (const group of ["database", "redis", "jwt", "api-key", "typesense"]) {
            expect(named(run, `${group}-slots-a`).inputs).toMatchObject({ keepers: { stamp: "2026-11" }, special: false });
            expect(named(run, `${group}-slots-b`).inputs).toMatchObject({ keepers: { stamp: "initial" }, special: false });
        }
        expect(passwords).toHaveLength(10);
        expect(passwords.every((p) => p.inputs.length >= 40)).toBe(true);
    });

    it("issues one Cloudflare account token per R2 slot, scoped to the buckets, replaced (new first) when its stamp moves", async () => {
        const run = await firstRun();
        const tokens = ofType(run, T.accountToken);
        expect(tokens.map((t) => [t.name, t.inputs.name])).toEqual([
            ["r2-slots-a", `buywhere-r2-${stack}-a-2026-11`],
            ["r2-slots-b", `buywhere-r2-${stack}-b-initial`],
        ]);
        for (const t of tokens) {
            expect(t.inputs.accountId).toBe("0123456789abcdef0123456789abcdef");
            expect(t.inputs.policies).toEqual([
                {
                    effect: "allow",
                    permissionGroups: [{ id: "6a018a9f2fc74eb6b293b0c548f38b39" }, { id: "2efd5506f9c8494dacb1fa10a3e7d5b6" }],
                    resources: JSON.stringify({ [`com.cloudflare.edge.r2.bucket.0123456789abcdef0123456789abcdef_default_buywhere-${stack}-assets`]: "*" }),
                },
            ]);
            expect(t.replaceOnChanges).toEqual(["name"]);
            expect(t.deleteBeforeReplace).toBe(false);
        }
        const [a] = tokens;
        const { createHash } = await import("node:crypto");
        const value = run.generated.find((v) => named(run, "aws-R2_SECRET_ACCESS_KEY").inputs.secretString === createHash("sha256").update(v).digest("hex"));
        expect(value).toBeDefined(); // R2_SECRET_ACCESS_KEY = SHA-256 hex of the active slot's token value
        expect(a.inputs.name).toContain("-a-"); // slot a is active after a first deployment
        expect(named(run, "aws-R2_ACCESS_KEY_ID").inputs.secretString).toMatch(/^[0-9a-f]{32}$/);
    });

    it("applies credentials at their source after they are generated and before any store is written", async () => {
        const run = await firstRun();
        const apply = (n: string) => named(run, n);
        for (const slot of ["a", "b"] as const) {
            const pg = apply(`database-apply-${slot}`);
            expect(pg.inputs.create).toBe(hookCommand("postgresApply"));
            expect(pg.inputs.environment).toEqual({ PG_ROLE: `buywhere_app_${slot}`, PG_PASSWORD: named(run, `database-slots-${slot}`) && expect.stringMatching(/^[A-Za-z0-9]{40}$/) });
            expect(isSecretAt(pg.raw, "environment.PG_PASSWORD")).toBe(true);
            expect(isSecretAt(pg.raw, "environment.PG_ROLE")).toBe(false);
            expect(pg.inputs.triggers).toEqual([slot === "a" ? "2026-11" : "initial"]);
            expect(pg.dependencies).toEqual([named(run, `database-slots-${slot}`).urn]);
            const ts = apply(`typesense-apply-${slot}`);
            expect(isSecretAt(ts.raw, "environment.TYPESENSE_KEY_VALUE")).toBe(true);
            expect(ts.inputs.create).toBe(hookCommand("typesenseApply"));
            expect(ts.inputs.environment).toMatchObject({ TYPESENSE_SLOT: slot, TYPESENSE_STACK: stack, TYPESENSE_COLLECTIONS: '["products","merchants"]' });
            expect(ts.dependencies).toEqual([named(run, `typesense-slots-${slot}`).urn]);
        }
        const redis = apply("redis-apply-acl");
        expect(redis.inputs.create).toBe(hookCommand("redisApply"));
        expect(Object.keys(redis.inputs.environment)).toEqual(["REDIS_PASSWORD_A", "REDIS_PASSWORD_B", "REDIS_USER"]);
        expect([...redis.dependencies].sort()).toEqual([named(run, "redis-slots-a").urn, named(run, "redis-slots-b").urn].sort());
        expect(isSecretAt(redis.raw, "environment.REDIS_PASSWORD_A")).toBe(true);
        expect(isSecretAt(redis.raw, "environment.REDIS_PASSWORD_B")).toBe(true);
        // No admin credential is an input anywhere: hooks inherit them from the environment `pulumi up` runs in.
        for (const r of run.registrations) {
            for (const canary of Object.values(ADMIN_ENV)) expect(JSON.stringify(r.inputs)).not.toContain(canary);
        }
        // Each store write waits for its group's appliers; the K8s Secret waits for all of them.
        const appliers = ["database-apply-a", "database-apply-b", "redis-apply-acl", "typesense-apply-a", "typesense-apply-b"].map((n) => apply(n).urn);
        expect(named(run, "aws-DATABASE_URL").dependencies).toEqual(expect.arrayContaining(appliers.slice(0, 2)));
        expect(named(run, "aws-REDIS_URL").dependencies).toEqual(expect.arrayContaining([appliers[2]]));
        expect(named(run, "aws-TYPESENSE_API_KEY").dependencies).toEqual(expect.arrayContaining(appliers.slice(3)));
        expect(named(run, "aws-JWT_SECRET_KEY").dependencies.filter((d) => appliers.includes(d))).toEqual([]);
        expect(ofType(run, T.secretPatch)[0].dependencies).toEqual(expect.arrayContaining(appliers));
    });

    it("publishes every secret to Secrets Manager under the prefix, as a secret, retained on delete", async () => {
        const run = await firstRun();
        const prefix = stack === "staging" ? "buywhere/staging/" : "buywhere/";
        const versions = ofType(run, T.secretVersion);
        expect(versions.map((v) => v.inputs.secretId).sort()).toEqual(NAMES.map((n) => `${prefix}${n}`).sort());
        for (const v of versions) {
            expect(isSecretAt(v.raw, "secretString")).toBe(true);
            expect(v.retainOnDelete).toBe(true);
        }
        expect(NAMES).toContain("JWT_SECRET_KEY_PREVIOUS");
        expect(NAMES).toContain("BUYWHERE_API_KEY_PREVIOUS");
    });

    it("composes URLs from config and the active slot, and publishes the previous key beside the current one", async () => {
        const run = await firstRun();
        const value = (name: string) => named(run, `aws-${name}`).inputs.secretString as string;
        const password = value("POSTGRES_PASSWORD");
        expect(password).toMatch(/^[A-Za-z0-9]{40}$/);
        expect(value("POSTGRES_USER")).toBe("buywhere_app_a");
        const host = stack === "staging" ? "buywhere-staging.cluster-c1a2b3c4d5e6" : "buywhere-prod.cluster-f6e5d4c3b2a1";
        expect(value("DATABASE_URL")).toBe(
            `postgresql://buywhere_app_a:${password}@${host}.ap-southeast-1.rds.amazonaws.com:5432/buywhere?sslmode=${stack === "staging" ? "require" : "verify-full"}`,
        );
        expect(value("DATABASE_REPLICA_URL")).toContain(`buywhere_app_a:${password}@${host.replace(".cluster-", ".cluster-ro-")}`);
        expect(value("PGBOUNCER_URL")).toContain(`:${password}@pgbouncer.${stack}.svc.cluster.local:6432/buywhere`);
        expect(value("REDIS_URL")).toMatch(/^rediss:\/\/buywhere-api:[A-Za-z0-9]{40}@.*:6379\/0$/);
        expect(value("JWT_SECRET_KEY")).not.toBe(value("JWT_SECRET_KEY_PREVIOUS"));
        expect(value("R2_ACCESS_KEY_ID")).toMatch(/^[0-9a-f]{32}$/);
        expect(value("R2_SECRET_ACCESS_KEY")).toMatch(/^[0-9a-f]{64}$/);
    });

    it("writes every key into the configured Secret of each namespace, as secret data, by patch", async () => {
        const run = await firstRun();
        const patches = ofType(run, T.secretPatch);
        expect(patches.map((p) => p.inputs.metadata)).toEqual([
            { name: "buywhere-secrets", namespace: stack, annotations: { "pulumi.com/patchForce": "true" } },
        ]);
        const patch = patches[0];
        expect(Object.keys(patch.inputs.data).sort()).toEqual([...NAMES].sort());
        expect(isSecretAt(patch.raw, "data")).toBe(true);
        expect(patch.retainOnDelete).toBe(true);
        // The K8s value is the same value Secrets Manager gets.
        const decoded = Buffer.from(patch.inputs.data.DATABASE_URL, "base64").toString("utf8");
        expect(decoded).toBe(named(run, "aws-DATABASE_URL").inputs.secretString);
        expect(ofType(run, T.secret)).toEqual([]);
    });

    it("restarts each Deployment with a restartedAt patch after its namespace's Secret is written", async () => {
        const run = await firstRun();
        const secretUrn = ofType(run, T.secretPatch)[0].urn;
        const patches = ofType(run, T.deploymentPatch);
        expect(patches.map((p) => p.inputs.metadata.name).sort()).toEqual(["buywhere-api", "buywhere-search-indexer"]);
        for (const p of patches) {
            expect(p.inputs.metadata.namespace).toBe(stack);
            expect(p.inputs.spec.template.metadata.annotations[RESTARTED_AT]).toMatch(/^rotation-[0-9a-f]{16}$/);
            expect(deps(p)).toEqual([secretUrn]);
        }
        expect(patches[0].inputs.spec.template.metadata.annotations[RESTARTED_AT]).not.toBe(
            patches[1].inputs.spec.template.metadata.annotations[RESTARTED_AT],
        );
    });

    it("redeploys each ECS service with our hook, after exactly the Secrets Manager writes it consumes, with inputs in the environment", async () => {
        const run = await firstRun();
        const suffix = stack === "staging" ? "-staging" : "";
        const api = named(run, `ecs-buywhere-api${suffix}-redeploy`);
        const worker = named(run, `ecs-buywhere-worker${suffix}-redeploy`);
        expect(api.inputs.create).toBe(hookCommand("ecsRedeploy"));
        expect(api.inputs.environment).toEqual({
            AWS_REGION: "ap-southeast-1",
            ECS_CLUSTER: "buywhere-api",
            ECS_SERVICE: `buywhere-api${suffix}`,
            ECS_TRIGGER: api.inputs.triggers[0],
            ECS_STABLE_TIMEOUT_SECONDS: stack === "staging" ? "900" : "1200",
            ECS_POLL_SECONDS: "15",
        });
        const urnOf = (name: string) => named(run, `aws-${name}`).urn;
        expect([...deps(api)].sort()).toEqual(NAMES.map(urnOf).sort());
        const workerSecrets = SECRETS.filter((s) => ["database", "redis", "r2", "typesense"].includes(s.group)).map((s) => s.name);
        expect([...deps(worker)].sort()).toEqual(workerSecrets.map(urnOf).sort());
        expect(api.inputs.triggers).toHaveLength(1);
        expect(api.inputs.triggers[0]).not.toBe(worker.inputs.triggers[0]);
    });

    it("gates on a health check that depends on every restart; no restart depends on another restart", async () => {
        const run = await firstRun();
        const health = named(run, "health-check");
        const restarts = [...ofType(run, T.deploymentPatch), ...ofType(run, T.command).filter((c) => c.name.endsWith("-redeploy"))];
        expect(restarts).toHaveLength(4);
        expect([...deps(health)].sort()).toEqual(restarts.map((r) => r.urn).sort());
        expect(health.inputs.create).toBe(hookCommand("healthCheck"));
        expect(JSON.parse(health.inputs.environment.HEALTH_URLS)).toEqual([
            `https://api.${stack === "staging" ? "staging." : ""}buywhere.io/health`,
            `https://api.${stack === "staging" ? "staging." : ""}buywhere.io/health/ready`,
        ]);
        const restartUrns = new Set(restarts.map((r) => r.urn));
        for (const r of restarts) {
            expect(deps(r).filter((d) => restartUrns.has(d))).toEqual([]);
        }
    });

    it("orders slots before stores before restarts before health (transitively)", async () => {
        const run = await firstRun();
        const reaches = (from: Registration, to: string, seen = new Set<string>()): boolean =>
            deps(from).some((d) => d === to || (!seen.has(d) && (seen.add(d), reaches(run.byUrn.get(d)!, to, seen))));
        const health = named(run, "health-check");
        for (const slot of ofType(run, T.password).filter((p) => p.name.endsWith("-a") || p.name.endsWith("-a-token"))) {
            expect(reaches(health, slot.urn)).toBe(true);
        }
        for (const store of [...ofType(run, T.secretVersion), ...ofType(run, T.secretPatch)]) {
            expect(reaches(health, store.urn)).toBe(true);
        }
        // Nothing upstream depends on anything downstream.
        for (const store of ofType(run, T.secretVersion)) {
            expect(reaches(store, health.urn)).toBe(false);
        }
    });

    it("outputs the non-secret facts of every secret and nothing secret", async () => {
        const run = await firstRun();
        expect(Object.keys(run.outputs.secrets).sort()).toEqual([...NAMES].sort());
        expect(run.outputs.secrets.DATABASE_URL).toEqual({
            group: "database",
            stamp: "2026-11",
            activeSlot: "a",
            publishedSlot: { aws: "a", k8s: "a" },
            awsSecretId: `${stack === "staging" ? "buywhere/staging/" : "buywhere/"}DATABASE_URL`,
            awsVersionId: expect.stringMatching(/^[0-9a-f-]{36}$/),
            version: { aws: expect.stringMatching(/^[0-9a-f]{16}$/), k8s: expect.stringMatching(/^[0-9a-f]{16}$/) },
        });
        expect(run.secretOutputPaths).toEqual([]);
        expect(run.outputs.rotationState.groups.database).toEqual({
            stamp: "2026-11",
            active: "a",
            slots: { a: "2026-11", b: null },
            rolledBack: false,
            held: {},
            changedAt: "2026-11-25T12:00:00.000Z",
        });
    });
});

describe("moving a stamp (staging, successive runs fed their own last state)", () => {
    const stack = "staging" as const;
    let runs: { initial: Run; rerun: Run; database: Run; jwt: Run } | undefined;
    async function sequence() {
        if (runs) return runs;
        const initial = await runProgram({ stack });
        const last = initial.outputs.rotationState;
        const rerun = await runProgram({ stack, lastState: last });
        const database = await runProgram({ stack, lastState: last, config: { "rotation:groupStamps": { database: "2026-11-25T1030Z" } } });
        const jwt = await runProgram({ stack, lastState: last, config: { "rotation:groupStamps": { jwt: "2026-11-25T1030Z" } } });
        return (runs = { initial, rerun, database, jwt });
    }

    it("a rerun with the same stamp registers identical inputs everywhere", async () => {
        const { initial, rerun } = await sequence();
        expect(changedResources(initial, rerun)).toEqual([]);
    });

    it("moving database's stamp changes its inactive slot, its stores, its consumers and the health check — nothing else", async () => {
        const { rerun, database } = await sequence();
        expect(changedResources(rerun, database)).toEqual(
            [
                "database-slots-b",
                "database-apply-b",
                ...DATABASE_SECRETS.map((n) => `aws-${n}`),
                "k8s-staging-secret",
                "ecs-buywhere-api-staging-redeploy",
                "ecs-buywhere-worker-staging-redeploy",
                "k8s-staging-buywhere-api-patch",
                "k8s-staging-buywhere-search-indexer-patch",
                "health-check",
            ].sort(),
        );
        expect(named(database, "database-slots-b").inputs.keepers).toEqual({ stamp: "2026-11-25T1030Z" });
        expect(named(database, "aws-POSTGRES_USER").inputs.secretString).toBe("buywhere_app_b");
        expect(named(database, "aws-DATABASE_URL").inputs.secretString).toMatch(/^postgresql:\/\/buywhere_app_b:/);
    });

    it("moving jwt's stamp restarts only the consumers of jwt", async () => {
        const { rerun, jwt } = await sequence();
        expect(changedResources(rerun, jwt)).toEqual(
            [
                "jwt-slots-b",
                "aws-JWT_SECRET_KEY",
                "aws-JWT_SECRET_KEY_PREVIOUS",
                "k8s-staging-secret",
                "ecs-buywhere-api-staging-redeploy",
                "k8s-staging-buywhere-api-patch",
                "health-check",
            ].sort(),
        );
        // The new current key is the regenerated slot b; the previous key is slot a's unchanged value.
        expect(named(jwt, "aws-JWT_SECRET_KEY_PREVIOUS").inputs.secretString).toBe(named(rerun, "aws-JWT_SECRET_KEY").inputs.secretString);
    });

    it("two rotations alternate slots; a third run with a rollback flips back without regenerating", async () => {
        const { database: afterFirst } = await sequence();
        const second = await runProgram({
            stack,
            lastState: afterFirst.outputs.rotationState,
            config: { "rotation:groupStamps": { database: "2026-11-25T1130Z" } },
        });
        expect(named(second, "database-slots-a").inputs.keepers).toEqual({ stamp: "2026-11-25T1130Z" });
        expect(named(second, "database-slots-b").inputs.keepers).toEqual({ stamp: "2026-11-25T1030Z" });
        expect(named(second, "aws-POSTGRES_USER").inputs.secretString).toBe("buywhere_app_a");
        // The role pods hold after the first rotation (b) keeps its password through the second.
        expect(second.outputs.rotationState.groups.database).toEqual({
            stamp: "2026-11-25T1130Z",
            active: "a",
            slots: { a: "2026-11-25T1130Z", b: "2026-11-25T1030Z" },
            rolledBack: false,
            held: {},
            changedAt: "2026-11-25T12:00:00.000Z",
        });

        const rolledBack = await runProgram({
            stack,
            lastState: second.outputs.rotationState,
            config: { "rotation:groupStamps": { database: "2026-11-25T1130Z" }, "rotation:rollback": { database: "2026-11-25T1130Z" } },
        });
        const changed = changedResources(second, rolledBack);
        expect(changed.filter((n) => n.includes("slots"))).toEqual([]);
        expect(changed).toContain("aws-DATABASE_URL");
        expect(named(rolledBack, "aws-DATABASE_URL").inputs.secretString).toBe(named(afterFirst, "aws-DATABASE_URL").inputs.secretString);
        expect(rolledBack.outputs.secrets.DATABASE_URL.activeSlot).toBe("b");
    });

    it("a rotation limited to AWS leaves Kubernetes untouched; dropping the hold catches Kubernetes up without regenerating", async () => {
        const { initial, rerun, database } = await sequence();
        const awsOnly = await runProgram({
            stack,
            lastState: initial.outputs.rotationState,
            config: { "rotation:groupStamps": { database: "2026-11-25T1030Z" }, "rotation:hold": { database: ["k8s"] } },
        });
        expect(changedResources(rerun, awsOnly)).toEqual(
            [
                "database-slots-b",
                "database-apply-b",
                ...DATABASE_SECRETS.map((n) => `aws-${n}`),
                "ecs-buywhere-api-staging-redeploy",
                "ecs-buywhere-worker-staging-redeploy",
                "health-check",
            ].sort(),
        );
        expect(awsOnly.outputs.secrets.DATABASE_URL.publishedSlot).toEqual({ aws: "b", k8s: "a" });
        expect(awsOnly.outputs.rotationState.groups.database.held).toEqual({ k8s: "a" });

        const caughtUp = await runProgram({
            stack,
            lastState: awsOnly.outputs.rotationState,
            config: { "rotation:groupStamps": { database: "2026-11-25T1030Z" } },
        });
        expect(changedResources(awsOnly, caughtUp)).toEqual(
            ["health-check", "k8s-staging-buywhere-api-patch", "k8s-staging-buywhere-search-indexer-patch", "k8s-staging-secret"].sort(),
        );
        // Caught up, the stack is exactly where a full rotation would have put it.
        expect(changedResources(database, caughtUp)).toEqual([]);
    });

    it("a restart stamp for k8s rolls the Deployments and nothing else", async () => {
        const { initial, rerun } = await sequence();
        const restarted = await runProgram({
            stack,
            lastState: initial.outputs.rotationState,
            config: { "rotation:restartStamps": { k8s: "2026-11-25T1100Z" } },
        });
        expect(changedResources(rerun, restarted)).toEqual(
            ["health-check", "k8s-staging-buywhere-api-patch", "k8s-staging-buywhere-search-indexer-patch"].sort(),
        );
    });
});

describe("program options and refusals", () => {
    it("an up that regenerates a group's slot without its admin credential fails first, naming the variable; a preview needs none", async () => {
        const { ROTATION_PG_ADMIN_URL: _, ...withoutPg } = ADMIN_ENV;
        void _;
        const { error, registrations } = await runProgramExpectingFailure({ stack: "staging", env: withoutPg });
        expect(error.message).toBe(
            'environment variable `ROTATION_PG_ADMIN_URL` is required: this run regenerates database slot a, b and must make it valid at its source first (README, "Source appliers")',
        );
        expect(registrations).toEqual([]);
        const preview = await runProgram({ stack: "staging", env: {}, preview: true });
        expect(ofType(preview, T.secretVersion)).toHaveLength(13);
        // A run that regenerates nothing of the database group does not need its credential.
        const first = await runProgram({ stack: "staging" });
        const jwtOnly = await runProgram({
            stack: "staging",
            lastState: first.outputs.rotationState,
            env: { ROTATION_REQUEST: JSON.stringify({ stamps: { jwt: "2026-11-25T1030Z" } }) },
        });
        expect(jwtOnly.outputs.rotationState.groups.jwt.stamp).toBe("2026-11-25T1030Z");
    });

    it("creates the Secret instead of patching it when secretMode is create", async () => {
        const { stackConfig } = await import("./support/pulumiProgram");
        const k8s = stackConfig("staging")["rotation:kubernetes"] as Record<string, unknown>;
        const run = await runProgram({ stack: "staging", config: { "rotation:kubernetes": { ...k8s, secretMode: "create" } } });
        expect(ofType(run, T.secretPatch)).toEqual([]);
        const [secret] = ofType(run, T.secret);
        expect(secret.inputs.metadata).toEqual({ name: "buywhere-secrets", namespace: "staging" });
        expect(secret.inputs.type).toBe("Opaque");
        expect(isSecretAt(secret.raw, "data")).toBe(true);
    });

    it("with no consumers configured, health depends on the store writes", async () => {
        const { stackConfig } = await import("./support/pulumiProgram");
        const k8s = stackConfig("staging")["rotation:kubernetes"] as Record<string, unknown>;
        const run = await runProgram({
            stack: "staging",
            config: { "rotation:ecs": undefined, "rotation:kubernetes": { ...k8s, deployments: [] } },
        });
        const stores = [...ofType(run, T.secretVersion), ...ofType(run, T.secretPatch)].map((r) => r.urn).sort();
        expect([...named(run, "health-check").dependencies].sort()).toEqual(stores);
    });

    it("environment overrides reach the providers and hooks", async () => {
        const run = await runProgram({ stack: "staging", env: { ...ADMIN_ENV, AWS_REGION: "us-west-2", ECS_CLUSTER: "blue", K8S_CONTEXT: "kind-x" } });
        const aws = run.registrations.find((r) => r.type === "pulumi:providers:aws")!;
        expect(aws.inputs.region).toBe("us-west-2");
        const k8s = run.registrations.find((r) => r.type === "pulumi:providers:kubernetes")!;
        expect(k8s.inputs.context).toBe("kind-x");
        expect(k8s.inputs.clusterIdentifier).toBe("buywhere-staging");
        expect(named(run, "ecs-buywhere-api-staging-redeploy").inputs.environment).toMatchObject({ AWS_REGION: "us-west-2", ECS_CLUSTER: "blue" });
    });

    it.each([
        [{ "rotation:stamp": "2026-13" }, undefined, /^`rotation:stamp` "2026-13" has no such month/],
        [{ "rotation:stamp": "2026-12" }, undefined, /labels a period that starts in the future/],
        [{ "rotation:stmap": "2026-11" }, undefined, /^unknown config key `rotation:stmap`/],
        [{}, { schema: 99 }, /is not a schema 1 rotation state; refusing to guess which slots are in use/],
    ])("fails before registering anything for %j", async (config, lastState, message) => {
        const { error, registrations } = await runProgramExpectingFailure({ stack: "staging", config, lastState });
        expect(error.constructor.name).toBe("RunError");
        expect(error.message).toMatch(message);
        expect(error.message).not.toContain("\n");
        expect(registrations).toEqual([]);
    });

    it("takes a request from ROTATION_REQUEST and refuses a requested stamp older than the one last deployed", async () => {
        const request = (r: object) => ({ ...ADMIN_ENV, ROTATION_REQUEST: JSON.stringify({ label: "--stamp", ...r }) });
        const initial = await runProgram({ stack: "staging", env: request({ stamps: { redis: "2026-11-25T1030Z" } }) });
        expect(initial.outputs.rotationState.groups.redis.stamp).toBe("2026-11-25T1030Z");
        const { error, registrations } = await runProgramExpectingFailure({
            stack: "staging",
            lastState: initial.outputs.rotationState,
            env: request({ stamps: { redis: "2026-11-20T1030Z" } }),
        });
        expect(error.message).toBe(
            "`--stamp` 2026-11-20T1030Z is earlier than redis's last stamp 2026-11-25T1030Z; stamps never go backwards (use a later stamp, or `rotation:rollback` to undo a rotation)",
        );
        expect(registrations).toEqual([]);
        const bad = await runProgramExpectingFailure({ stack: "staging", env: { ...ADMIN_ENV, ROTATION_REQUEST: '{"stamps":{"dbase":"2026-11"}}' } });
        expect(bad.error.message).toBe("`ROTATION_REQUEST.stamps` has unknown group `dbase`; allowed: `database`, `redis`, `jwt`, `api-key`, `r2`, `typesense`");
    });
});
