/**
 * Every new credential is proven by use before anyone is told about it (issue 12), end to end: the real program under
 * the ENGINE EMULATOR (not Pulumi) with its real hooks, against the world's doubles — TypesenseKeysApiDouble (a new key
 * answers 401 on a search until it has propagated) and R2S3Double (R2's S3 endpoint, checking SigV4 against the key the
 * Cloudflare token double issued). Bad input: a key the cluster never accepts within the timeout, a bucket the probe
 * cannot reach — each fails the run at its proof with one line, nothing is published, and the previous credential,
 * which consumers hold, still works; the same command then finishes the run.
 */
import { HeadBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RotationWorld, startRotationWorld } from "./support/rotationWorld";

const NOW = new Date("2026-11-25T12:00:00Z");
const at = (minutes: number) => new Date(NOW.getTime() + minutes * 60_000);
/** The staging stack file's R2 settings, with a short probe bound. */
const R2 = {
    accountId: "0123456789abcdef0123456789abcdef",
    buckets: ["buywhere-staging-assets"],
    permissionGroupIds: ["6a018a9f2fc74eb6b293b0c548f38b39", "2efd5506f9c8494dacb1fa10a3e7d5b6"],
    probeTimeoutSeconds: 1,
};

describe("proof by use (engine emulator, the world's doubles): nothing is published until the new key works", () => {
    let world: RotationWorld;
    let config: Record<string, unknown>;
    beforeAll(async () => {
        world = await startRotationWorld();
        config = { "rotation:r2": R2, "rotation:typesense": { ...(world.config["rotation:typesense"] as object), proofTimeoutSeconds: 1 } };
        const first = await world.up("first deployment", { now: NOW, config });
        expect(first.result, first.error).toBe("succeeded");
    }, 120_000);
    afterAll(async () => {
        await world?.stop();
    });

    const published = async (names: string[]) => ({
        aws: Object.fromEntries(await Promise.all(names.map(async (n) => [n, await world.awsCurrent(n)] as const))),
        k8s: Object.fromEntries(names.map((n) => [n, world.k8sSecret()[n]])),
    });
    /** A signed HeadBucket with the R2 key the stores publish (R2S3Double checks the signature and the scope). */
    const r2KeyWorks = async (keys: Record<string, string>) =>
        new S3Client({
            region: "auto",
            endpoint: world.r2.endpoint,
            forcePathStyle: true,
            maxAttempts: 1,
            credentials: { accessKeyId: keys.R2_ACCESS_KEY_ID, secretAccessKey: keys.R2_SECRET_ACCESS_KEY },
        })
            .send(new HeadBucketCommand({ Bucket: "buywhere-staging-assets" }))
            .then(() => true, () => false);
    const typesenseKeyWorks = async (key: string) =>
        (await fetch(`${world.typesense.url}/collections/products/documents/search?q=*&per_page=0`, { headers: { "X-TYPESENSE-API-KEY": key } })).status === 200;
    /** The hook's own error line, as the engine reports the failed command. */
    const hookError = (message: string | undefined, hook: string) => (message ?? "").split("\n").filter((l) => l.startsWith(`[${hook}] error: `));

    it("Typesense: a key the cluster never accepts within the timeout fails the run at its proof; nothing is published; the previous key still searches", async () => {
        const before = await published(["TYPESENSE_API_KEY"]);
        world.typesense.setPropagationMs(Infinity);
        const request = { rotate: { groups: ["typesense" as const], scheduled: false } };
        const failed = await world.up("typesense never accepted", { now: at(1), config, request });
        expect(failed.result).toBe("failed");
        expect(failed.errors.map((e) => e.urn)).toEqual([expect.stringMatching(/::typesense-apply-b$/)]);
        expect(hookError(failed.errors[0].message, "typesense-apply")).toEqual([
            expect.stringMatching(/^\[typesense-apply\] error: Typesense did not accept slot b's new key for a search on `products` within 1 s \(\d+ attempts?, last: HTTP 401: .*\); nothing was published$/),
        ]);
        expect(await published(["TYPESENSE_API_KEY"])).toEqual(before);
        world.typesense.setPropagationMs(0);
        expect(await typesenseKeyWorks(before.aws.TYPESENSE_API_KEY)).toBe(true);
        // Once the cluster accepts it, the same command finishes the run.
        const resumed = await world.up("typesense resumed", { now: at(2), config, request });
        expect(resumed.result, resumed.error).toBe("succeeded");
        const after = await published(["TYPESENSE_API_KEY"]);
        expect(after.aws.TYPESENSE_API_KEY).not.toBe(before.aws.TYPESENSE_API_KEY);
        expect(after.k8s).toEqual(after.aws);
        expect(await typesenseKeyWorks(after.aws.TYPESENSE_API_KEY)).toBe(true);
    });

    it("R2: a token R2 never accepts within the timeout fails the run at its probe; nothing is published; the previous key still works", async () => {
        const before = await published(["R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY"]);
        world.setR2PropagationMs(Infinity);
        const request = { rotate: { groups: ["r2" as const], scheduled: false } };
        const failed = await world.up("r2 never accepted", { now: at(3), config, request });
        expect(failed.result).toBe("failed");
        expect(failed.errors.map((e) => e.urn)).toEqual([expect.stringMatching(/::r2-apply-b$/)]);
        expect(hookError(failed.errors[0].message, "r2-probe")).toEqual([
            expect.stringMatching(/^\[r2-probe\] error: R2 did not accept slot b's new key for HeadBucket on bucket `buywhere-staging-assets` within 1 s \(\d+ attempts?, last: HTTP 403 Forbidden\); nothing was published$/),
        ]);
        expect(await published(["R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY"])).toEqual(before);
        expect(await r2KeyWorks(before.aws)).toBe(true);
        world.setR2PropagationMs(0);
        const resumed = await world.up("r2 resumed", { now: at(4), config, request });
        expect(resumed.result, resumed.error).toBe("succeeded");
        const after = await published(["R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY"]);
        expect(after.aws.R2_ACCESS_KEY_ID).not.toBe(before.aws.R2_ACCESS_KEY_ID);
        expect(after.k8s).toEqual(after.aws);
        expect(await r2KeyWorks(after.aws)).toBe(true);
    });

    it("R2: a bucket the probe cannot reach (a typo in rotation:r2.buckets) fails the run at once, naming it; nothing is published; the previous key still works", async () => {
        const before = await published(["R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY"]);
        const typo = { ...config, "rotation:r2": { ...R2, buckets: ["buywhere-staging-assets", "buywhere-stagng-exports"], probeTimeoutSeconds: 30 } };
        const started = Date.now();
        const failed = await world.up("r2 bucket typo", { now: at(5), config: typo, request: { rotate: { groups: ["r2"], scheduled: false } } });
        expect(Date.now() - started).toBeLessThan(20_000); // not the 30 s bound: a missing bucket is final
        expect(failed.result).toBe("failed");
        // Both slots' probes run again (their bucket list changed); each stops at the missing bucket.
        expect(failed.errors.map((e) => e.urn).sort()).toEqual([expect.stringMatching(/::r2-apply-a$/), expect.stringMatching(/::r2-apply-b$/)]);
        for (const e of failed.errors) {
            expect(hookError(e.message, "r2-probe")).toEqual([
                `[r2-probe] error: R2 has no bucket \`buywhere-stagng-exports\` at ${world.r2.endpoint} (HTTP 404 NotFound); check rotation:r2.buckets`,
            ]);
        }
        expect(await published(["R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY"])).toEqual(before);
        expect(await r2KeyWorks(before.aws)).toBe(true);
    });
});
