/**
 * The R2 probe (hooks/r2Probe.ts) against R2S3Double (test/support/r2S3Double.ts): a TEST DOUBLE of R2's S3 endpoint
 * on 127.0.0.1 that checks every request's SigV4 signature against the secret of the key it names, the bucket names,
 * and each key's scope — moto cannot (see the double's header). Keys are derived as R2 derives them from an account
 * token (https://developers.cloudflare.com/r2/api/s3/tokens/): id = the token's id, secret = SHA-256 hex of its value.
 */
import { createHash, randomBytes } from "node:crypto";
import { DeleteObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { r2ProbeContract, toEnv } from "../hooks/contracts";
import { HookInputError, SourceError } from "../hooks/hookRuntime";
import { R2ProbeInput, probeR2Key, r2Endpoint } from "../hooks/r2Probe";
import { runHookProcess } from "./support/hookProcess";
import { freePort } from "./support/ports";
import { R2KeyGrant, R2S3Double, startR2S3Double } from "./support/r2S3Double";

const ACCOUNT = "0123456789abcdef0123456789abcdef";

/** An account token as Cloudflare issues it, and the R2 key derived from it. */
function token(): { id: string; value: string; secretAccessKey: string } {
    const value = randomBytes(30).toString("base64url").slice(0, 40);
    return { id: randomBytes(16).toString("hex"), value, secretAccessKey: createHash("sha256").update(value).digest("hex") };
}

const grants = new Map<string, R2KeyGrant>();
let r2: R2S3Double;
beforeAll(async () => {
    r2 = await startR2S3Double({ keys: (id) => grants.get(id), buckets: ["buywhere-staging-assets", "buywhere-staging-exports"] });
});
afterAll(() => r2.stop());
beforeEach(() => {
    grants.clear();
    r2.requests.length = 0;
});

function issue(grant: Omit<R2KeyGrant, "secretAccessKey">) {
    const t = token();
    grants.set(t.id, { ...grant, secretAccessKey: t.secretAccessKey });
    return t;
}

const input = (t: { id: string; secretAccessKey: string }, over: Partial<R2ProbeInput> = {}): R2ProbeInput => ({
    accountId: ACCOUNT,
    endpoint: r2.endpoint,
    slot: "b",
    buckets: ["buywhere-staging-assets"],
    write: false,
    accessKeyId: t.id,
    secretAccessKey: t.secretAccessKey,
    timeoutSeconds: 10,
    ...over,
});

const failure = (p: Promise<unknown>) => p.then(() => undefined, (e: Error) => e);

describe("R2S3Double checks the signature (so the probe's tests can fail)", () => {
    it("refuses a request signed with another secret, and one whose key is unknown", async () => {
        const t = issue({ buckets: ["buywhere-staging-assets"], write: true });
        const send = (accessKeyId: string, secretAccessKey: string) =>
            new S3Client({ region: "auto", endpoint: r2.endpoint, forcePathStyle: true, credentials: { accessKeyId, secretAccessKey }, maxAttempts: 1 })
                .send(new DeleteObjectCommand({ Bucket: "buywhere-staging-assets", Key: "x" }))
                .then(() => 204, (e: { $metadata?: { httpStatusCode?: number }; name?: string }) => `${e.$metadata?.httpStatusCode} ${e.name}`);
        expect(await send(t.id, t.secretAccessKey)).toBe(204);
        expect(await send(t.id, t.value)).toBe("403 SignatureDoesNotMatch"); // the raw value is not the secret
        expect(await send(token().id, t.secretAccessKey)).toBe("403 InvalidAccessKeyId");
    });
});

describe("the R2 probe", () => {
    it("proves a read key with HeadBucket on every bucket, signed with the token id and the SHA-256 of its value", async () => {
        const t = issue({ buckets: ["buywhere-staging-assets", "buywhere-staging-exports"], write: false });
        const lines: string[] = [];
        const result = await probeR2Key(input(t, { buckets: ["buywhere-staging-assets", "buywhere-staging-exports"] }), (l) => lines.push(l));
        expect(result).toEqual({ buckets: { "buywhere-staging-assets": "read", "buywhere-staging-exports": "read" } });
        expect(r2.requests).toEqual([`HEAD /buywhere-staging-assets/ ${t.id} -> 200 OK`, `HEAD /buywhere-staging-exports/ ${t.id} -> 200 OK`]);
        expect(lines).toEqual(["slot b's key reads bucket buywhere-staging-assets", "slot b's key reads bucket buywhere-staging-exports"]);
    });

    it("proves a write key with a put, get and delete of a probe object, and leaves nothing behind", async () => {
        const t = issue({ buckets: ["buywhere-staging-assets"], write: true });
        expect(await probeR2Key(input(t, { write: true }))).toEqual({ buckets: { "buywhere-staging-assets": "write" } });
        expect(r2.requests.map((r) => r.replace(/slot-b-[0-9a-f]+/, "slot-b-*"))).toEqual([
            `HEAD /buywhere-staging-assets/ ${t.id} -> 200 OK`,
            `PUT /buywhere-staging-assets/.buywhere-rotation-probe/slot-b-* ${t.id} -> 200 OK`,
            `GET /buywhere-staging-assets/.buywhere-rotation-probe/slot-b-* ${t.id} -> 200 OK`,
            `DELETE /buywhere-staging-assets/.buywhere-rotation-probe/slot-b-* ${t.id} -> 204 NoContent`,
        ]);
        expect(r2.objects("buywhere-staging-assets")).toEqual([]);
    });

    it("retries while the token propagates (refused as unknown at first), then proves it", async () => {
        const t = issue({ buckets: ["buywhere-staging-assets"], write: true, activeAt: Date.now() + 1_200 });
        const started = Date.now();
        await probeR2Key(input(t, { write: true }));
        expect(Date.now() - started).toBeGreaterThanOrEqual(1_200);
        expect(r2.requests.filter((r) => r.endsWith("403 InvalidAccessKeyId")).length).toBeGreaterThan(1);
        expect(r2.requests.at(-1)).toMatch(/^DELETE .* -> 204 NoContent$/);
    });

    it("a bucket that does not exist (a typo in rotation:r2.buckets) fails at once, naming it", async () => {
        const t = issue({ buckets: ["buywhere-staging-assets"], write: false });
        const started = Date.now();
        const err = await failure(probeR2Key(input(t, { buckets: ["buywhere-staging-assets", "buywhere-stagng-assets"], timeoutSeconds: 30 })));
        expect(Date.now() - started).toBeLessThan(5_000);
        expect(err).toEqual(new SourceError(`R2 has no bucket \`buywhere-stagng-assets\` at ${r2.endpoint} (HTTP 404 NotFound); check rotation:r2.buckets`));
    });

    it.each<[string, Omit<R2KeyGrant, "secretAccessKey"> | undefined, Partial<R2ProbeInput>, RegExp]>([
        [
            "a token Cloudflare scoped to other buckets (the bucket the probe cannot reach)",
            { buckets: ["buywhere-staging-exports"], write: false },
            {},
            /^R2 did not accept slot b's new key for HeadBucket on bucket `buywhere-staging-assets` within 1 s \(\d+ attempts?, last: HTTP 403 Forbidden\); nothing was published$/,
        ],
        [
            "a key R2 never accepts within the timeout (never propagated)",
            { buckets: ["buywhere-staging-assets"], write: false, activeAt: Infinity },
            {},
            /^R2 did not accept slot b's new key for HeadBucket on bucket `buywhere-staging-assets` within 1 s \(\d+ attempts?, last: HTTP 403 Forbidden\); nothing was published$/,
        ],
        [
            "a read-only token where write access is configured (a wrong permission group)",
            { buckets: ["buywhere-staging-assets"], write: false },
            { write: true },
            /^R2 did not accept slot b's new key for PutObject on bucket `buywhere-staging-assets` within 1 s \(\d+ attempts?, last: HTTP 403 AccessDenied\); nothing was published$/,
        ],
    ])("%s: one line naming the bucket and R2's answer", async (_, grant, over, message) => {
        const t = grant ? issue(grant) : token();
        const err = await failure(probeR2Key(input(t, { timeoutSeconds: 1, ...over })));
        expect(err).toBeInstanceOf(SourceError);
        expect(err?.message).toMatch(message);
        expect(`${err?.message}${err?.stack}`).not.toContain(t.secretAccessKey);
        expect(r2.objects("buywhere-staging-assets")).toEqual([]);
    });

    it("the secret must be the SHA-256 of the token's value: the raw value is refused (SignatureDoesNotMatch)", async () => {
        const t = issue({ buckets: ["buywhere-staging-assets"], write: false });
        const err = await failure(probeR2Key(input({ id: t.id, secretAccessKey: t.value }, { timeoutSeconds: 1 })));
        expect(err?.message).toMatch(/last: HTTP 403 Forbidden\); nothing was published$/);
        expect(r2.requests.every((r) => r.endsWith("403 SignatureDoesNotMatch"))).toBe(true);
    });

    it("goes to the account's endpoint unless told otherwise; a plaintext remote endpoint is refused before any request", () => {
        expect(r2Endpoint({ accountId: ACCOUNT })).toBe(`https://${ACCOUNT}.r2.cloudflarestorage.com`);
        expect(r2Endpoint({ accountId: ACCOUNT, endpoint: "http://127.0.0.1:9000" })).toBe("http://127.0.0.1:9000");
        expect(() => r2Endpoint({ accountId: ACCOUNT, endpoint: "http://r2.internal:9000" })).toThrow(
            new HookInputError("R2_ENDPOINT must be an https:// URL: its host is not loopback, and the new key's signatures would cross the network in clear"),
        );
    });
});

