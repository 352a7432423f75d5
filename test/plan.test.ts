import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { cliTerms, commandLineOf } from "../automation/request";
import { GROUPS, Group } from "../rotation/catalog";
import { postgresUrl, redisUrl } from "../rotation/connectionUrls";
import { Planned, RotationPlan, planRotation } from "../rotation/plan";
import { CONFIG_TERMS, Refusal, describeRefusal } from "../rotation/refusals";
import { RotationRequest } from "../rotation/request";
import { parseSettings } from "../rotation/settings";
import { RotationState, StoredState } from "../rotation/state";
import { stackConfig } from "./support/pulumiProgram";

const NOW = new Date("2026-11-25T12:00:00Z");
const base = stackConfig("staging");
const settingsWith = (override: Record<string, unknown> = {}) => parseSettings({ ...base, ...override });

/** Plans or fails the test with the refusal. */
function planned(p: Planned): RotationPlan {
    if (p.refusal) throw new Error(`unexpected refusal: ${describeRefusal(p.refusal, CONFIG_TERMS)}`);
    return p.plan;
}
function refused(p: Planned): Refusal {
    if (!p.refusal) throw new Error("expected a refusal");
    return p.refusal;
}
const run = (stored: StoredState, opts: { override?: Record<string, unknown>; request?: RotationRequest; now?: Date } = {}) =>
    planRotation({ settings: settingsWith(opts.override), stored, now: opts.now ?? NOW, request: opts.request, stack: "staging" });
const committed = (p: RotationPlan): StoredState => ({ committed: p.nextState });
/**
 * What the engine keeps when a run fails after recording its attempt: the old committed state and the attempt, with the
 * slots the run created before it failed as the program records them, group by group (rotation/program.ts
 * `declareCredentials`): by default every slot it regenerates; `createdGroups` limits them to those groups'. An attempt
 * that knows nothing (`generated` absent) stays so.
 */
function failed(before: StoredState, p: RotationPlan, createdGroups: readonly Group[] = GROUPS): StoredState {
    const attempt = p.attempt;
    if (attempt?.generated === undefined) return { committed: before.committed, attempt };
    const created = GROUPS.filter((g) => createdGroups.includes(g) && p.groups[g].regenerate.length > 0).map((g) => [g, p.groups[g].regenerate]);
    return { committed: before.committed, attempt: { ...attempt, generated: { ...attempt.generated, ...Object.fromEntries(created) } } };
}

const first = () => planned(run({}));
/** The plan after a first deployment at the stack file's stamp, then one run with `override`. */
function secondRun(override: Record<string, unknown>, now = NOW) {
    const f = first();
    return { first: f, second: planned(run(committed(f), { override, now })) };
}
const changedSecrets = (p: RotationPlan, provider: "aws" | "k8s" = "aws") => p.secrets.filter((s) => s.changed[provider]).map((s) => s.spec.name);
const restarting = (p: RotationPlan) => p.restarts.filter((c) => c.restarts).map((c) => c.id);
const generations = (p: RotationPlan) => Object.fromEntries(p.credentials.map((c) => [c.name, c.generation]));
const version = (p: RotationPlan, name: string, provider: "aws" | "k8s" = "aws") => p.secrets.find((s) => s.spec.name === name)!.version[provider];
const trigger = (p: RotationPlan, id: string) => p.restarts.find((r) => r.id === id)!.trigger;
const rotate = (groups: Group[], extra: Partial<NonNullable<RotationRequest["rotate"]>> = {}): RotationRequest => ({
    rotate: { groups, scheduled: false, ...extra },
});
const DATABASE_SECRETS = ["POSTGRES_PASSWORD", "POSTGRES_USER", "DATABASE_URL", "DATABASE_REPLICA_URL", "PGBOUNCER_URL"];
const ALL_CONSUMERS = ["ecs:buywhere-api-staging", "ecs:buywhere-worker-staging", "k8s:staging/buywhere-api", "k8s:staging/buywhere-search-indexer"];

