import { describe, expect, it } from "vitest";
import { GROUPS } from "../rotation/catalog";
import { postgresUrl, redisUrl } from "../rotation/compose";
import { NO_REQUEST, RotationRequest, parseSettings } from "../rotation/config";
import { RotationPlan, planRotation } from "../rotation/plan";
import { stackConfig } from "./support/pulumiProgram";

const NOW = new Date("2026-11-25T12:00:00Z");
const base = stackConfig("staging");
const settingsWith = (override: Record<string, unknown> = {}) => parseSettings({ ...base, ...override });

/** The plan after a first deployment at the stack file's stamp, then one run with `override`. */
function secondRun(override: Record<string, unknown>, now = NOW): { first: RotationPlan; second: RotationPlan } {
    const first = planRotation(settingsWith(), undefined, now);
    return { first, second: planRotation(settingsWith(override), first.nextState, now) };
}
const changedSecrets = (p: RotationPlan, provider: "aws" | "k8s" = "aws") => p.secrets.filter((s) => s.changed[provider]).map((s) => s.spec.name);
const restarting = (p: RotationPlan) => p.consumers.filter((c) => c.restarts).map((c) => c.id);
const DATABASE_SECRETS = ["POSTGRES_PASSWORD", "POSTGRES_USER", "DATABASE_URL", "DATABASE_REPLICA_URL", "PGBOUNCER_URL"];
const ALL_CONSUMERS = ["ecs:buywhere-api-staging", "ecs:buywhere-worker-staging", "k8s:staging/buywhere-api", "k8s:staging/buywhere-search-indexer"];

