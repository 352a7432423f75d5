/**
 * The whole Pulumi program under `pulumi.runtime.setMocks`, run inside the root stack as the language host runs it,
 * with config from the real stack files. Assertions are on what the engine would receive: inputs, secret markers,
 * dependency edges, resource options and the root stack's outputs events. Expected values that the planner decides
 * (generations, triggers, the attempt) come from `planRotation` itself, so these tests prove that the program renders
 * the plan, and test/plan.test.ts proves the plan.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { CONTRACTS, HookContract, fromEnv } from "../hooks/contracts";
import { GENERATION, GROUPS, SECRETS } from "../rotation/catalog";
import { hookCommand } from "../rotation/components/hookRun";
import { RESTARTED_AT } from "../rotation/components/restarts";
import { CredentialRef, RotationPlan, planRotation } from "../rotation/plan";
import { RotationRequest } from "../rotation/request";
import { parseSettings } from "../rotation/settings";
import { StoredState } from "../rotation/state";
import { leakForms } from "./support/fixtures";
import {
    ADMIN_ENV,
    Registration,
    Run,
    RunOptions,
    T,
    changedResources,
    isSecretAt,
    named,
    ofType,
    runProgram,
    runProgramExpectingFailure,
    stackConfig,
} from "./support/pulumiProgram";

/** The harness's clock. */
const NOW = new Date("2026-11-25T12:00:00Z");
const AWS_SECRET = "aws:secretsmanager/secret:Secret";
const NAMES = SECRETS.map((s) => s.name);
const RANDOM_GROUPS = ["database", "redis", "jwt", "api-key", "typesense"] as const;
const DATABASE_SECRETS = ["POSTGRES_PASSWORD", "POSTGRES_USER", "DATABASE_URL", "DATABASE_REPLICA_URL", "PGBOUNCER_URL"];
const deps = (r: Registration) => r.dependencies;
const prefixOf = (stack: string) => (stack === "staging" ? "buywhere/staging/" : "buywhere/");
const request = (r: RotationRequest) => ({ ...ADMIN_ENV, ROTATION_REQUEST: JSON.stringify(r) });

/** The plan the program should render for these inputs, from the planner itself. */
function planFor(
    stack: RunOptions["stack"],
    { stored = {}, config = {}, req }: { stored?: StoredState; config?: Record<string, unknown>; req?: RotationRequest } = {},
): RotationPlan {
    const planned = planRotation({ settings: parseSettings({ ...stackConfig(stack), ...config }), stored, now: NOW, request: req, stack });
    if (planned.refusal) throw new Error(`unexpected refusal ${planned.refusal.kind}`);
    return planned.plan;
}
const asStored = <T>(value: T): T => JSON.parse(JSON.stringify(value));

/** The credential value a plan's reference stands for, as the mocked provider generated it. */
function credentialValue(run: Run, ref: CredentialRef): string {
    const slot = named(run, `${ref.group}-slots-${ref.slot}`);
    switch (ref.field) {
        case "secret":
            return slot.state.result;
        case "accessKeyId":
            return slot.id;
        case "secretAccessKey":
            return createHash("sha256").update(slot.state.value).digest("hex");
    }
}
const isRef = (v: unknown): v is CredentialRef => typeof v === "object" && v !== null && "group" in v && "slot" in v && "field" in v;

/** The contract of the hook a command runs (by its `create` command line). */
function contractOf(command: Registration): HookContract {
    const contract = Object.values(CONTRACTS).find((c) => hookCommand(c.hook) === command.inputs.create);
    if (!contract) throw new Error(`${command.name} runs no known hook: ${command.inputs.create}`);
    return contract;
}

/** Whether `from` depends on the URN `to`, directly or through other resources. */
function reaches(run: Run, from: Registration, to: string, seen = new Set<string>()): boolean {
    return deps(from).some((d) => d === to || (!seen.has(d) && (seen.add(d), reaches(run, run.byUrn.get(d)!, to, seen))));
}