describe("rotation plan: the blueprint", () => {
    it("first deployment: every slot generated, applied, every store written, every consumer restarted, health checked", () => {
        const plan = first();
        for (const g of GROUPS) {
            expect(plan.groups[g].change).toBe("initial");
            expect(plan.groups[g].regenerate).toEqual(["a", "b"]);
        }
        expect(new Set(Object.values(generations(plan)))).toEqual(new Set(["g1"]));
        expect(plan.credentials.filter((c) => c.kind === "cloudflareToken").map((c) => c.kind === "cloudflareToken" && c.tokenName)).toEqual([
            "buywhere-r2-staging-a-g1",
            "buywhere-r2-staging-b-g1",
        ]);
        expect(plan.appliers.map((a) => [a.name, a.hook, a.triggers])).toEqual([
            ["database-apply-a", "postgresApply", ["g1"]],
            ["database-apply-b", "postgresApply", ["g1"]],
            ["redis-apply-elasticache", "elasticacheApply", ["g1", "g1"]], // the stack file's Redis is ElastiCache
            ["r2-apply-a", "r2Probe", ["g1"]],
            ["r2-apply-b", "r2Probe", ["g1"]],
            ["typesense-apply-a", "typesenseApply", ["g1"]],
            ["typesense-apply-b", "typesenseApply", ["g1"]],
        ]);
        expect(changedSecrets(plan)).toHaveLength(15);
        expect(restarting(plan)).toEqual(ALL_CONSUMERS);
        expect(plan.restarts.every((c) => c.reasons[0] === "first deployment of this consumer")).toBe(true);
        expect(plan.health.runs).toBe(true);
        expect(plan.kubernetes?.stores.map((s) => [s.namespace, s.changed])).toEqual([["staging", true]]);
        expect(plan.secrets.find((s) => s.spec.name === "DATABASE_URL")?.awsSecretId).toBe("buywhere/staging/DATABASE_URL");
        expect(plan.nextState.serial).toBe(1);
        expect(plan.attempt).toMatchObject({ from: 0, target: plan.nextState });
    });

    it("applier inputs carry credential references for secrets and plain values for the rest", () => {
        const db = first().appliers.find((a) => a.name === "database-apply-b")!;
        expect(db.inputs).toEqual({ role: "buywhere_app_b", password: { group: "database", slot: "b", field: "secret" } });
        const ts = first().appliers.find((a) => a.name === "typesense-apply-a")!;
        expect(ts.inputs).toEqual({
            url: "https://search.staging.buywhere.io",
            stack: "staging",
            slot: "a",
            stamp: "g1",
            value: { group: "typesense", slot: "a", field: "secret" },
            actions: ["documents:search", "documents:get", "documents:create", "documents:upsert", "documents:update", "documents:delete", "documents:import"],
            collections: ["products", "merchants"],
            proofTimeoutSeconds: 60,
        });
    });

    it("admin secrets and the Redis kind reach the appliers as plain inputs: an ARN and an endpoint, never a credential", () => {
        const pgArn = "arn:aws:secretsmanager:ap-southeast-1:111122223333:secret:rds!cluster-0a1b2c3d-aaaa-bbbb-cccc-0123456789ab-AbC123";
        const tsArn = "arn:aws:secretsmanager:ap-southeast-1:111122223333:secret:buywhere-admin/typesense-XyZ789";
        const redis = base["rotation:redis"] as Record<string, unknown>;
        const acl = { host: redis.host, port: redis.port, user: redis.user, tls: true };
        const redisArn = "arn:aws:secretsmanager:ap-southeast-1:111122223333:secret:buywhere-admin/redis-QwE456";
        const p = planned(run({}, { override: { "rotation:adminSecrets": { database: pgArn, typesense: tsArn, redis: redisArn }, "rotation:redis": acl } }));
        const inputs = (name: string) => p.appliers.find((a) => a.name === name)!.inputs;
        expect(inputs("database-apply-a")).toMatchObject({
            adminSecretArn: pgArn,
            adminEndpoint: "postgresql://buywhere-staging.cluster-c1a2b3c4d5e6.ap-southeast-1.rds.amazonaws.com:5432/buywhere?sslmode=verify-full",
        });
        expect(inputs("redis-apply-acl")).toMatchObject({ adminSecretArn: redisArn, adminEndpoint: "rediss://buywhere-staging.abc123.ng.0001.apse1.cache.amazonaws.com:6379/0" });
        expect(inputs("typesense-apply-a")).toMatchObject({ adminSecretArn: tsArn });
        // Without rotation:adminSecrets the hooks inherit their variables: no ARN, no endpoint.
        const plain = first().appliers.find((a) => a.name === "database-apply-a")!.inputs;
        expect([plain.adminSecretArn, plain.adminEndpoint]).toEqual([undefined, undefined]);
        // The stack file's ElastiCache kind: one run with the user id, the TLS endpoint and the bounds.
        expect(first().appliers.find((a) => a.hook === "elasticacheApply")!.inputs).toMatchObject({
            region: "ap-southeast-1",
            userId: "buywhere-api-staging",
            user: "buywhere-api",
            endpoint: "rediss://buywhere-staging.abc123.ng.0001.apse1.cache.amazonaws.com:6379",
            modifyTimeoutSeconds: 900,
            pollSeconds: 10,
        });
    });

    it("a value recipe is what is published, and its digest is the version", () => {
        const plan = first();
        const url = plan.secrets.find((s) => s.spec.name === "DATABASE_REPLICA_URL")!;
        expect(url.recipe.aws).toEqual({
            kind: "postgresUrl",
            parts: {
                scheme: "postgresql",
                user: "buywhere_app_a",
                host: "buywhere-staging.cluster-ro-c1a2b3c4d5e6.ap-southeast-1.rds.amazonaws.com",
                port: 5432,
                database: "buywhere",
                params: { sslmode: "require" },
            },
            password: { group: "database", slot: "a", field: "secret" },
        });
        expect(plan.secrets.find((s) => s.spec.name === "POSTGRES_USER")!.recipe.k8s).toEqual({ kind: "text", value: "buywhere_app_a" });
        expect(plan.secrets.find((s) => s.spec.name === "JWT_SECRET_KEY_PREVIOUS")!.recipe.aws).toEqual({
            kind: "credential",
            ref: { group: "jwt", slot: "b", field: "secret" },
        });
    });

    it("a rerun with the same config plans no change at all and records no attempt", () => {
        const { first: f, second } = secondRun({});
        expect(GROUPS.map((g) => second.groups[g].change)).toEqual(Array(6).fill("none"));
        expect(changedSecrets(second)).toEqual([]);
        expect(restarting(second)).toEqual([]);
        expect(second.health.runs).toBe(false);
        expect(second.kubernetes?.stores.every((s) => !s.changed)).toBe(true);
        expect(second.attempt).toBeUndefined();
        expect(second.nextState).toEqual(f.nextState);
    });

    it.each([
        ["database", DATABASE_SECRETS, ALL_CONSUMERS],
        ["redis", ["REDIS_URL"], ["ecs:buywhere-api-staging", "ecs:buywhere-worker-staging", "k8s:staging/buywhere-api"]],
        ["jwt", ["JWT_SECRET_KEY", "JWT_SECRET_KEY_PREVIOUS", "JWT_KEY_ID", "JWT_KEY_ID_PREVIOUS"], ["ecs:buywhere-api-staging", "k8s:staging/buywhere-api"]],
        ["api-key", ["BUYWHERE_API_KEY", "BUYWHERE_API_KEY_PREVIOUS"], ["ecs:buywhere-api-staging", "k8s:staging/buywhere-api"]],
        ["r2", ["R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY"], ["ecs:buywhere-api-staging", "ecs:buywhere-worker-staging", "k8s:staging/buywhere-api"]],
        ["typesense", ["TYPESENSE_API_KEY"], ALL_CONSUMERS],
    ])("an on-demand rotation of %s changes only its secrets and restarts only its consumers", (group, secrets, consumers) => {
        const { first: f, second } = secondRun({ "rotation:groupStamps": { [group]: "2026-11-25T1030Z" } });
        const g = second.groups[group as Group];
        expect(g.change).toBe("rotate");
        expect(g.regenerate).toEqual(["b"]);
        expect(g.next.generation).toEqual({ a: "g1", b: "g2" });
        for (const other of GROUPS.filter((x) => x !== group)) {
            expect(second.groups[other].change).toBe("none");
            expect(second.groups[other].next.generation).toEqual(f.groups[other].next.generation);
        }
        expect(changedSecrets(second)).toEqual(secrets);
        expect(restarting(second)).toEqual(consumers);
        for (const c of second.restarts.filter((c) => c.restarts)) {
            expect(c.reasons.every((r) => secrets.some((s) => r === `${s} changed`))).toBe(true);
        }
        expect(second.health.runs).toBe(true);
    });

    it("moving rotation:stamp rotates every group", () => {
        const { second } = secondRun({ "rotation:stamp": "2026-12" }, new Date("2026-12-01T00:00:00Z"));
        expect(GROUPS.map((g) => second.groups[g].change)).toEqual(Array(6).fill("rotate"));
        expect(changedSecrets(second)).toHaveLength(15);
    });

    it("a group uses the later of rotation:stamp and its own stamp; an older override is ignored with a warning", () => {
        const f = planned(run({}, { override: { "rotation:groupStamps": { jwt: "2026-11-20T0900Z" } } }));
        expect(f.groups.jwt.next.stamp).toBe("2026-11-20T0900Z");
        const later = planned(
            run(committed(f), { override: { "rotation:stamp": "2026-12", "rotation:groupStamps": { jwt: "2026-11-20T0900Z" } }, now: new Date("2026-12-01T00:00:00Z") }),
        );
        expect(later.groups.jwt.next.stamp).toBe("2026-12");
        expect(later.warnings).toEqual(["`rotation:groupStamps.jwt` 2026-11-20T0900Z is older than `rotation:stamp` and has no effect"]);
    });

    it("a restart stamp restarts exactly the consumers in its scope and changes no secret", () => {
        const { second } = secondRun({ "rotation:restartStamps": { k8s: "2026-11-25T1100Z" } });
        expect(changedSecrets(second)).toEqual([]);
        expect(restarting(second)).toEqual(["k8s:staging/buywhere-api", "k8s:staging/buywhere-search-indexer"]);
        expect(second.restarts.find((c) => c.restarts)?.reasons).toEqual(["a restart stamp was bumped"]);
        expect(restarting(secondRun({ "rotation:restartStamps": { jwt: "2026-11-25T1100Z" } }).second)).toEqual(["ecs:buywhere-api-staging", "k8s:staging/buywhere-api"]);
        expect(restarting(secondRun({ "rotation:restartStamps": { all: "2026-11-25T1100Z" } }).second)).toEqual(ALL_CONSUMERS);
    });

    it("a change of non-secret composition config (a host) republishes the URL that uses it and restarts its consumers", () => {
        const db = base["rotation:database"] as Record<string, unknown>;
        const { second } = secondRun({ "rotation:database": { ...db, replicaHost: "replica-2.internal" } });
        expect(changedSecrets(second)).toEqual(["DATABASE_REPLICA_URL"]);
        expect(restarting(second)).toEqual(ALL_CONSUMERS);
        expect(GROUPS.map((g) => second.groups[g].change)).toEqual(Array(6).fill("none"));
    });

    it("a setting no URL is made of (the ACL rules bootstrap uses) changes no secret and restarts nobody", () => {
        const redis = base["rotation:redis"] as Record<string, unknown>;
        const { second } = secondRun({ "rotation:redis": { ...redis, aclRules: ["~app:*", "+@read"] } });
        expect(changedSecrets(second)).toEqual([]);
        expect(restarting(second)).toEqual([]);
    });

    it("treats the stack file's stamps as a floor: after a CLI rotation a stale stack file changes nothing, silently", () => {
        const f = first();
        const requested = planned(run(committed(f), { request: rotate(["jwt"], { stamp: "2026-11-25T1030Z" }) }));
        const stale = planned(run(committed(requested)));
        expect(GROUPS.map((g) => stale.groups[g].change)).toEqual(Array(6).fill("none"));
        expect(changedSecrets(stale)).toEqual([]);
        expect(restarting(stale)).toEqual([]);
        expect(stale.warnings).toEqual([]);
        const monthly = planned(run(committed(requested), { override: { "rotation:stamp": "2026-12" }, now: new Date("2026-12-01T00:00:00Z") }));
        expect(monthly.groups.jwt.change).toBe("rotate");
    });

    it("ties each URL to the active slot's role, URL-encoded", () => {
        const parts = { scheme: "postgresql", user: "buywhere_app_b", host: "db.internal", port: 5432, database: "buywhere", params: { sslmode: "require" } };
        expect(postgresUrl(parts, "p@ss/w:rd?")).toBe("postgresql://buywhere_app_b:p%40ss%2Fw%3Ard%3F@db.internal:5432/buywhere?sslmode=require");
        const redis = { tls: true, user: "buywhere-api", host: "cache.internal", port: 6379, db: 0 };
        expect(redisUrl(redis, "a b#c")).toBe("rediss://buywhere-api:a%20b%23c@cache.internal:6379/0");
        expect(redisUrl({ ...redis, tls: false, db: 3 }, "x")).toBe("redis://buywhere-api:x@cache.internal:6379/3");
    });
});