describe("rotation plan", () => {
    it("first deployment: every slot generated, every store written, every consumer restarted, health checked", () => {
        const plan = planRotation(settingsWith(), undefined, NOW);
        for (const g of GROUPS) {
            expect(plan.groups[g].change).toBe("initial");
            expect(plan.groups[g].keepers).toEqual({ a: { stamp: "2026-11" }, b: { stamp: "initial" } });
        }
        expect(changedSecrets(plan)).toHaveLength(13);
        expect(restarting(plan)).toEqual(ALL_CONSUMERS);
        expect(plan.consumers.every((c) => c.reasons[0] === "first deployment of this consumer")).toBe(true);
        expect(plan.health.runs).toBe(true);
        expect(plan.k8sNamespacesChanged).toEqual(["staging"]);
        expect(plan.secrets.find((s) => s.spec.name === "DATABASE_URL")?.awsSecretId).toBe("buywhere/staging/DATABASE_URL");
    });

    it("a rerun with the same config plans no change at all", () => {
        const { second } = secondRun({});
        expect(GROUPS.map((g) => second.groups[g].change)).toEqual(Array(6).fill("none"));
        expect(changedSecrets(second)).toEqual([]);
        expect(restarting(second)).toEqual([]);
        expect(second.health.runs).toBe(false);
        expect(second.k8sNamespacesChanged).toEqual([]);
    });

    it.each([
        ["database", DATABASE_SECRETS, ALL_CONSUMERS],
        ["redis", ["REDIS_URL"], ["ecs:buywhere-api-staging", "ecs:buywhere-worker-staging", "k8s:staging/buywhere-api"]],
        ["jwt", ["JWT_SECRET_KEY", "JWT_SECRET_KEY_PREVIOUS"], ["ecs:buywhere-api-staging", "k8s:staging/buywhere-api"]],
        ["api-key", ["BUYWHERE_API_KEY", "BUYWHERE_API_KEY_PREVIOUS"], ["ecs:buywhere-api-staging", "k8s:staging/buywhere-api"]],
        ["r2", ["R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY"], ["ecs:buywhere-api-staging", "ecs:buywhere-worker-staging", "k8s:staging/buywhere-api"]],
        ["typesense", ["TYPESENSE_API_KEY"], ALL_CONSUMERS],
    ])("an on-demand rotation of %s changes only its secrets and restarts only its consumers", (group, secrets, consumers) => {
        const { first, second } = secondRun({ "rotation:groupStamps": { [group]: "2026-11-25T1030Z" } });
        const g = second.groups[group as (typeof GROUPS)[number]];
        expect(g.change).toBe("rotate");
        expect(g.regenerate).toEqual(["b"]);
        expect(g.keepers).toEqual({ a: { stamp: "2026-11" }, b: { stamp: "2026-11-25T1030Z" } });
        for (const other of GROUPS.filter((x) => x !== group)) {
            expect(second.groups[other].change).toBe("none");
            expect(second.groups[other].keepers).toEqual(first.groups[other].keepers);
        }
        expect(changedSecrets(second)).toEqual(secrets);
        expect(restarting(second)).toEqual(consumers);
        for (const c of second.consumers.filter((c) => c.restarts)) {
            expect(c.reasons.length).toBeGreaterThan(0);
            expect(c.reasons.every((r) => secrets.some((s) => r === `${s} changed`))).toBe(true);
        }
        expect(second.health.runs).toBe(true);
    });

    it("moving rotation:stamp rotates every group", () => {
        const { second } = secondRun({ "rotation:stamp": "2026-12" }, new Date("2026-12-01T00:00:00Z"));
        expect(GROUPS.map((g) => second.groups[g].change)).toEqual(Array(6).fill("rotate"));
        expect(changedSecrets(second)).toHaveLength(13);
    });

    it("a group uses the later of rotation:stamp and its own stamp; an older override is ignored with a warning", () => {
        const first = planRotation(settingsWith({ "rotation:groupStamps": { jwt: "2026-11-20T0900Z" } }), undefined, NOW);
        expect(first.groups.jwt.next.stamp).toBe("2026-11-20T0900Z");
        const later = planRotation(
            settingsWith({ "rotation:stamp": "2026-12", "rotation:groupStamps": { jwt: "2026-11-20T0900Z" } }),
            first.nextState,
            new Date("2026-12-01T00:00:00Z"),
        );
        expect(later.groups.jwt.next.stamp).toBe("2026-12");
        expect(later.warnings).toEqual(["`rotation:groupStamps.jwt` 2026-11-20T0900Z is older than `rotation:stamp` and has no effect"]);
    });

    it("a restart stamp restarts exactly the consumers in its scope and changes no secret", () => {
        const { second } = secondRun({ "rotation:restartStamps": { k8s: "2026-11-25T1100Z" } });
        expect(changedSecrets(second)).toEqual([]);
        expect(restarting(second)).toEqual(["k8s:staging/buywhere-api", "k8s:staging/buywhere-search-indexer"]);
        expect(second.consumers.find((c) => c.restarts)?.reasons).toEqual(["a restart stamp was bumped"]);

        const byGroup = secondRun({ "rotation:restartStamps": { jwt: "2026-11-25T1100Z" } }).second;
        expect(restarting(byGroup)).toEqual(["ecs:buywhere-api-staging", "k8s:staging/buywhere-api"]);
        const all = secondRun({ "rotation:restartStamps": { all: "2026-11-25T1100Z" } }).second;
        expect(restarting(all)).toEqual(ALL_CONSUMERS);
    });

    it("a rollback changes the group's published secrets without regenerating a slot", () => {
        const s1 = settingsWith({ "rotation:groupStamps": { "api-key": "2026-11-25T1030Z" } });
        const first = planRotation(settingsWith(), undefined, NOW);
        const rotated = planRotation(s1, first.nextState, NOW);
        const rolledBack = planRotation(
            settingsWith({ "rotation:groupStamps": { "api-key": "2026-11-25T1030Z" }, "rotation:rollback": { "api-key": "2026-11-25T1030Z" } }),
            rotated.nextState,
            NOW,
        );
        expect(rolledBack.groups["api-key"].change).toBe("rollback");
        expect(rolledBack.groups["api-key"].regenerate).toEqual([]);
        expect(rolledBack.groups["api-key"].keepers).toEqual(rotated.groups["api-key"].keepers);
        expect(rolledBack.groups["api-key"].next.active).toBe("a");
        expect(changedSecrets(rolledBack)).toEqual(["BUYWHERE_API_KEY", "BUYWHERE_API_KEY_PREVIOUS"]);
        // The rolled-back values are exactly the ones published before the rotation.
        const version = (p: RotationPlan, n: string) => p.secrets.find((s) => s.spec.name === n)!.version.aws;
        expect(version(rolledBack, "BUYWHERE_API_KEY")).toBe(version(first, "BUYWHERE_API_KEY"));
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

    it.each([
        [{ "rotation:stamp": "2026-12" }, "rotation:stamp", "`rotation:stamp` 2026-12 labels a period that starts in the future (now 2026-11-25T12:00:00.000Z); use the current or an earlier period"],
        [{ "rotation:groupStamps": { redis: "2026-11-25T1300Z" } }, "rotation:groupStamps.redis", "`rotation:groupStamps.redis` 2026-11-25T1300Z labels a period that starts in the future"],
    ])("refuses a stamp in the future: %j", (override, key, message) => {
        expect(() => planRotation(settingsWith(override), undefined, NOW)).toThrow(message);
        expect(() => planRotation(settingsWith(override), undefined, NOW)).toThrow(expect.objectContaining({ key }));
    });

    const request = (r: Partial<RotationRequest>): RotationRequest => ({ ...NO_REQUEST, label: "--stamp", ...r });

    it("refuses a requested stamp older than the group's last one, naming the option", () => {
        const { first } = secondRun({});
        const later = planRotation(settingsWith(), first.nextState, NOW, request({ stamps: { database: "2026-11-25T1030Z" } }));
        expect(later.groups.database.change).toBe("rotate");
        expect(() => planRotation(settingsWith(), later.nextState, NOW, request({ stamps: { database: "2026-11-24T1030Z" } }))).toThrow(
            "`--stamp` 2026-11-24T1030Z is earlier than database's last stamp 2026-11-25T1030Z; stamps never go backwards",
        );
    });

    it("treats the stack file's stamps as a floor: a stale stack file changes nothing and says why", () => {
        const { first } = secondRun({});
        const requested = planRotation(settingsWith(), first.nextState, NOW, request({ stamps: { jwt: "2026-11-25T1030Z" } }));
        // A raw `pulumi up` from a checkout whose stack file still says 2026-11:
        const stale = planRotation(settingsWith(), requested.nextState, NOW);
        expect(GROUPS.map((g) => stale.groups[g].change)).toEqual(Array(6).fill("none"));
        expect(changedSecrets(stale)).toEqual([]);
        expect(restarting(stale)).toEqual([]);
        expect(stale.warnings).toEqual([
            "`rotation:stamp` 2026-11 is older than jwt's last stamp 2026-11-25T1030Z (a later rotation was requested since); nothing to rotate",
        ]);
        // ...and moving the stack file's stamp past it rotates jwt again.
        const monthly = planRotation(settingsWith({ "rotation:stamp": "2026-12" }), requested.nextState, new Date("2026-12-01T00:00:00Z"));
        expect(monthly.groups.jwt.change).toBe("rotate");
    });

    it("a requested rollback and hold apply without touching the stack file; requested restarts must move forward", () => {
        const { first } = secondRun({});
        const rotated = planRotation(settingsWith(), first.nextState, NOW, request({ stamps: { redis: "2026-11-25T1030Z" }, hold: { redis: ["k8s"] } }));
        expect(rotated.groups.redis.next.held).toEqual({ k8s: "a" });
        expect(changedSecrets(rotated, "aws")).toEqual(["REDIS_URL"]);
        expect(changedSecrets(rotated, "k8s")).toEqual([]);
        const restarted = planRotation(settingsWith(), rotated.nextState, NOW, request({ restartStamps: { aws: "2026-11-25T1100Z" } }));
        // No hold in this run: Kubernetes catches up, and AWS consumers restart.
        expect(restarted.groups.redis.change).toBe("catch-up");
        expect(restarting(restarted)).toEqual(ALL_CONSUMERS.filter((c) => c !== "k8s:staging/buywhere-search-indexer"));
        expect(() => planRotation(settingsWith(), restarted.nextState, NOW, request({ restartStamps: { aws: "2026-11-25T1100Z" } }))).toThrow(
            "`--stamp` restart stamp 2026-11-25T1100Z for aws is not later than the last one, 2026-11-25T1100Z",
        );
        // A restart stamp once applied stays applied: the next plain run restarts nothing.
        expect(restarting(planRotation(settingsWith(), restarted.nextState, NOW))).toEqual([]);
    });

    it("ties each URL to the active slot's role, URL-encoded", () => {
        const s = settingsWith();
        expect(postgresUrl(s.database, "db.internal", 5432, "buywhere_app_b", "p@ss/w:rd?")).toBe(
            "postgresql://buywhere_app_b:p%40ss%2Fw%3Ard%3F@db.internal:5432/buywhere?sslmode=require",
        );
        expect(redisUrl(s.redis, "a b#c")).toBe(
            "rediss://buywhere-api:a%20b%23c@buywhere-staging.abc123.ng.0001.apse1.cache.amazonaws.com:6379/0",
        );
        expect(redisUrl({ ...s.redis, tls: false, db: 3 }, "x")).toMatch(/^redis:\/\/.*:6379\/3$/);
    });
});
