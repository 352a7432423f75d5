/**
 * Proves a slot's new R2 key by using it, before anyone is told about it: an S3 request signed (SigV4) with the key
 * against the account's R2 endpoint, for every configured bucket — HeadBucket, and where the token may write, a put,
 * get and delete of a probe object. Retried while the token propagates, bounded by `timeoutSeconds`.
 *
 * Why: Cloudflare accepts unknown bucket names when it issues a token, so a typo in `rotation:r2.buckets` or a wrong
 * permission group yields a key that silently grants nothing (../shared/research/managed-platforms.md §3; Infisical's
 * R2 rotator docs: "Cloudflare does not reject unknown bucket names").
 *
 * The key, as R2 derives it from an account token (https://developers.cloudflare.com/r2/api/s3/tokens/): "Access Key
 * ID: The id of the API token. Secret Access Key: The SHA-256 hash of the API token value." The client, as
 * https://developers.cloudflare.com/r2/examples/aws/aws-sdk-js-v3/ configures @aws-sdk/client-s3: `region: "auto"`,
 * `endpoint: https://<account id>.r2.cloudflarestorage.com`. `forcePathStyle` puts the bucket in the path
 * (`https://<account>.r2.cloudflarestorage.com/<bucket>`), the form R2's S3 endpoint serves
 * (https://developers.cloudflare.com/r2/api/s3/api/) and the one a test endpoint on 127.0.0.1 can answer. Checksums
 * only when an operation requires one (`requestChecksumCalculation: "WHEN_REQUIRED"`, as Cloudflare's aws-sdk-js-v3
 * page advised for SDK releases that add CRC32 checksums by default).
 *
 * No admin credential: the hook holds only the slot's own key (its contract's secret inputs). The endpoint may be
 * overridden (`R2_ENDPOINT`, from `ROTATION_R2_ENDPOINT`, which rotation/settings.ts allows only for tests), and must
 * be https:// unless it is loopback.
 *
 * Inputs: `r2ProbeContract` (hooks/contracts.ts).
 */