describe("rotation plan: requests, rollbacks and holds", () => {
    it("a request mints an on-demand stamp from the clock; rotate-all takes the period's scheduled stamp when it is new", () => {
        const f = first();
        expect(planned(run(committed(f), { request: rotate(["redis"]) })).groups.redis.next.stamp).toBe("2026-11-25T1200Z");
        const december = new Date("2026-12-01T00:05:00Z");
        const all = planned(run(committed(f), { request: rotate([...GROUPS], { scheduled: true }), now: december }));
        expect(GROUPS.map((g) => all.groups[g].next.stamp)).toEqual(Array(6).fill("2026-12"));
        const again = planned(run(committed(all), { request: rotate([...GROUPS], { scheduled: true }), now: new Date("2026-12-01T00:07:00Z") }));
        expect(again.groups.jwt.next.stamp).toBe("2026-12-01T0007Z");
        expect(all.attempt?.request.rotate?.stamp).toBe("2026-12");
    });

    it("a rollback makes the other slot active again without regenerating; the values are exactly the pre-rotation ones", () => {
        const f = first();
        const rotated = planned(run(committed(f), { request: rotate(["api-key"]) }));
        const back = planned(run(committed(rotated), { request: { rollback: { groups: ["api-key"] } } }));
        expect(back.groups["api-key"].change).toBe("rollback");
        expect(back.groups["api-key"].regenerate).toEqual([]);
        expect(generations(back)).toEqual(generations(rotated));
        expect(back.groups["api-key"].next.active).toBe("a");
        expect(changedSecrets(back)).toEqual(["BUYWHERE_API_KEY", "BUYWHERE_API_KEY_PREVIOUS"]);
        expect(version(back, "BUYWHERE_API_KEY")).toBe(version(f, "BUYWHERE_API_KEY"));
    });

    it("restart triggers are unique per committed run: a rollback never repeats an earlier trigger", () => {
        const f = first();
        const rotated = planned(run(committed(f), { request: rotate(["jwt"]) }));
        const back = planned(run(committed(rotated), { request: { rollback: { groups: ["jwt"] } } }));
        const id = "ecs:buywhere-api-staging";
        expect(version(back, "JWT_SECRET_KEY")).toBe(version(f, "JWT_SECRET_KEY"));
        expect(new Set([trigger(f, id), trigger(rotated, id), trigger(back, id)]).size).toBe(3);
    });

    it("a repeated rollback is a no-op (the stack file may keep the key); a rollback key naming another stamp is refused", () => {
        const f = first();
        const rotated = planned(run(committed(f), { request: rotate(["redis"], { stamp: "2026-11-25T1030Z" }) }));
        const key = { "rotation:rollback": { redis: "2026-11-25T1030Z" } };
        const back = planned(run(committed(rotated), { override: key }));
        expect(back.groups.redis.change).toBe("rollback");
        const again = planned(run(committed(back), { override: key }));
        expect(again.groups.redis.change).toBe("none");
        expect(again.attempt).toBeUndefined();
        const wrong = refused(run(committed(rotated), { override: { "rotation:rollback": { redis: "2026-11" } } }));
        expect(describeRefusal(wrong, CONFIG_TERMS)).toBe(
            "`rotation:rollback.redis` 2026-11 does not name redis's last rotation, 2026-11-25T1030Z: set it to 2026-11-25T1030Z to roll that back, or remove it",
        );
    });

    it("a retire regenerates the inactive slot and keeps the current one; with endSessions its appliers end the old sessions", () => {
        const rotated = planned(run(committed(first()), { request: rotate(["database", "redis", "jwt"]) }));
        const retired = planned(run(committed(rotated), { request: { retire: { groups: ["database", "redis", "jwt"], endSessions: true } } }));
        for (const g of ["database", "redis", "jwt"] as const) {
            expect(retired.groups[g]).toMatchObject({ change: "retire", regenerate: ["a"] });
            expect(retired.groups[g].next.active).toBe("b");
            expect(retired.groups[g].next.stamp).toBe(rotated.groups[g].next.stamp);
        }
        // Only the retired slot's applier ends sessions; the current slot's is untouched.
        expect(retired.appliers.filter((a) => a.regenerates.length > 0).map((a) => [a.name, a.inputs.endSessions])).toEqual([
            ["database-apply-a", true],
            ["redis-apply-elasticache", true],
        ]);
        expect(retired.appliers.find((a) => a.name === "database-apply-b")!.inputs.endSessions).toBeUndefined();
        // The current values do not change; the previous ones do (JWT_SECRET_KEY_PREVIOUS is now the fresh slot a).
        expect(changedSecrets(retired)).toEqual(["JWT_SECRET_KEY_PREVIOUS", "JWT_KEY_ID_PREVIOUS"]);
        const plain = planned(run(committed(rotated), { request: { retire: { groups: ["database"], endSessions: false } } }));
        expect(plain.appliers.find((a) => a.name === "database-apply-a")!.inputs.endSessions).toBeUndefined();
    });

    it("a provider-limited rotation holds the other provider; the held provider catches up without a new stamp", () => {
        const f = first();
        const aws = planned(run(committed(f), { request: rotate(["redis"], { provider: "aws" }) }));
        expect(aws.groups.redis.next.held).toEqual({ k8s: "a" });
        expect(changedSecrets(aws, "aws")).toEqual(["REDIS_URL"]);
        expect(changedSecrets(aws, "k8s")).toEqual([]);
        expect(describeRefusal(refused(run(committed(aws), { request: rotate(["redis"]) })), CONFIG_TERMS)).toBe(
            "redis: k8s still publishes slot a (held back since 2026-11-25T1200Z), which a rotation would regenerate; catch it up with a run without `rotation:hold.redis` and without a new stamp first",
        );
        const caughtUp = planned(run(committed(aws), { request: rotate(["redis"], { provider: "k8s" }) }));
        expect(caughtUp.groups.redis.change).toBe("catch-up");
        expect(caughtUp.groups.redis.regenerate).toEqual([]);
        expect(changedSecrets(caughtUp, "k8s")).toEqual(["REDIS_URL"]);
    });

    it("requested restarts must move forward; the refusal of a minted stamp says when the next one is allowed", () => {
        const f = first();
        const restarted = planned(run(committed(f), { request: { restart: { scopes: ["aws"] } } }));
        expect(restarting(restarted)).toEqual(["ecs:buywhere-api-staging", "ecs:buywhere-worker-staging"]);
        expect(describeRefusal(refused(run(committed(restarted), { request: { restart: { scopes: ["aws"] } } })), CONFIG_TERMS)).toBe(
            "restart stamp 2026-11-25T1200Z for aws is not later than the last one, 2026-11-25T1200Z; the next on-demand restart is allowed from 2026-11-25T1201Z",
        );
        expect(restarting(planned(run(committed(restarted))))).toEqual([]);
    });

    it.each<[string, () => Planned, string, string]>([
        [
            "a stamp in the future (stack file)",
            () => run({}, { override: { "rotation:stamp": "2026-12" } }),
            "`rotation:stamp` 2026-12 labels a period that starts in the future (now 2026-11-25T12:00:00.000Z); use the current or an earlier period",
            "`rotation:stamp` in Pulumi.staging.yaml 2026-12 labels a period that starts in the future (now 2026-11-25T12:00:00.000Z); use the current or an earlier period",
        ],
        [
            "a requested stamp older than the last one",
            () => run(committed(planned(run(committed(first()), { request: rotate(["database"], { stamp: "2026-11-25T1030Z" }) }))), { request: rotate(["database"], { stamp: "2026-11-24T1030Z" }) }),
            "`ROTATION_REQUEST` 2026-11-24T1030Z is earlier than database's last stamp 2026-11-25T1030Z; stamps never go backwards (use a later stamp, or set `rotation:rollback.database` to the group's latest stamp (the unfinished rotation's, if any) to undo a rotation)",
            "--stamp 2026-11-24T1030Z is earlier than database's last stamp 2026-11-25T1030Z; stamps never go backwards (use a later stamp, or run `secrets-rotation rollback --service database --stack staging` to undo a rotation)",
        ],
        [
            "a rollback of a group never rotated",
            () => run(committed(first()), { request: { rollback: { groups: ["jwt"] } } }),
            "cannot roll back jwt: it has not been rotated since its first deployment",
            "cannot roll back jwt: it has not been rotated since its first deployment",
        ],
    ])("refuses %s, worded by each front end", (_, plan, config, cli) => {
        const r = refused(plan());
        expect(describeRefusal(r, CONFIG_TERMS)).toBe(config);
        expect(describeRefusal(r, cliTerms({ command: "rotate", stack: "staging", services: ["database"], provider: "all", stamp: "x" }))).toBe(cli);
    });
});