describe.each(["staging", "production"] as const)("the program on the %s stack (first deployment)", (stack) => {
    it("hooks that hold an admin credential stream nothing; every hook's captured output is secret in the state", async () => {
        const run = await runProgram({ stack });
        const commands = ofType(run, T.command);
        expect(commands.length).toBeGreaterThan(0);
        for (const c of commands) {
            expect(c.additionalSecretOutputs, c.name).toEqual(["stdout", "stderr"]);
            // Every applier but ElastiCache's holds an admin credential (it calls ModifyUser with the run's AWS
            // credentials, like the ECS redeploy hook, and streams its progress; runHook redacts the slot passwords).
            // R2's applier (a probe with the slot's own key, hooks/r2Probe.ts) holds no admin credential either.
            const holdsAdmin = /-apply-/.test(c.name) && !/-apply-elasticache$/.test(c.name) && !c.name.startsWith("r2-apply-");
            expect(c.inputs.logging, c.name).toBe(holdsAdmin ? "none" : "stderr");
        }
    });

    let first: Run;
    const firstRun = async () => (first ??= await runProgram({ stack }));
    const plan = planFor(stack);
    const prefix = prefixOf(stack);

    it("gives every random group two slots labelled with the first generation, alphanumeric, of the catalog's length", async () => {
        const run = await firstRun();
        const passwords = ofType(run, T.password);
        expect(passwords.map((p) => p.name).sort()).toEqual(RANDOM_GROUPS.flatMap((g) => [`${g}-slots-a`, `${g}-slots-b`]).sort());
        for (const p of passwords) {
            const group = p.name.replace(/-slots-[ab]$/, "") as (typeof RANDOM_GROUPS)[number];
            expect(p.inputs).toEqual({ keepers: { generation: "g1" }, length: GENERATION[group].length, special: false });
            expect(p.inputs.length).toBeGreaterThanOrEqual(40);
            expect(p.parent).toBe(run.registrations.find((r) => r.type === "buywhere:rotation:CredentialSlots" && r.name === `${group}-slots`)!.urn);
        }
        // Two slots of one group are two different credentials.
        expect(new Set(passwords.map((p) => p.state.result)).size).toBe(10);
    });

    it("issues one Cloudflare account token per R2 slot, named with its generation, scoped to the buckets, replaced new-first", async () => {
        const run = await firstRun();
        const tokens = ofType(run, T.accountToken);
        expect(tokens.map((t) => [t.name, t.inputs.name])).toEqual([
            ["r2-slots-a", `buywhere-r2-${stack}-a-g1`],
            ["r2-slots-b", `buywhere-r2-${stack}-b-g1`],
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
        // Slot a is active after a first deployment: its token's id and the SHA-256 hex of its value are published.
        const active = named(run, "r2-slots-a");
        expect(named(run, "aws-R2_ACCESS_KEY_ID").inputs.secretString).toBe(active.id);
        expect(named(run, "aws-R2_SECRET_ACCESS_KEY").inputs.secretString).toBe(createHash("sha256").update(active.state.value).digest("hex"));
    });

    it("runs each applier with the slot's own credential, as a secret, after that slot is generated; no admin credential is an input", async () => {
        const run = await firstRun();
        for (const slot of ["a", "b"] as const) {
            const pg = named(run, `database-apply-${slot}`);
            const password = named(run, `database-slots-${slot}`);
            expect(pg.inputs.create).toBe(hookCommand("postgresApply"));
            expect(pg.inputs.environment).toEqual({ PG_ROLE: `buywhere_app_${slot}`, PG_PASSWORD: password.state.result });
            expect(password.state.result).toMatch(/^[A-Za-z0-9]{40}$/);
            expect(isSecretAt(pg.raw, "environment.PG_PASSWORD")).toBe(true);
            expect(isSecretAt(pg.raw, "environment.PG_ROLE")).toBe(false);
            expect(pg.inputs.triggers).toEqual(["g1"]);
            expect(pg.dependencies).toEqual([password.urn]);
            const ts = named(run, `typesense-apply-${slot}`);
            expect(ts.inputs.create).toBe(hookCommand("typesenseApply"));
            expect(ts.inputs.environment).toMatchObject({
                TYPESENSE_SLOT: slot,
                TYPESENSE_SLOT_STAMP: "g1",
                TYPESENSE_STACK: stack,
                TYPESENSE_KEY_VALUE: named(run, `typesense-slots-${slot}`).state.result,
                TYPESENSE_COLLECTIONS: '["products","merchants"]',
            });
            expect(isSecretAt(ts.raw, "environment.TYPESENSE_KEY_VALUE")).toBe(true);
            expect(ts.dependencies).toEqual([named(run, `typesense-slots-${slot}`).urn]);
        }
        // The stack file's Redis is ElastiCache (`rotation:redis.kind`): ModifyUser through the AWS API, no admin URL.
        const redis = named(run, "redis-apply-elasticache");
        expect(redis.inputs.create).toBe(hookCommand("elasticacheApply"));
        expect(redis.inputs.environment).toEqual({
            AWS_REGION: "ap-southeast-1",
            ELASTICACHE_USER_ID: stack === "staging" ? "buywhere-api-staging" : "buywhere-api-production",
            REDIS_USER: "buywhere-api",
            REDIS_ENDPOINT: `rediss://${stack === "staging" ? "buywhere-staging.abc123" : "buywhere-prod.def456"}.ng.0001.apse1.cache.amazonaws.com:6379`,
            ELASTICACHE_MODIFY_TIMEOUT_SECONDS: "900",
            ELASTICACHE_POLL_SECONDS: "10",
            REDIS_PASSWORD_A: named(run, "redis-slots-a").state.result,
            REDIS_PASSWORD_B: named(run, "redis-slots-b").state.result,
        });
        expect(redis.inputs.triggers).toEqual(["g1", "g1"]);
        expect([...redis.dependencies].sort()).toEqual([named(run, "redis-slots-a").urn, named(run, "redis-slots-b").urn].sort());
        expect(isSecretAt(redis.raw, "environment.REDIS_PASSWORD_A")).toBe(true);
        expect(isSecretAt(redis.raw, "environment.REDIS_PASSWORD_B")).toBe(true);
        // Exactly the plan's applier runs, each decoding (with its hook's own contract) to the plan's inputs.
        expect(ofType(run, T.command).filter((c) => c.name.includes("-apply-")).map((c) => c.name).sort()).toEqual(plan.appliers.map((a) => a.name).sort());
        for (const a of plan.appliers) {
            const command = named(run, a.name);
            const expected = Object.fromEntries(Object.entries(a.inputs).map(([k, v]) => [k, isRef(v) ? credentialValue(run, v) : v]));
            expect(fromEnv(CONTRACTS[a.hook], command.inputs.environment)).toEqual(expected);
            expect(command.inputs.triggers).toEqual(a.triggers);
        }
        // No admin credential is an input anywhere: hooks inherit them from the environment `pulumi up` runs in.
        for (const r of run.registrations) {
            for (const canary of Object.values(ADMIN_ENV)) expect(JSON.stringify(r.raw)).not.toContain(canary);
        }
        // Each store write waits for its group's appliers; the K8s Secret waits for all of them.
        const appliers = plan.appliers.map((a) => named(run, a.name).urn);
        const ofGroup = (g: string) => plan.appliers.filter((a) => a.group === g).map((a) => named(run, a.name).urn);
        expect(named(run, "aws-DATABASE_URL").dependencies).toEqual(expect.arrayContaining(ofGroup("database")));
        expect(named(run, "aws-REDIS_URL").dependencies).toEqual(expect.arrayContaining(ofGroup("redis")));
        expect(named(run, "aws-TYPESENSE_API_KEY").dependencies).toEqual(expect.arrayContaining(ofGroup("typesense")));
        expect(named(run, "aws-JWT_SECRET_KEY").dependencies.filter((d) => appliers.includes(d))).toEqual([]);
        expect(ofType(run, T.secretPatch)[0].dependencies).toEqual(expect.arrayContaining(appliers));
    });

    it("encodes every hook's environment field by field from its contract: secret fields as Pulumi secrets, the others plain", async () => {
        const run = await firstRun();
        const commands = ofType(run, T.command);
        expect(commands).toHaveLength(plan.appliers.length + plan.restarts.filter((r) => r.provider === "aws").length + 1);
        let secretFields = 0;
        for (const command of commands) {
            const contract = contractOf(command);
            const env = command.inputs.environment as Record<string, string>;
            const fields = Object.values(contract.fields);
            expect(Object.keys(env).sort()).toEqual(fields.filter((f) => env[f.env] !== undefined || !f.optional).map((f) => f.env).sort());
            for (const f of fields.filter((f) => env[f.env] !== undefined)) {
                expect({ command: command.name, env: f.env, secret: isSecretAt(command.raw, `environment.${f.env}`) }).toEqual({
                    command: command.name,
                    env: f.env,
                    secret: f.secret,
                });
                if (f.secret) secretFields++;
            }
            expect(() => fromEnv(contract, env)).not.toThrow();
            // The command line is the same on every machine and carries no input.
            expect(command.inputs.create).toBe(hookCommand(contract.hook));
        }
        expect(secretFields).toBe(10); // PG_PASSWORD x2, REDIS_PASSWORD_A/B, TYPESENSE_KEY_VALUE x2, R2_PROBE_ACCESS_KEY_ID/SECRET_ACCESS_KEY x2
    });

    it("declares every secret in Secrets Manager, protected and retained, created (no secret exists under mocks)", async () => {
        const run = await firstRun();
        const store = run.registrations.find((r) => r.type === "buywhere:rotation:AwsSecretStore" && r.name === "aws")!;
        const secrets = ofType(run, AWS_SECRET);
        expect(secrets.map((s) => s.name).sort()).toEqual(NAMES.map((n) => `aws-${n}-secret`).sort());
        for (const name of NAMES) {
            const secret = named(run, `aws-${name}-secret`);
            expect(secret.inputs.name).toBe(`${prefix}${name}`);
            expect(secret.protect).toBe(true);
            expect(secret.retainOnDelete).toBe(true);
            expect(secret.importId).toBe("");
            expect(secret.parent).toBe(store.urn);
            expect(secret.inputs.kmsKeyId).toBeUndefined();
            // Each version writes into its own Secret, and knows it through the Secret's output (a property dependency).
            const version = named(run, `aws-${name}`);
            expect(version.inputs.secretId).toBe(secret.inputs.name);
            expect(version.propertyDependencies.secretId).toEqual([secret.urn]);
            expect(version.parent).toBe(store.urn);
        }
        // Whether a secret exists is asked of AWS once (getSecrets); nothing exists under mocks, so every one is created.
        expect(run.invokes).toEqual(["aws:secretsmanager/getSecrets:getSecrets"]);
    });

    it("publishes every secret as a new SecretVersion under the prefix, as a secret, retained on delete, never protected", async () => {
        const run = await firstRun();
        const versions = ofType(run, T.secretVersion);
        expect(versions.map((v) => v.inputs.secretId).sort()).toEqual(NAMES.map((n) => `${prefix}${n}`).sort());
        for (const v of versions) {
            expect(isSecretAt(v.raw, "secretString")).toBe(true);
            expect(v.retainOnDelete).toBe(true);
            // A new value replaces the version; protecting it would refuse every rotation.
            expect(v.protect).toBe(false);
        }
        expect(NAMES).toContain("JWT_SECRET_KEY_PREVIOUS");
        expect(NAMES).toContain("BUYWHERE_API_KEY_PREVIOUS");
    });

    it("composes URLs from config and the active slot, and publishes the other slot as the previous key", async () => {
        const run = await firstRun();
        const value = (name: string) => named(run, `aws-${name}`).inputs.secretString as string;
        const password = value("POSTGRES_PASSWORD");
        expect(password).toBe(named(run, "database-slots-a").state.result);
        expect(value("POSTGRES_USER")).toBe("buywhere_app_a");
        const host = stack === "staging" ? "buywhere-staging.cluster-c1a2b3c4d5e6" : "buywhere-prod.cluster-f6e5d4c3b2a1";
        expect(value("DATABASE_URL")).toBe(
            `postgresql://buywhere_app_a:${password}@${host}.ap-southeast-1.rds.amazonaws.com:5432/buywhere?sslmode=${stack === "staging" ? "require" : "verify-full"}`,
        );
        expect(value("DATABASE_REPLICA_URL")).toContain(`buywhere_app_a:${password}@${host.replace(".cluster-", ".cluster-ro-")}`);
        expect(value("PGBOUNCER_URL")).toContain(`:${password}@pgbouncer.${stack}.svc.cluster.local:6432/buywhere`);
        expect(value("REDIS_URL")).toMatch(new RegExp(`^rediss://buywhere-api:${named(run, "redis-slots-a").state.result}@.*:6379/0$`));
        expect(value("JWT_SECRET_KEY")).toBe(named(run, "jwt-slots-a").state.result);
        expect(value("JWT_SECRET_KEY_PREVIOUS")).toBe(named(run, "jwt-slots-b").state.result);
        expect(value("BUYWHERE_API_KEY_PREVIOUS")).toBe(named(run, "api-key-slots-b").state.result);
        expect(value("TYPESENSE_API_KEY")).toBe(named(run, "typesense-slots-a").state.result);
        expect(value("R2_ACCESS_KEY_ID")).toMatch(/^[0-9a-f]{32}$/);
        expect(value("R2_SECRET_ACCESS_KEY")).toMatch(/^[0-9a-f]{64}$/);
    });

    it("writes every key into the configured Secret of each namespace, as secret data, by patch, retained", async () => {
        const run = await firstRun();
        const patches = ofType(run, T.secretPatch);
        // The write annotation names the commit that wrote the keys (1: the first deployment).
        expect(patches.map((p) => p.inputs.metadata)).toEqual([
            { name: "buywhere-secrets", namespace: stack, annotations: { "pulumi.com/patchForce": "true", "buywhere.io/rotation-write": "1" } },
        ]);
        const patch = patches[0];
        expect(patch.name).toBe(`k8s-${stack}-secret`);
        expect(run.byUrn.get(patch.parent)?.type).toBe("buywhere:rotation:KubernetesSecretStore");
        expect(Object.keys(patch.inputs.data).sort()).toEqual([...NAMES].sort());
        expect(isSecretAt(patch.raw, "data")).toBe(true);
        expect(patch.retainOnDelete).toBe(true);
        // The K8s value is the same value Secrets Manager gets.
        for (const name of NAMES) {
            expect(Buffer.from(patch.inputs.data[name], "base64").toString("utf8")).toBe(named(run, `aws-${name}`).inputs.secretString);
        }
        expect(ofType(run, T.secret)).toEqual([]);
    });

    it("restarts each Deployment with a restartedAt patch carrying the plan's trigger, after its namespace's Secret, bounded by the rollout timeout", async () => {
        const run = await firstRun();
        const secretUrn = ofType(run, T.secretPatch)[0].urn;
        const patches = ofType(run, T.deploymentPatch);
        const k8sRestarts = plan.restarts.filter((r) => r.provider === "k8s");
        expect(patches.map((p) => p.name).sort()).toEqual(k8sRestarts.map((r) => `${r.name}-patch`).sort());
        for (const r of k8sRestarts) {
            const p = named(run, `${r.name}-patch`);
            expect(p.inputs.metadata).toEqual({ name: r.deployment, namespace: stack, annotations: { "pulumi.com/patchForce": "true" } });
            expect(p.inputs.spec).toEqual({ template: { metadata: { annotations: { [RESTARTED_AT]: `rotation-${r.trigger}` } } } });
            expect(r.trigger).toMatch(/^[0-9a-f]{16}$/);
            expect(deps(p)).toEqual([secretUrn]);
            expect(p.retainOnDelete).toBe(true);
            // `rotation:kubernetes.rolloutTimeoutSeconds` is not set in the stack file: its default, 600.
            expect(p.customTimeouts).toEqual({ create: "600s", update: "600s", delete: "" });
        }
        expect(new Set(k8sRestarts.map((r) => r.trigger)).size).toBe(2);
    });

    it("redeploys each ECS service with our hook, after exactly the Secrets Manager writes it consumes, with the plan's inputs", async () => {
        const run = await firstRun();
        const suffix = stack === "staging" ? "-staging" : "";
        const api = named(run, `ecs-buywhere-api${suffix}-redeploy`);
        const worker = named(run, `ecs-buywhere-worker${suffix}-redeploy`);
        expect(api.inputs.create).toBe(hookCommand("ecsRedeploy"));
        const apiPlan = plan.restarts.find((r) => r.id === `ecs:buywhere-api${suffix}`)!;
        expect(api.inputs.environment).toEqual({
            AWS_REGION: "ap-southeast-1",
            ECS_CLUSTER: "buywhere-api",
            ECS_SERVICE: `buywhere-api${suffix}`,
            ECS_TRIGGER: apiPlan.trigger,
            ECS_STABLE_TIMEOUT_SECONDS: stack === "staging" ? "900" : "1200",
            ECS_POLL_SECONDS: "15",
            // The hook refuses credentials of another account (the stack files' documentation placeholders here).
            ECS_ACCOUNT_ID: stack === "staging" ? "111122223333" : "444455556666",
        });
        expect(api.inputs.triggers).toEqual([apiPlan.trigger]);
        for (const r of plan.restarts) {
            if (r.provider === "aws") expect(fromEnv(CONTRACTS.ecsRedeploy, named(run, `${r.name}-redeploy`).inputs.environment)).toEqual(r.input);
        }
        const urnOf = (name: string) => named(run, `aws-${name}`).urn;
        expect([...deps(api)].sort()).toEqual(NAMES.map(urnOf).sort());
        const workerSecrets = SECRETS.filter((s) => ["database", "redis", "r2", "typesense"].includes(s.group)).map((s) => s.name);
        expect([...deps(worker)].sort()).toEqual(workerSecrets.map(urnOf).sort());
        expect(api.inputs.triggers[0]).not.toBe(worker.inputs.triggers[0]);
    });

    it("gates on a health check that depends on every restart; no restart depends on another restart", async () => {
        const run = await firstRun();
        const health = named(run, "health-check");
        const restarts = [...ofType(run, T.deploymentPatch), ...ofType(run, T.command).filter((c) => c.name.endsWith("-redeploy"))];
        expect(restarts).toHaveLength(4);
        expect([...deps(health)].sort()).toEqual(restarts.map((r) => r.urn).sort());
        expect(health.inputs.create).toBe(hookCommand("healthCheck"));
        expect(health.inputs.triggers).toEqual([plan.health.trigger]);
        expect(fromEnv(CONTRACTS.healthCheck, health.inputs.environment)).toEqual(plan.health.input);
        expect(JSON.parse(health.inputs.environment.HEALTH_URLS)).toEqual([
            `https://api.${stack === "staging" ? "staging." : ""}buywhere.io/health`,
            `https://api.${stack === "staging" ? "staging." : ""}buywhere.io/health/ready`,
        ]);
        const restartUrns = new Set(restarts.map((r) => r.urn));
        for (const r of restarts) {
            expect(deps(r).filter((d) => restartUrns.has(d))).toEqual([]);
        }
    });

    it("orders every slot (random passwords and R2 tokens) before the stores that publish it, stores before restarts before health", async () => {
        const run = await firstRun();
        const health = named(run, "health-check");
        const credentials = [...ofType(run, T.password), ...ofType(run, T.accountToken)];
        expect(credentials).toHaveLength(12);
        // Every active slot reaches health, through the stores that publish it.
        const active = credentials.filter((c) => c.name.endsWith("-slots-a"));
        expect(active.map((c) => c.name).sort()).toEqual(["api-key", "database", "jwt", "r2", "redis", "typesense"].map((g) => `${g}-slots-a`));
        for (const slot of active) {
            expect(reaches(run, health, slot.urn)).toBe(true);
        }
        // Each store write waits for every slot its value is made of.
        const slotsOf = (name: string) => {
            const group = SECRETS.find((s) => s.name === name)!.group;
            // A key id is not made of any credential: it names the slot and its generation.
            if (name.startsWith("JWT_KEY_ID")) return [];
            return name.endsWith("_PREVIOUS") ? [`${group}-slots-b`] : [`${group}-slots-a`];
        };
        for (const name of NAMES) {
            const version = named(run, `aws-${name}`);
            for (const slot of slotsOf(name)) expect({ name, slot, reached: reaches(run, version, named(run, slot).urn) }).toEqual({ name, slot, reached: true });
            expect(reaches(run, health, version.urn)).toBe(true);
        }
        const k8sSecret = ofType(run, T.secretPatch)[0];
        expect(reaches(run, health, k8sSecret.urn)).toBe(true);
        // Every slot comes before the K8s Secret: each is applied (R2's tokens proven by the R2 probe) or published.
        expect(credentials.filter((c) => !reaches(run, k8sSecret, c.urn)).map((c) => c.name)).toEqual([]);
        // Nothing upstream depends on anything downstream.
        for (const store of [...ofType(run, T.secretVersion), ...ofType(run, AWS_SECRET), k8sSecret]) {
            expect(reaches(run, store, health.urn)).toBe(false);
            for (const r of [...ofType(run, T.deploymentPatch), ...ofType(run, T.command).filter((c) => c.name.endsWith("-redeploy"))]) {
                expect(reaches(run, store, r.urn)).toBe(false);
            }
        }
    });

    it("outputs the non-secret facts of every secret, the committed state (the plan's) and no attempt; nothing secret", async () => {
        const run = await firstRun();
        expect(Object.keys(run.outputs.secrets).sort()).toEqual([...NAMES].sort());
        expect(run.outputs.secrets.DATABASE_URL).toEqual({
            group: "database",
            stamp: "2026-11",
            activeSlot: "a",
            publishedSlot: { aws: "a", k8s: "a" },
            awsSecretId: `${prefix}DATABASE_URL`,
            awsVersionId: expect.stringMatching(/^[0-9a-f-]{36}$/),
            version: { aws: expect.stringMatching(/^[0-9a-f]{16}$/), k8s: expect.stringMatching(/^[0-9a-f]{16}$/) },
        });
        expect(run.secretOutputPaths).toEqual([]);
        expect(run.outputs.rotationAttempt).toBeNull();
        expect(run.outputs.rotationState).toEqual(plan.nextState);
        expect(run.outputs.rotationState).toMatchObject({ version: 2, serial: 1 });
        expect(run.outputs.rotationState.groups.database).toEqual({
            stamp: "2026-11",
            active: "a",
            generation: { a: "g1", b: "g1" },
            activeSince: { a: "2026-11", b: null },
            rolledBack: false,
            held: {},
            changedAt: "2026-11-25T12:00:00.000Z",
        });
        expect(run.outputs.restarts).toEqual(Object.fromEntries(plan.restarts.map((r) => [r.id, { trigger: r.trigger, restarts: true }])));
    });

    it("records the plan's attempt as the root stack's first outputs event, before registering anything; the last event commits", async () => {
        const run = await firstRun();
        expect(plan.attempt).toBeDefined();
        const [attempt, ...rest] = run.stackOutputEvents;
        expect(attempt).toEqual({ outputs: { rotationAttempt: asStored(plan.attempt) }, registeredBefore: 0 });
        expect(plan.attempt!.generated).toEqual({});
        // Then one event per group, in catalog order, once its new slots exist, each with every slot created so far,
        // and each before anything that applies or publishes a credential (a rollback's knowledge, declareCredentials).
        const progress = rest.slice(0, -1);
        const cumulative = GROUPS.map((_, i) => Object.fromEntries(GROUPS.slice(0, i + 1).map((g) => [g, ["a", "b"]])));
        expect(progress.map((e) => e.outputs.rotationAttempt.generated)).toEqual(cumulative);
        for (const e of progress) {
            expect(e.outputs.rotationAttempt).toEqual({ ...asStored(plan.attempt), generated: e.outputs.rotationAttempt.generated });
            const registered = run.registrations.slice(0, e.registeredBefore).map((r) => r.type);
            expect(registered.filter((t) => t !== T.password && t !== T.accountToken && !t.startsWith("pulumi:providers:") && t !== "buywhere:rotation:CredentialSlots")).toEqual([]);
        }
        expect(progress.at(-1)!.registeredBefore).toBe(run.registrations.filter((r) => r.type === T.password || r.type === T.accountToken || r.type.startsWith("pulumi:providers:") || r.type === "buywhere:rotation:CredentialSlots").length);
        const [final] = rest.slice(-1);
        expect(final.outputs.rotationAttempt).toBeNull();
        expect(final.outputs.rotationState).toEqual(asStored(run.outputs.rotationState));
        // The committed state resolves only once every resource has been registered.
        expect(final.registeredBefore).toBe(run.registrations.length);
        expect(run.registrations.some((r) => r.type === T.stackRef)).toBe(false); // the StackReference is a read
    });
});

describe("successive runs fed their own last state (staging)", () => {
    const stack = "staging" as const;
    let runs: { initial: Run; rerun: Run; database: Run; jwt: Run } | undefined;
    async function sequence() {
        if (runs) return runs;
        const initial = await runProgram({ stack });
        const last = initial.outputs.rotationState;
        const rerun = await runProgram({ stack, lastState: last });
        // With the committed run's other outputs, as a stack that ran before has them.
        const lastOutputs = { secrets: initial.outputs.secrets, restarts: initial.outputs.restarts };
        const database = await runProgram({ stack, lastState: last, lastOutputs, config: { "rotation:groupStamps": { database: "2026-11-25T1030Z" } } });
        const jwt = await runProgram({ stack, lastState: last, config: { "rotation:groupStamps": { jwt: "2026-11-25T1030Z" } } });
        return (runs = { initial, rerun, database, jwt });
    }

    it("a rerun with the same config registers identical inputs everywhere and records no attempt", async () => {
        const { initial, rerun } = await sequence();
        expect(changedResources(initial, rerun)).toEqual([]);
        expect(rerun.stackOutputEvents).toHaveLength(1);
        expect(rerun.stackOutputEvents[0].outputs).toMatchObject({ rotationAttempt: null, rotationState: asStored(initial.outputs.rotationState) });
    });

    it("moving database's stamp regenerates its inactive slot with the next generation, and changes only its stores, its consumers and health", async () => {
        const { initial, rerun, database } = await sequence();
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
        expect(named(database, "database-slots-b").inputs.keepers).toEqual({ generation: "g2" });
        expect(named(database, "database-slots-a").inputs.keepers).toEqual({ generation: "g1" });
        expect(named(database, "database-apply-b").inputs.triggers).toEqual(["g2"]);
        expect(named(database, "aws-POSTGRES_USER").inputs.secretString).toBe("buywhere_app_b");
        expect(named(database, "aws-DATABASE_URL").inputs.secretString).toMatch(/^postgresql:\/\/buywhere_app_b:/);
        // The attempt recorded first is the plan's, from the committed state of serial 1.
        const plan = planFor(stack, { stored: { committed: initial.outputs.rotationState }, config: { "rotation:groupStamps": { database: "2026-11-25T1030Z" } } });
        expect(plan.attempt).toMatchObject({ from: 1, target: { serial: 2 } });
        // With the committed state it started from and the committed run's other outputs: a cancelled update records
        // this event exactly (recordAttempt), and `status` reads the AWS version ids from `secrets`.
        expect(database.stackOutputEvents[0]).toEqual({
            outputs: {
                rotationAttempt: asStored(plan.attempt),
                rotationState: asStored(initial.outputs.rotationState),
                secrets: asStored(initial.outputs.secrets),
                restarts: asStored(initial.outputs.restarts),
            },
            registeredBefore: 0,
        });
        expect(Object.keys(initial.outputs.secrets)).not.toHaveLength(0);
        // Then the record that database's new slot exists, then the commit.
        expect(database.stackOutputEvents.map((e) => e.outputs.rotationAttempt?.generated ?? null)).toEqual([{}, { database: ["b"] }, null]);
    });

    it("moving jwt's stamp restarts only the consumers of jwt; the previous key is the slot that was current", async () => {
        const { rerun, jwt } = await sequence();
        expect(changedResources(rerun, jwt)).toEqual(
            [
                "jwt-slots-b",
                "aws-JWT_SECRET_KEY",
                "aws-JWT_SECRET_KEY_PREVIOUS",
                "aws-JWT_KEY_ID",
                "aws-JWT_KEY_ID_PREVIOUS",
                "k8s-staging-secret",
                "ecs-buywhere-api-staging-redeploy",
                "k8s-staging-buywhere-api-patch",
                "health-check",
            ].sort(),
        );
        expect(named(jwt, "aws-JWT_SECRET_KEY_PREVIOUS").inputs.secretString).toBe(named(rerun, "aws-JWT_SECRET_KEY").inputs.secretString);
    });

    it("rotating r2 replaces the inactive slot's Cloudflare token by one named with the next generation", async () => {
        const { initial, rerun } = await sequence();
        const r2 = await runProgram({ stack, lastState: initial.outputs.rotationState, config: { "rotation:groupStamps": { r2: "2026-11-25T1030Z" } } });
        expect(named(r2, "r2-slots-b").inputs.name).toBe("buywhere-r2-staging-b-g2");
        expect(named(r2, "r2-slots-a").inputs.name).toBe("buywhere-r2-staging-a-g1");
        expect(changedResources(rerun, r2)).toEqual(
            [
                "r2-slots-b",
                "r2-apply-b",
                "aws-R2_ACCESS_KEY_ID",
                "aws-R2_SECRET_ACCESS_KEY",
                "k8s-staging-secret",
                "ecs-buywhere-api-staging-redeploy",
                "ecs-buywhere-worker-staging-redeploy",
                "k8s-staging-buywhere-api-patch",
                "health-check",
            ].sort(),
        );
        // The new token (slot b, now active) is the one published.
        expect(named(r2, "aws-R2_ACCESS_KEY_ID").inputs.secretString).toBe(named(r2, "r2-slots-b").id);
        expect(named(r2, "aws-R2_ACCESS_KEY_ID").inputs.secretString).not.toBe(named(rerun, "aws-R2_ACCESS_KEY_ID").inputs.secretString);
    });

    it("two rotations alternate slots, each labelled after the state it starts from; a rollback flips back without regenerating", async () => {
        const { database: afterFirst } = await sequence();
        const second = await runProgram({
            stack,
            lastState: afterFirst.outputs.rotationState,
            config: { "rotation:groupStamps": { database: "2026-11-25T1130Z" } },
        });
        expect(named(second, "database-slots-a").inputs.keepers).toEqual({ generation: "g3" });
        expect(named(second, "database-slots-b").inputs.keepers).toEqual({ generation: "g2" });
        expect(named(second, "aws-POSTGRES_USER").inputs.secretString).toBe("buywhere_app_a");
        // The role pods hold after the first rotation (b) keeps its password through the second.
        expect(named(second, "database-slots-b").state.result).toBe(named(afterFirst, "database-slots-b").state.result);
        expect(second.outputs.rotationState.groups.database).toEqual({
            stamp: "2026-11-25T1130Z",
            active: "a",
            generation: { a: "g3", b: "g2" },
            activeSince: { a: "2026-11-25T1130Z", b: "2026-11-25T1030Z" },
            rolledBack: false,
            held: {},
            changedAt: "2026-11-25T12:00:00.000Z",
        });

        const config = { "rotation:groupStamps": { database: "2026-11-25T1130Z" }, "rotation:rollback": { database: "2026-11-25T1130Z" } };
        const rolledBack = await runProgram({ stack, lastState: second.outputs.rotationState, config });
        const changed = changedResources(second, rolledBack);
        expect(changed.filter((n) => n.includes("slots") || n.includes("-apply-"))).toEqual([]);
        expect(changed).toContain("aws-DATABASE_URL");
        expect(named(rolledBack, "aws-DATABASE_URL").inputs.secretString).toBe(named(afterFirst, "aws-DATABASE_URL").inputs.secretString);
        expect(rolledBack.outputs.secrets.DATABASE_URL.activeSlot).toBe("b");
        // The stack file keeps the key: the next run accepts it and changes nothing.
        const again = await runProgram({ stack, lastState: rolledBack.outputs.rotationState, config });
        expect(changedResources(rolledBack, again)).toEqual([]);
        expect(again.stackOutputEvents.map((e) => e.outputs.rotationAttempt)).toEqual([null]);
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
        // Caught up, every slot and store is where a full rotation would have put it; only the restarts of this run and
        // the Secret's write annotation differ (both name the commit that restarted or wrote).
        expect(changedResources(database, caughtUp)).toEqual([
            "health-check",
            "k8s-staging-buywhere-api-patch",
            "k8s-staging-buywhere-search-indexer-patch",
            "k8s-staging-secret",
        ]);
    });

    it("a restart stamp for k8s rolls the Deployments and nothing else", async () => {
        const { initial, rerun } = await sequence();
        const restarted = await runProgram({
            stack,
            lastState: initial.outputs.rotationState,
            config: { "rotation:restartStamps": { k8s: "2026-11-25T1100Z" } },
        });
        expect(changedResources(rerun, restarted)).toEqual(["health-check", "k8s-staging-buywhere-api-patch", "k8s-staging-buywhere-search-indexer-patch"].sort());
    });
});

describe("an unfinished run (staging)", () => {
    const stack = "staging" as const;
    const LATER = new Date("2026-11-25T12:40:00Z");
    let setup: { committed: unknown; attemptRun: Run; attempt: unknown } | undefined;
    /** A first deployment, then a CLI rotation of database whose up failed after recording its attempt. */
    async function unfinished() {
        if (setup) return setup;
        const initial = await runProgram({ stack });
        const committed = initial.outputs.rotationState;
        const attemptRun = await runProgram({ stack, lastState: committed, env: request({ rotate: { groups: ["database"], scheduled: false } }) });
        // What the engine keeps when that up fails: the old rotationState, and the attempt event sent first.
        const attempt = attemptRun.stackOutputEvents[0].outputs.rotationAttempt;
        return (setup = { committed, attemptRun, attempt });
    }

    it("a plain run resumes it: identical keepers, applier and restart triggers, values and target state; logged without leaking", async () => {
        const { committed, attemptRun, attempt } = await unfinished();
        expect(attempt).toMatchObject({ from: 1, target: { serial: 2 } });
        const resumed = await runProgram({ stack, lastState: committed, lastAttempt: attempt, now: LATER });
        for (const p of ofType(attemptRun, T.password)) expect(named(resumed, p.name).inputs.keepers).toEqual(p.inputs.keepers);
        expect(named(resumed, "database-slots-b").inputs.keepers).toEqual({ generation: "g2" });
        const triggers = (run: Run) => ofType(run, T.command).map((c) => [c.name, c.inputs.triggers]);
        const restartedAt = (run: Run) => ofType(run, T.deploymentPatch).map((p) => [p.name, p.inputs.spec.template.metadata.annotations[RESTARTED_AT]]);
        expect(triggers(resumed)).toEqual(triggers(attemptRun));
        expect(restartedAt(resumed)).toEqual(restartedAt(attemptRun));
        expect(changedResources(attemptRun, resumed)).toEqual([]);
        expect(resumed.outputs.rotationState).toEqual(attemptRun.outputs.rotationState);
        // It records the same target again before changing anything.
        expect(resumed.stackOutputEvents[0].registeredBefore).toBe(0);
        expect(resumed.stackOutputEvents[0].outputs.rotationAttempt).toMatchObject({ from: 1, target: (attempt as { target: unknown }).target });
        expect(resumed.logs).toContain("resuming an unfinished run: rotate database to 2026-11-25T1200Z");
        for (const form of leakForms([...resumed.generated, ...Object.values(ADMIN_ENV)])) expect(resumed.logs).not.toContain(form);
    });

    it("the same request again (without a stamp) resumes it too", async () => {
        const { committed, attemptRun, attempt } = await unfinished();
        const again = await runProgram({
            stack,
            lastState: committed,
            lastAttempt: attempt,
            now: LATER,
            env: request({ rotate: { groups: ["database"], scheduled: false } }),
        });
        expect(changedResources(attemptRun, again)).toEqual([]);
    });

    it("a conflicting request fails before registering or recording anything, naming both ways out", async () => {
        const { committed, attempt } = await unfinished();
        const { error, registrations, stackOutputEvents } = await runProgramExpectingFailure({
            stack,
            lastState: committed,
            lastAttempt: attempt,
            now: LATER,
            env: request({ rotate: { groups: ["jwt"], scheduled: false } }),
        });
        expect(error.constructor.name).toBe("RunError");
        expect(error.message).toBe(
            "an earlier run did not finish (rotate database to 2026-11-25T1200Z, started 2026-11-25T12:00:00.000Z); run `pulumi up` again with the same config to finish it, or set `rotation:rollback.database` to the group's latest stamp (the unfinished rotation's, if any) to undo it, before anything else",
        );
        expect(registrations).toEqual([]);
        // The pending attempt is not overwritten.
        expect(stackOutputEvents.filter((e) => "rotationAttempt" in e.outputs)).toEqual([]);
    });
});

describe("program options and refusals", () => {
    it("an up that regenerates a group's slot without its admin credential fails first, naming the variable, recording nothing", async () => {
        const { ROTATION_PG_ADMIN_URL: _, ...withoutPg } = ADMIN_ENV;
        void _;
        const { error, registrations, stackOutputEvents } = await runProgramExpectingFailure({ stack: "staging", env: withoutPg });
        expect(error.message).toBe(
            'environment variable `ROTATION_PG_ADMIN_URL` is required: this run regenerates database slot a, b and must make it valid at its source first (README, "Source appliers")',
        );
        expect(registrations).toEqual([]);
        expect(stackOutputEvents.filter((e) => "rotationAttempt" in e.outputs)).toEqual([]);
    });

    it("a preview needs no admin credential and records no attempt", async () => {
        const preview = await runProgram({ stack: "staging", env: {}, preview: true });
        expect(ofType(preview, T.secretVersion)).toHaveLength(15);
        expect(ofType(preview, AWS_SECRET)).toHaveLength(15);
        expect(preview.stackOutputEvents).toHaveLength(1);
        expect(preview.stackOutputEvents[0].outputs.rotationAttempt).toBeNull();
        expect(preview.stackOutputEvents[0].registeredBefore).toBe(preview.registrations.length);
    });

    it("a run that regenerates nothing of a group does not need that group's credential", async () => {
        const first = await runProgram({ stack: "staging" });
        const jwtOnly = await runProgram({
            stack: "staging",
            lastState: first.outputs.rotationState,
            env: { ROTATION_REQUEST: JSON.stringify({ rotate: { groups: ["jwt"], stamp: "2026-11-25T1030Z", scheduled: false } }) },
        });
        expect(jwtOnly.outputs.rotationState.groups.jwt.stamp).toBe("2026-11-25T1030Z");
        expect(jwtOnly.stackOutputEvents[0].outputs.rotationAttempt.request).toEqual({ rotate: { groups: ["jwt"], stamp: "2026-11-25T1030Z", scheduled: false } });
    });

    it("creates the Secret instead of patching it when secretMode is create", async () => {
        const k8s = stackConfig("staging")["rotation:kubernetes"] as Record<string, unknown>;
        const run = await runProgram({ stack: "staging", config: { "rotation:kubernetes": { ...k8s, secretMode: "create" } } });
        expect(ofType(run, T.secretPatch)).toEqual([]);
        const [secret] = ofType(run, T.secret);
        expect(secret.inputs.metadata).toEqual({ name: "buywhere-secrets", namespace: "staging", annotations: { "buywhere.io/rotation-write": "1" } });
        expect(secret.inputs.type).toBe("Opaque");
        expect(isSecretAt(secret.raw, "data")).toBe(true);
        expect(secret.retainOnDelete).toBe(true);
    });

    it("bounds each Deployment's rollout by rotation:kubernetes.rolloutTimeoutSeconds", async () => {
        const k8s = stackConfig("staging")["rotation:kubernetes"] as Record<string, unknown>;
        const run = await runProgram({ stack: "staging", config: { "rotation:kubernetes": { ...k8s, rolloutTimeoutSeconds: 1500 } } });
        const patches = ofType(run, T.deploymentPatch);
        expect(patches).toHaveLength(2);
        for (const p of patches) expect(p.customTimeouts).toEqual({ create: "1500s", update: "1500s", delete: "" });
    });

    it("with no consumers configured, health depends on the store writes", async () => {
        const k8s = stackConfig("staging")["rotation:kubernetes"] as Record<string, unknown>;
        const run = await runProgram({
            stack: "staging",
            config: { "rotation:ecs": undefined, "rotation:kubernetes": { ...k8s, deployments: [] } },
        });
        const stores = [...ofType(run, AWS_SECRET), ...ofType(run, T.secretVersion), ...ofType(run, T.secretPatch)].map((r) => r.urn).sort();
        expect([...named(run, "health-check").dependencies].sort()).toEqual(stores);
    });

    it("environment overrides (allowed with ROTATION_ENV_OVERRIDES=1) reach the providers and hooks", async () => {
        const run = await runProgram({ stack: "staging", env: { ...ADMIN_ENV, AWS_REGION: "us-west-2", ECS_CLUSTER: "blue", K8S_CONTEXT: "kind-x", ROTATION_ENV_OVERRIDES: "1" } });
        const aws = run.registrations.find((r) => r.type === "pulumi:providers:aws")!;
        expect(aws.inputs.region).toBe("us-west-2");
        const k8s = run.registrations.find((r) => r.type === "pulumi:providers:kubernetes")!;
        expect(k8s.inputs.context).toBe("kind-x");
        expect(k8s.inputs.clusterIdentifier).toBe("buywhere-staging");
        expect(named(run, "ecs-buywhere-api-staging-redeploy").inputs.environment).toMatchObject({ AWS_REGION: "us-west-2", ECS_CLUSTER: "blue" });
    });

    it.each<[string, Record<string, unknown>, unknown, unknown, string]>([
        ["a malformed stamp", { "rotation:stamp": "2026-13" }, undefined, undefined, '`rotation:stamp` "2026-13" has no such month; expected `YYYY-MM`, `YYYY-MM-DD` or `YYYY-MM-DDTHHMMZ` (UTC)'],
        [
            "a stamp in the future",
            { "rotation:stamp": "2026-12" },
            undefined,
            undefined,
            "`rotation:stamp` 2026-12 labels a period that starts in the future (now 2026-11-25T12:00:00.000Z); use the current or an earlier period",
        ],
        ["an unknown key", { "rotation:stmap": "2026-11" }, undefined, undefined, "unknown config key `rotation:stmap` (did you mean `rotation:stamp`?); allowed keys: "],
        [
            "an unreadable last state",
            {},
            { schema: 99 },
            undefined,
            "the stack output `rotationState` left by the last run is not a version 2 rotation state; refusing to guess which slots are in use",
        ],
        [
            "an unreadable attempt",
            {},
            undefined,
            { from: "yesterday" },
            "the stack output `rotationAttempt` left by the last run is not a version 2 rotation state; refusing to guess which slots are in use",
        ],
    ])("fails before registering or recording anything on %s", async (_, config, lastState, lastAttempt, message) => {
        const { error, registrations, stackOutputEvents } = await runProgramExpectingFailure({ stack: "staging", config, lastState, lastAttempt });
        expect(error.constructor.name).toBe("RunError");
        expect(error.message.startsWith(message)).toBe(true);
        expect(error.message).not.toContain("\n");
        expect(registrations).toEqual([]);
        expect(stackOutputEvents.filter((e) => "rotationAttempt" in e.outputs)).toEqual([]);
    });

    it("takes a request from ROTATION_REQUEST and refuses a requested stamp older than the one last deployed, in the program's terms", async () => {
        const initial = await runProgram({ stack: "staging", env: request({ rotate: { groups: ["redis"], stamp: "2026-11-25T1030Z", scheduled: false } }) });
        expect(initial.outputs.rotationState.groups.redis.stamp).toBe("2026-11-25T1030Z");
        const { error, registrations } = await runProgramExpectingFailure({
            stack: "staging",
            lastState: initial.outputs.rotationState,
            env: request({ rotate: { groups: ["redis"], stamp: "2026-11-20T1030Z", scheduled: false } }),
        });
        expect(error.message).toBe(
            "`ROTATION_REQUEST` 2026-11-20T1030Z is earlier than redis's last stamp 2026-11-25T1030Z; stamps never go backwards (use a later stamp, or set `rotation:rollback.redis` to the group's latest stamp (the unfinished rotation's, if any) to undo a rotation)",
        );
        expect(registrations).toEqual([]);
        const bad = await runProgramExpectingFailure({ stack: "staging", env: { ...ADMIN_ENV, ROTATION_REQUEST: '{"rotate":{"groups":["dbase"]}}' } });
        expect(bad.error.message).toBe('`ROTATION_REQUEST.rotate.groups[0]` must be one of `database`, `redis`, `jwt`, `api-key`, `r2`, `typesense` (got "dbase")');
        expect(bad.registrations).toEqual([]);
    });
});