describe("the R2 probe as the process the program runs", () => {
    const env = (t: { id: string; secretAccessKey: string }, over: Partial<R2ProbeInput> = {}) => toEnv(r2ProbeContract, input(t, over));

    it("exit 0 with progress on stderr and no secret in its output", async () => {
        const t = issue({ buckets: ["buywhere-staging-assets"], write: true });
        const run = await runHookProcess("r2Probe", env(t, { write: true }));
        expect(run).toEqual({ code: 0, stdout: "", stderr: "[r2-probe] slot b's key reads and writes bucket buywhere-staging-assets\n" });
    });

    it("exit 1 with one line when R2 never accepts the key; exit 2 for bad input, before any request", async () => {
        const t = issue({ buckets: ["buywhere-staging-exports"], write: false });
        const refused = await runHookProcess("r2Probe", env(t, { timeoutSeconds: 1 }));
        expect(refused.code).toBe(1);
        expect(refused.stderr).toMatch(/^\[r2-probe\] error: R2 did not accept slot b's new key for HeadBucket on bucket `buywhere-staging-assets` within 1 s \(\d+ attempts?, last: HTTP 403 Forbidden\); nothing was published\n$/);
        expect(refused.stderr).not.toContain(t.secretAccessKey);
        r2.requests.length = 0;
        const bad = await runHookProcess("r2Probe", { ...env(t), R2_BUCKETS: "buywhere-staging-assets" });
        expect(bad).toEqual({ code: 2, stdout: "", stderr: "[r2-probe] error: environment variable R2_BUCKETS must be a non-empty JSON list of bucket names\n" });
        const plaintext = await runHookProcess("r2Probe", { ...env(t), R2_ENDPOINT: "http://r2.internal:9000" });
        expect(plaintext.code).toBe(2);
        expect(r2.requests).toEqual([]);
    });

    it("an endpoint that does not answer: retried within the bound, then one line naming the bucket", async () => {
        const t = issue({ buckets: ["buywhere-staging-assets"], write: false });
        const closed = await freePort();
        const run = await runHookProcess("r2Probe", env(t, { endpoint: `http://127.0.0.1:${closed}`, timeoutSeconds: 1 }));
        expect(run.code).toBe(1);
        expect(run.stderr).toMatch(/^\[r2-probe\] error: R2 did not accept slot b's new key for HeadBucket on bucket `buywhere-staging-assets` within 1 s \(\d+ attempts?, last: .*ECONNREFUSED.*\); nothing was published\n$/);
    });
});