describe("rotation plan: unfinished runs", () => {
    const start = () => committed(first());

    it("a failed run is resumed by the same request without a stamp, or by a plain run: the same target, nothing new generated", () => {
        const before = start();
        const attempt = planned(run(before, { request: rotate(["database"]) }));
        const pending = failed(before, attempt);
        const later = new Date("2026-11-25T12:40:00Z");
        for (const request of [rotate(["database"]), undefined]) {
            const resumed = planned(run(pending, { request, now: later }));
            expect(resumed.mode.kind).toBe("resume");
            expect(resumed.groups.database.next.stamp).toBe("2026-11-25T1200Z");
            expect(generations(resumed)).toEqual(generations(attempt));
            expect(resumed.restarts.map((r) => r.trigger)).toEqual(attempt.restarts.map((r) => r.trigger));
            expect(resumed.nextState.serial).toBe(attempt.nextState.serial);
        }
    });

    it("while a run is unfinished, a new stamp or another command is refused, naming both ways out", () => {
        const before = start();
        const pending = failed(before, planned(run(before, { request: rotate(["database"]) })));
        const input = { command: "rotate" as const, stack: "staging", services: ["jwt" as Group], provider: "all" as const };
        for (const request of [rotate(["database"], { stamp: "2026-11-25T1230Z" }), rotate(["jwt"]), { restart: { scopes: ["all" as const] } }]) {
            const r = refused(run(pending, { request, now: new Date("2026-11-25T12:40:00Z") }));
            expect(describeRefusal(r, cliTerms(input))).toBe(
                "an earlier run did not finish (rotate database to 2026-11-25T1200Z, started 2026-11-25T12:00:00.000Z); rerun `secrets-rotation rotate --service database --stamp 2026-11-25T1200Z --stack staging` (or `pulumi up`) to finish it, or run `secrets-rotation rollback --service database --stack staging` to undo it, before anything else",
            );
        }
        expect(refused(run(pending, { override: { "rotation:stamp": "2026-12" }, now: new Date("2026-12-01T00:00:00Z") })).kind).toBe("unfinished");
    });

    it("a rollback of an unfinished rotation goes back to the committed slots, regenerates nothing, restarts what the attempt moved", () => {
        const before = start();
        const attempt = planned(run(before, { request: rotate(["database", "jwt"]) }));
        const pending = failed(before, attempt);
        expect(refused(run(pending, { request: { rollback: { groups: ["database"] } } }))).toMatchObject({ kind: "partial-abandon", missing: ["jwt"] });
        const undo = planned(run(pending, { request: { rollback: { groups: ["database", "jwt"] } } }));
        expect(undo.mode.kind).toBe("abandon");
        // The slots the attempt generated keep their generation: nothing is generated again.
        expect(generations(undo)).toEqual(generations(attempt));
        expect(undo.groups.database.next.active).toBe("a");
        expect(version(undo, "DATABASE_URL")).toBe(version(first(), "DATABASE_URL"));
        // Every consumer the attempt may have restarted restarts again, onto the committed slot, with a new trigger.
        expect(restarting(undo)).toEqual(ALL_CONSUMERS);
        for (const r of undo.restarts) expect([trigger(attempt, r.id), before.committed!.consumers[r.id]]).not.toContain(r.trigger);
        // Everything the attempt may have published is written back (JWT_SECRET_KEY_PREVIOUS now names the key the attempt
        // generated, so tokens it may have signed keep verifying).
        expect(changedSecrets(undo)).toEqual([...DATABASE_SECRETS, "JWT_SECRET_KEY", "JWT_SECRET_KEY_PREVIOUS", "JWT_KEY_ID", "JWT_KEY_ID_PREVIOUS"]);
        // After the undo commits, the next rotation regenerates the slot again (a fresh credential).
        const next = planned(run(committed(undo), { request: rotate(["database"]), now: new Date("2026-11-25T12:50:00Z") }));
        expect(next.groups.database.regenerate).toEqual(["b"]);
        expect(next.groups.database.next.generation.b).not.toBe(undo.groups.database.next.generation.b);
    });

    it("a rollback of a run that failed before creating a group's new slot generates nothing: JWT_SECRET_KEY_PREVIOUS and its key id stay as committed", () => {
        const before = start();
        const attempt = planned(run(before, { request: rotate(["database", "jwt"]) }));
        // A new run knows from its first record that it has created nothing yet.
        expect(attempt.attempt?.generated).toEqual({});
        expect(attempt.groups.jwt.regenerate).toEqual(["b"]);
        // It created database's new slot, then failed creating jwt's.
        const pending = failed(before, attempt, ["database"]);
        expect(pending.attempt?.generated).toEqual({ database: ["b"] });
        const undo = planned(run(pending, { request: { rollback: { groups: ["database", "jwt"] } } }));
        expect(undo.mode.kind).toBe("abandon");
        expect(undo.groups.database.next.generation).toEqual(attempt.groups.database.next.generation);
        expect(undo.groups.jwt.next.generation).toEqual(before.committed!.groups.jwt.generation);
        expect(undo.groups.jwt.regenerate).toEqual([]);
        for (const name of ["JWT_SECRET_KEY", "JWT_SECRET_KEY_PREVIOUS", "JWT_KEY_ID", "JWT_KEY_ID_PREVIOUS"]) {
            expect(undo.nextState.secrets.aws[name], name).toBe(before.committed!.secrets.aws[name]);
            expect(undo.nextState.secrets.k8s[name], name).toBe(before.committed!.secrets.k8s[name]);
        }
        // Failed before creating anything: the undo is the committed state again, with new restart triggers.
        const nothing = planned(run(failed(before, attempt, []), { request: { rollback: { groups: ["database", "jwt"] } } }));
        expect(generations(nothing)).toEqual(generations(planned(run(before))));
        expect(nothing.nextState.secrets).toEqual(before.committed!.secrets);
    });

    it("an attempt that does not say what it created (recorded by an older version) is rolled back keeping every slot it meant to regenerate", () => {
        const before = start();
        const attempt = planned(run(before, { request: rotate(["jwt"]) }));
        const { generated: _, ...unknown } = attempt.attempt!;
        const undo = planned(run({ committed: before.committed, attempt: unknown }, { request: { rollback: { groups: ["jwt"] } } }));
        expect(undo.groups.jwt.next.generation).toEqual(attempt.groups.jwt.next.generation);
        // Resuming it keeps not knowing; a resumed run that knows carries what the runs before it recorded.
        expect(planned(run({ committed: before.committed, attempt: unknown })).attempt?.generated).toBeUndefined();
        expect(planned(run(failed(before, attempt))).attempt?.generated).toEqual({ jwt: ["b"] });
    });

    it("a raw `pulumi up` undoes an unfinished rotation when the stack file names its stamp under rotation:rollback", () => {
        const before = start();
        const attempt = planned(run(before, { request: rotate(["database"]) }));
        const undo = planned(run(failed(before, attempt), { override: { "rotation:rollback": { database: "2026-11-25T1200Z" } } }));
        expect(undo.mode.kind).toBe("abandon");
        expect(undo.groups.database.next.active).toBe("a");
        expect(generations(undo)).toEqual(generations(attempt));
        // A stale key naming an older stamp does not undo it: the run resumes, as a plain run would.
        const stale = run(failed(before, attempt), { override: { "rotation:rollback": { database: "2026-11" } } });
        expect(stale.plan?.mode.kind ?? stale.refusal?.kind).not.toBe("abandon");
    });

    it("an attempt from an older committed state is over: a later commit ends it", () => {
        const before = start();
        const attempt = planned(run(before, { request: rotate(["redis"]) }));
        const done = planned(run(committed(attempt), { request: rotate(["jwt"]), now: new Date("2026-11-25T12:30:00Z") }));
        expect(done.mode.kind).toBe("normal");
        expect(planned(run({ committed: attempt.nextState, attempt: attempt.attempt }, { request: rotate(["jwt"]), now: new Date("2026-11-25T12:30:00Z") })).mode.kind).toBe("normal");
    });

    it("property: across failures, resumes, rollbacks and rotations, no run regenerates a slot the committed state or an unfinished run publishes", () => {
        // A failing run fails after creating the new slots of the first `created` groups (all of them when it failed later).
        type Step = { kind: "rotate" | "rollback" | "restart"; group: Group; fail: boolean; created: number };
        const step = fc.record({
            kind: fc.constantFrom<Step["kind"]>("rotate", "rollback", "restart"),
            group: fc.constantFrom<Group>(...GROUPS),
            fail: fc.boolean(),
            created: fc.nat(GROUPS.length),
        });
        fc.assert(
            fc.property(fc.array(step, { minLength: 1, maxLength: 12 }), (steps) => {
                let stored: StoredState = start();
                let minute = 0;
                for (const s of steps) {
                    minute += 1;
                    const now = new Date(NOW.getTime() + minute * 60_000);
                    const request: RotationRequest =
                        s.kind === "rotate" ? rotate([s.group]) : s.kind === "rollback" ? { rollback: { groups: [s.group] } } : { restart: { scopes: [s.group] } };
                    let p = run(stored, { request, now });
                    if (p.refusal?.kind === "unfinished") p = run(stored, { now }); // resume, as the refusal says
                    if (p.refusal) continue;
                    const plan = p.plan!;
                    // What is in use: the committed state's published slots, and those an unfinished run may have
                    // published: a slot it kept, or one it created (a slot it never created it cannot have published).
                    const inUse: { state: RotationState; mayPublish: (g: Group, slot: "a" | "b") => boolean }[] = [{ state: stored.committed!, mayPublish: () => true }];
                    const attempt = stored.attempt;
                    if (attempt) {
                        const kept = (g: Group, slot: "a" | "b") => attempt.target.groups[g].generation[slot] === stored.committed!.groups[g].generation[slot];
                        const created = (g: Group, slot: "a" | "b") => attempt.generated === undefined || (attempt.generated[g] ?? []).includes(slot);
                        inUse.push({ state: attempt.target, mayPublish: (g, slot) => kept(g, slot) || created(g, slot) });
                    }
                    for (const { state, mayPublish } of inUse) {
                        for (const g of GROUPS) {
                            const group = state.groups[g];
                            const published = new Set([group.active, ...Object.values(group.held)]);
                            for (const slot of published) {
                                if (mayPublish(g, slot)) expect(plan.nextState.groups[g].generation[slot]).toBe(group.generation[slot]);
                            }
                        }
                    }
                    // And a rollback generates nothing: every slot holds a generation the engine already has.
                    if (plan.mode.kind === "abandon") {
                        for (const g of GROUPS) {
                            for (const slot of ["a", "b"] as const) {
                                const label = plan.nextState.groups[g].generation[slot];
                                const held = label === stored.committed!.groups[g].generation[slot] || (attempt !== undefined && inUse[1].mayPublish(g, slot) && label === attempt.target.groups[g].generation[slot]);
                                expect(held, `${g}/${slot}`).toBe(true);
                            }
                        }
                    }
                    stored = s.fail && plan.attempt ? failed(stored, plan, GROUPS.slice(0, s.created)) : plan.attempt ? committed(plan) : stored;
                }
            }),
            { numRuns: 300 },
        );
    });
});