import "./isolateEnv"; // first: strips other hooks' credentials before any library loads
import { randomBytes } from "node:crypto";
import { DeleteObjectCommand, GetObjectCommand, HeadBucketCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { HookInput, fromEnv, hookSecrets, r2ProbeContract } from "./contracts";
import { HookInputError, Log, SourceError, runHook, sleep } from "./hookRuntime";
import { isLoopbackHost } from "./transport";

export type R2ProbeInput = HookInput<typeof r2ProbeContract>;

/** How long a new token may take to be accepted, unless the stack file says (`rotation:r2.probeTimeoutSeconds`). */
export const DEFAULT_PROBE_TIMEOUT_SECONDS = 120;

/** Where probe objects are written (deleted again at once). */
export const PROBE_PREFIX = ".buywhere-rotation-probe/";

/** The account's S3 endpoint, or the override; refused when it is plaintext to a remote host. */
export function r2Endpoint(input: Pick<R2ProbeInput, "accountId" | "endpoint">): string {
    if (input.endpoint === undefined) return `https://${input.accountId}.r2.cloudflarestorage.com`;
    const u = new URL(input.endpoint);
    if (u.protocol === "https:" || (u.protocol === "http:" && isLoopbackHost(u.hostname))) return input.endpoint;
    throw new HookInputError(`${r2ProbeContract.fields.endpoint.env} must be an https:// URL: its host is not loopback, and the new key's signatures would cross the network in clear`);
}

type Failure = { readonly retry: boolean; readonly reason: string; readonly missingBucket: boolean };

/** What an S3 error means for the probe: HTTP status and the error's code, never a request (no secret in either). */
function classify(err: unknown): Failure {
    const e = err as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number }; cause?: { code?: string } };
    const status = e.$metadata?.httpStatusCode;
    if (status === undefined) {
        // No answer (connection refused, DNS, TLS): the endpoint may be coming up, or never; retried within the bound.
        const code = typeof e.cause?.code === "string" && /^[A-Z0-9_]+$/.test(e.cause.code) ? ` (${e.cause.code})` : "";
        return { retry: true, reason: `${(err as Error).message ?? String(err)}${code}`.split("\n")[0], missingBucket: false };
    }
    // A HEAD answer has no body: the SDK names a 404 of HeadBucket `NotFound` (its modelled error) and anything else
    // `Unknown`, so the status says what happened.
    const named = e.Code ?? (e.name !== undefined && e.name !== "Unknown" ? e.name : undefined);
    const code = named ?? ({ 400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound" } as Record<number, string>)[status] ?? "Unknown";
    const missingBucket = code === "NoSuchBucket" || (status === 404 && code === "NotFound");
    // 401/403: a token that has not propagated yet is refused like a wrong one (InvalidAccessKeyId, AccessDenied,
    // SignatureDoesNotMatch); 5xx and 429 are the endpoint's own trouble. Everything else is final.
    const retry = status === 401 || status === 403 || status === 429 || status >= 500;
    return { retry, reason: `HTTP ${status} ${code}`, missingBucket };
}

export interface R2ProbeResult {
    /** Per bucket, what was proven: `read` (HeadBucket) or `write` (HeadBucket, then put/get/delete of a probe object). */
    readonly buckets: Readonly<Record<string, "read" | "write">>;
}

/**
 * Proves the key on every bucket, retrying each step with backoff (0.5 s doubling to 5 s) while R2 refuses the key
 * (not propagated yet) until `timeoutSeconds` (default 120) runs out. A bucket that does not exist fails at once.
 *
 * @throws SourceError naming the bucket, the step and R2's last answer; HookInputError for a plaintext remote endpoint
 */
export async function probeR2Key(input: R2ProbeInput, log: Log = () => undefined): Promise<R2ProbeResult> {
    const endpoint = r2Endpoint(input);
    const timeoutSeconds = input.timeoutSeconds ?? DEFAULT_PROBE_TIMEOUT_SECONDS;
    const deadline = Date.now() + timeoutSeconds * 1000;
    const s3 = new S3Client({
        region: "auto",
        endpoint,
        forcePathStyle: true,
        credentials: { accessKeyId: input.accessKeyId, secretAccessKey: input.secretAccessKey },
        requestChecksumCalculation: "WHEN_REQUIRED",
        responseChecksumValidation: "WHEN_REQUIRED",
        maxAttempts: 1, // this loop retries, within its own bound
    });
    const proven: Record<string, "read" | "write"> = {};
    try {
        for (const bucket of input.buckets) {
            const step = async <T>(what: string, run: () => Promise<T>): Promise<T> => {
                let attempts = 0;
                for (let delay = 500; ; delay = Math.min(delay * 2, 5_000)) {
                    attempts++;
                    try {
                        return await run();
                    } catch (err) {
                        const f = classify(err);
                        if (f.missingBucket) {
                            throw new SourceError(`R2 has no bucket \`${bucket}\` at ${new URL(endpoint).origin} (${f.reason}); check rotation:r2.buckets`);
                        }
                        if (!f.retry || Date.now() + delay > deadline) {
                            throw new SourceError(
                                `R2 did not accept slot ${input.slot}'s new key for ${what} on bucket \`${bucket}\` within ${timeoutSeconds} s (${attempts} attempt${attempts === 1 ? "" : "s"}, last: ${f.reason}); nothing was published`,
                            );
                        }
                        await sleep(delay);
                    }
                }
            };
            await step("HeadBucket", () => s3.send(new HeadBucketCommand({ Bucket: bucket })));
            if (input.write) {
                const key = `${PROBE_PREFIX}slot-${input.slot}-${randomBytes(6).toString("hex")}`;
                const body = `buywhere-rotation probe ${new Date().toISOString()}`;
                await step("PutObject", () => s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: "text/plain" })));
                const read = await step("GetObject", async () => (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body?.transformToString());
                if (read !== body) throw new SourceError(`R2 returned other content for the probe object in bucket \`${bucket}\` than was written`);
                await step("DeleteObject", () => s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })));
            }
            proven[bucket] = input.write ? "write" : "read";
            log(`slot ${input.slot}'s key ${input.write ? "reads and writes" : "reads"} bucket ${bucket}`);
        }
    } finally {
        s3.destroy();
    }
    return { buckets: proven };
}

if (require.main === module) {
    runHook("r2-probe", hookSecrets(r2ProbeContract, process.env), async (log) => {
        await probeR2Key(fromEnv(r2ProbeContract, process.env), log);
    });
}