describe("rotation plan: adopting an environment in use (issue 10)", () => {
    const ADOPT = { "rotation:firstDeployment": false };
    const versions = { POSTGRES_PASSWORD: "v-pg", POSTGRES_USER: "v-user", DATABASE_URL: "v-url", JWT_SECRET_KEY: "v-jwt", REDIS_URL: "v-redis", BUYWHERE_API_KEY: "v-api" };
    const adopt = () =>
        planned(planRotation({ settings: settingsWith(ADOPT), stored: {}, now: NOW, request: { adopt: {} }, stack: "staging", adoption: { versions } }));

    it("a stack without state refuses every run that would deploy it, unless it adopts or says nothing is in use", () => {
        for (const request of [undefined, rotate(["jwt"]), { restart: { scopes: ["all" as const] } }, rotate([...GROUPS], { scheduled: true })]) {
            expect(refused(run({}, { override: ADOPT, request })).kind).toBe("first-contact");
        }
        expect(describeRefusal(refused(run({}, { override: ADOPT })), CONFIG_TERMS)).toBe(
            "the stack has no recorded state, and a first deployment would replace every credential in use: run `secrets-rotation adopt --stack <stack>` to take over the values in use today, or, only where nothing uses these secrets yet, set `rotation:firstDeployment: true` in the stack file",
        );
        // A rollback there is refused by the group it names.
        expect(refused(run({}, { override: ADOPT, request: { rollback: { groups: ["jwt"] } } })).kind).toBe("nothing-to-roll-back");
        // The explicit opt-ins: the request's, or the stack file's.
        expect(planned(run({}, { override: ADOPT, request: { ...rotate([...GROUPS], { scheduled: true }), firstDeployment: true } })).groups.jwt.change).toBe("initial");
        expect(planned(run({}, { override: { "rotation:firstDeployment": true } })).groups.jwt.change).toBe("initial");
    });

    it("adopt: slot a holds the values in use (by AWS version), slot b is generated and applied; nothing published, nobody restarted", () => {
        const plan = adopt();
        expect(plan.mode.kind).toBe("adopt");
        expect(plan.publishes).toBe(false);
        expect(plan.restarts).toEqual([]);
        expect(plan.kubernetes?.stores).toEqual([]);
        for (const g of GROUPS) {
            expect(plan.groups[g].change).toBe("adopt");
            expect(plan.groups[g].regenerate).toEqual(["b"]);
            expect(plan.groups[g].next.generation).toEqual({ a: "adopted", b: "g1" });
        }
        expect(plan.groups.database.next.adopted).toEqual({ slot: "a", versions: { POSTGRES_PASSWORD: "v-pg", POSTGRES_USER: "v-user", DATABASE_URL: "v-url" } });
        expect(plan.credentials.find((c) => c.name === "jwt-slots-a")).toMatchObject({ kind: "adopted", versions: { JWT_SECRET_KEY: "v-jwt" } });
        // Appliers leave the legacy login and key alone; the Redis user holds the adopted password and the new one.
        expect(plan.appliers.map((a) => a.name).filter((n) => n.endsWith("-a"))).toEqual([]);
        expect(plan.appliers.find((a) => a.group === "redis")?.inputs).toMatchObject({ passwordA: { group: "redis", slot: "a" }, passwordB: { group: "redis", slot: "b" } });
        // URLs and the role are published verbatim from the adopted versions while slot a is current.
        expect(plan.secrets.find((s) => s.spec.name === "DATABASE_URL")?.recipe.aws).toEqual({ kind: "adopted", group: "database", slot: "a", secret: "DATABASE_URL", versionId: "v-url", part: "value" });
        expect(plan.secrets.every((s) => !s.changed.aws && !s.changed.k8s)).toBe(true);
        expect(Object.keys(plan.nextState.consumers).sort()).toEqual([...ALL_CONSUMERS].sort());
    });

    it("adopt on a stack with state is refused; resuming an unfinished adopt needs the same ask", () => {
        const f = planned(run({}));
        expect(refused(planRotation({ settings: settingsWith(ADOPT), stored: committed(f), now: NOW, request: { adopt: {} }, stack: "staging" }))).toEqual({
            kind: "already-deployed",
            serial: 1,
        });
        const a = adopt();
        const unfinished: StoredState = { attempt: a.attempt };
        const resumed = planned(planRotation({ settings: settingsWith(ADOPT), stored: unfinished, now: NOW, request: { adopt: {} }, stack: "staging" }));
        expect(resumed.mode.kind).toBe("resume");
        expect(resumed.groups.jwt.next.adopted).toEqual(a.groups.jwt.next.adopted);
        expect(refused(planRotation({ settings: settingsWith(ADOPT), stored: unfinished, now: NOW, request: rotate(["jwt"]), stack: "staging" })).kind).toBe("unfinished");
    });

    it("rotation 1 keeps the adopted values as previous; rotation 2 regenerates the adopted slot and forgets them", () => {
        const a = adopt();
        const dec = new Date("2026-12-02T00:00:00Z");
        const r1 = planned(run(committed(a), { override: { ...ADOPT, "rotation:stamp": "2026-12" }, now: dec }));
        expect(r1.groups.jwt.next).toMatchObject({ active: "b", generation: { a: "adopted", b: "g2" }, adopted: { slot: "a" } });
        expect(r1.secrets.find((s) => s.spec.name === "JWT_SECRET_KEY_PREVIOUS")?.recipe.aws).toEqual({ kind: "credential", ref: { group: "jwt", slot: "a", field: "secret" } });
        expect(r1.publishes).toBe(true);
        expect(restarting(r1).sort()).toEqual([...ALL_CONSUMERS].sort());
        const jan = new Date("2027-01-04T00:00:00Z");
        const r2 = planned(run(committed(r1), { override: { ...ADOPT, "rotation:stamp": "2027-01" }, now: jan }));
        for (const g of GROUPS) {
            expect(r2.groups[g].next.generation.a).toBe("g3");
            expect(r2.groups[g].next.adopted).toBeUndefined();
            expect(r2.groups[g].regenerate).toEqual(["a"]);
        }
        expect(r2.credentials.some((c) => c.kind === "adopted")).toBe(false);
        // The legacy PostgreSQL login is not the slot role: slot a's applier now sets buywhere_app_a.
        expect(r2.appliers.find((x) => x.name === "database-apply-a")?.inputs).toMatchObject({ role: "buywhere_app_a" });
        // A rollback after rotation 1 makes the adopted values current again, verbatim.
        const back = planned(run(committed(r1), { override: ADOPT, request: { rollback: { groups: ["database"] } }, now: dec }));
        expect(back.secrets.find((s) => s.spec.name === "POSTGRES_USER")?.recipe.aws).toMatchObject({ kind: "adopted", secret: "POSTGRES_USER", part: "value" });
        // Where the system before had no POSTGRES_USER (the seed's ten secrets), it is DATABASE_URL's user.
        const { POSTGRES_USER: _, ...seedVersions } = versions;
        const seed = planned(planRotation({ settings: settingsWith(ADOPT), stored: {}, now: NOW, request: { adopt: {} }, stack: "staging", adoption: { versions: seedVersions } }));
        expect(seed.secrets.find((s) => s.spec.name === "POSTGRES_USER")?.recipe.aws).toEqual({
            kind: "adopted",
            group: "database",
            slot: "a",
            secret: "DATABASE_URL",
            versionId: "v-url",
            part: "urlUser",
        });
    });
});

describe("rotation plan: a minimum interval between rotations (issue 12)", () => {
    const jwtWeek = { "rotation:minInterval": { jwt: "7d" } };
    it("an on-demand rotation sooner than rotation:minInterval after the group's last change is refused, saying when it is allowed", () => {
        const f = planned(run({}, { override: jwtWeek, now: new Date("2026-11-02T10:00:00Z") }));
        const soon = run(committed(f), { override: jwtWeek, request: rotate(["jwt"]), now: new Date("2026-11-05T10:00:00Z") });
        expect(refused(soon)).toEqual({ kind: "min-interval", group: "jwt", interval: "7d", last: "2026-11-02T10:00:00.000Z", nextAllowed: "2026-11-09T10:00:00.000Z" });
        expect(describeRefusal(refused(soon), CONFIG_TERMS)).toBe(
            "jwt last changed at 2026-11-02T10:00:00.000Z, and `rotation:minInterval.jwt` is 7d: the next on-demand rotation of jwt is allowed from 2026-11-09T10:00:00.000Z (a rotation drops the key the one before it replaced)",
        );
        // Other groups are not held back; from the allowed instant jwt rotates.
        expect(planned(run(committed(f), { override: jwtWeek, request: rotate(["api-key"]), now: new Date("2026-11-05T10:00:00Z") })).groups["api-key"].change).toBe("rotate");
        expect(planned(run(committed(f), { override: jwtWeek, request: rotate(["jwt"]), now: new Date("2026-11-09T10:00:00Z") })).groups.jwt.change).toBe("rotate");
        // A scheduled (monthly) rotation is never held back; a wrong stamp is judged before the interval.
        expect(planned(run(committed(f), { override: { ...jwtWeek, "rotation:stamp": "2026-12" }, now: new Date("2026-12-01T00:01:00Z") })).groups.jwt.change).toBe("rotate");
        expect(refused(run(committed(f), { override: jwtWeek, request: rotate(["jwt"], { stamp: "2026-11" }), now: new Date("2026-11-05T10:00:00Z") })).kind).toBe("stamp-not-later");
    });

    it("jwt's interval defaults to 7d; other groups have none unless set", () => {
        const settings = parseSettings({ ...base, "rotation:minInterval": undefined });
        expect(settings.minInterval).toEqual({ jwt: "7d" });
        expect(parseSettings({ ...base, "rotation:minInterval": { database: "12h" } }).minInterval).toEqual({ jwt: "7d", database: "12h" });
        expect(() => parseSettings({ ...base, "rotation:minInterval": { jwt: "a week" } })).toThrow(/`rotation:minInterval.jwt` "a week" is not a duration such as 7d, 12h or 90m|rotation:minInterval\.jwt/);
    });
});

describe("rotation plan: JWT key ids (issue 12)", () => {
    it("publishes a key id beside each JWT key: unique per slot and generation, following the key it names", () => {
        const kid = (p: RotationPlan, name: string) => p.secrets.find((s) => s.spec.name === name)!.recipe.aws;
        const f = first();
        expect(kid(f, "JWT_KEY_ID")).toEqual({ kind: "text", value: "jwt-a-g1" });
        expect(kid(f, "JWT_KEY_ID_PREVIOUS")).toEqual({ kind: "text", value: "jwt-b-g1" });
        const r = planned(run(committed(f), { request: rotate(["jwt"]) }));
        expect(kid(r, "JWT_KEY_ID")).toEqual({ kind: "text", value: "jwt-b-g2" });
        // The previous key id names the key that was current, exactly as JWT_SECRET_KEY_PREVIOUS holds it.
        expect(kid(r, "JWT_KEY_ID_PREVIOUS")).toEqual(kid(f, "JWT_KEY_ID"));
        expect(r.secrets.find((s) => s.spec.name === "JWT_SECRET_KEY_PREVIOUS")!.recipe.aws).toEqual(f.secrets.find((s) => s.spec.name === "JWT_SECRET_KEY")!.recipe.aws);
    });
});

describe("rotation plan: an unfinished first deployment", () => {
    it("can only be finished: the refusal of anything else offers no rollback (nothing was committed)", () => {
        const f = first();
        const pending: StoredState = { attempt: f.attempt };
        const r = refused(run(pending, { request: { rollback: { groups: ["jwt"] } } }));
        expect(r).toMatchObject({ kind: "unfinished", undoable: false });
        expect(describeRefusal(r, cliTerms({ command: "rollback", stack: "staging", services: ["jwt"], provider: "all" }))).toMatch(
            /^an earlier run did not finish \(initial database to 2026-11, .*\); run `pulumi up` again \(the unfinished run was one\) to finish it before anything else \(it was the stack's first deployment: there is nothing to roll back to\)$/,
        );
    });
});

describe("the command that resumes an unfinished run (CLI terms)", () => {
    it("is the command that makes the same request, with the stamps it resolved", () => {
        expect(commandLineOf({ rotate: { groups: [...GROUPS], scheduled: true, stamp: "2026-12" } })).toBe("rotate-all --stamp 2026-12");
        expect(commandLineOf({ rotate: { groups: ["jwt", "redis"], scheduled: false, provider: "aws", stamp: "2026-12-01T1000Z" } })).toBe(
            "rotate --service jwt --service redis --provider aws --stamp 2026-12-01T1000Z",
        );
        expect(commandLineOf({ rollback: { groups: ["database"] } })).toBe("rollback --service database");
        expect(commandLineOf({ retire: { groups: ["api-key"], endSessions: true } })).toBe("retire --service api-key");
        expect(commandLineOf({ restart: { scopes: ["k8s/typesense"], stamp: "2026-12-01T1000Z" } })).toBe("restart --service typesense --provider k8s --stamp 2026-12-01T1000Z");
        expect(commandLineOf({ adopt: {} })).toBe("adopt");
        expect(commandLineOf({ firstDeployment: true })).toBe("rotate-all --first-deployment");
        expect(commandLineOf({})).toBeUndefined();
    });
});
