/**
 * R2S3Double: a TEST DOUBLE of R2's S3 endpoint (`https://<account>.r2.cloudflarestorage.com`), path-style, bound to
 * 127.0.0.1, for the R2 probe (hooks/r2Probe.ts). It checks what R2 checks of a request and no more than the probe
 * needs: the AWS Signature Version 4 of every request against the secret of the access key it names, the bucket
 * names, and each key's scope (its buckets, read or write).
 *
 * Why not moto: moto checks a signature only for access keys its own IAM created (moto/core/access_control.py,
 * `IAMUserAccessKey`: the key is looked up among `iam_backend` users' access keys, whose id and secret moto generates
 * at random), so it cannot hold a key whose id is a Cloudflare token's id and whose secret is the SHA-256 of the
 * token's value; and its policy evaluation ignores `Resource` ("TODO add support for the Resource and Condition parts
 * of IAM policies"), so it cannot scope a key to buckets either.
 *
 * The rules it enforces:
 * - SigV4 (https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html): `Authorization:
 *   AWS4-HMAC-SHA256 Credential=<id>/<date>/<region>/s3/aws4_request, SignedHeaders=..., Signature=...`; the canonical
 *   request (method, URI as sent, sorted query, the signed headers, `x-amz-content-sha256`), the string to sign and the
 *   signing key derived from `AWS4<secret>`; the payload hash must match the body when it is not `UNSIGNED-PAYLOAD`;
 *   `x-amz-date` within 15 minutes. Region `auto`, as R2 asks (https://developers.cloudflare.com/r2/api/s3/api/:
 *   "region: auto").
 * - Errors as S3 spells them: 403 `InvalidAccessKeyId` (unknown key, or one not yet propagated: `activeAt`),
 *   403 `SignatureDoesNotMatch`, 404 `NoSuchBucket`, 403 `AccessDenied` (a bucket outside the key's scope, or a write
 *   with a read-only key), 404 `NoSuchKey`. HEAD answers carry no body, as S3's do.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { IncomingMessage, Server, ServerResponse, createServer } from "node:http";

export interface R2KeyGrant {
    readonly secretAccessKey: string;
    readonly buckets: readonly string[];
    readonly write: boolean;
    /** Refused as unknown until then (ms since the epoch): a token that has not propagated yet. */
    readonly activeAt?: number;
}

export interface R2S3Double {
    readonly endpoint: string;
    /** Every request as `<method> <path> <access key id|-> -> <status> <code>`. */
    readonly requests: string[];
    /** Objects per bucket (what a probe left behind, if anything). */
    objects(bucket: string): string[];
    stop(): Promise<void>;
}

const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");
const hmac = (key: string | Buffer, data: string) => createHmac("sha256", key).update(data).digest();

/** RFC 3986 encoding as SigV4 wants it for query keys and values. */
const uriEncode = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

function expectedSignature(req: IncomingMessage, body: Buffer, secret: string, credentialScope: string, signedHeaders: string[]): string {
    const url = new URL(req.url ?? "/", "http://double");
    const query = [...url.searchParams.entries()]
        .map(([k, v]) => [uriEncode(k), uriEncode(v)])
        .sort(([a, av], [b, bv]) => (a === b ? (av < bv ? -1 : 1) : a < b ? -1 : 1))
        .map(([k, v]) => `${k}=${v}`)
        .join("&");
    const headerValue = (name: string) => {
        const v = req.headers[name];
        return (Array.isArray(v) ? v.join(",") : (v ?? "")).trim().replace(/\s+/g, " ");
    };
    const canonical = [
        req.method,
        url.pathname, // S3 signs the path as sent (no second encoding)
        query,
        signedHeaders.map((h) => `${h}:${headerValue(h)}\n`).join(""),
        signedHeaders.join(";"),
        headerValue("x-amz-content-sha256") || sha256(body),
    ].join("\n");
    const [date, region, service] = credentialScope.split("/");
    const stringToSign = ["AWS4-HMAC-SHA256", headerValue("x-amz-date"), credentialScope, sha256(canonical)].join("\n");
    const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), "aws4_request");
    return createHmac("sha256", key).update(stringToSign).digest("hex");
}

/**
 * Starts the double. `keys(accessKeyId)` says what a key may do (or undefined: unknown), read at every request so a
 * test can issue and revoke keys as it goes; `buckets` are the buckets that exist in the account.
 */
export async function startR2S3Double(opts: { keys: (accessKeyId: string) => R2KeyGrant | undefined; buckets: readonly string[] }): Promise<R2S3Double> {
    const store = new Map<string, Map<string, Buffer>>(opts.buckets.map((b) => [b, new Map()]));
    const requests: string[] = [];
    const server: Server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => handle(req, Buffer.concat(chunks), res));
    });
    const handle = (req: IncomingMessage, body: Buffer, res: ServerResponse): void => {
        const auth = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/([^,]+), ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(req.headers.authorization ?? "");
        const path = new URL(req.url ?? "/", "http://double").pathname;
        const [, bucket = "", ...rest] = path.split("/");
        const objectKey = decodeURIComponent(rest.join("/"));
        const answer = (status: number, code: string, payload?: string | Buffer): void => {
            requests.push(`${req.method} ${path} ${auth?.[1] ?? "-"} -> ${status} ${code}`);
            res.statusCode = status;
            if (req.method === "HEAD" || status === 204) {
                res.end();
                return;
            }
            if (payload !== undefined) {
                res.end(payload);
                return;
            }
            res.setHeader("Content-Type", "application/xml");
            res.end(status < 300 ? "" : `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${code}</Message></Error>`);
        };
        if (!auth) return answer(403, "AccessDenied");
        const [, accessKeyId, scope, signedHeaders, signature] = auth;
        const [, region, service, terminal] = scope.split("/");
        if (region !== "auto" || service !== "s3" || terminal !== "aws4_request") return answer(400, "AuthorizationHeaderMalformed");
        const grant = opts.keys(accessKeyId);
        if (!grant || (grant.activeAt !== undefined && Date.now() < grant.activeAt)) return answer(403, "InvalidAccessKeyId");
        const amzDate = String(req.headers["x-amz-date"] ?? "");
        const when = Date.parse(amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, "$1-$2-$3T$4:$5:$6Z"));
        if (!Number.isFinite(when) || Math.abs(Date.now() - when) > 15 * 60_000) return answer(403, "RequestTimeTooSkewed");
        const headers = signedHeaders.split(";");
        if (!headers.includes("host") || !headers.includes("x-amz-date")) return answer(403, "AccessDenied");
        const expected = expectedSignature(req, body, grant.secretAccessKey, scope, headers);
        if (!timingSafeEqual(Buffer.from(expected), Buffer.from(signature))) return answer(403, "SignatureDoesNotMatch");
        const contentHash = String(req.headers["x-amz-content-sha256"] ?? "");
        if (/^[0-9a-f]{64}$/.test(contentHash) && contentHash !== sha256(body)) return answer(400, "XAmzContentSHA256Mismatch");
        const objects = store.get(bucket);
        if (!objects) return answer(404, "NoSuchBucket");
        if (!grant.buckets.includes(bucket)) return answer(403, "AccessDenied");
        if (objectKey === "") return req.method === "HEAD" ? answer(200, "OK") : answer(405, "MethodNotAllowed");
        switch (req.method) {
            case "PUT":
                if (!grant.write) return answer(403, "AccessDenied");
                objects.set(objectKey, body);
                res.setHeader("ETag", `"${createHash("md5").update(body).digest("hex")}"`);
                return answer(200, "OK", "");
            case "GET": {
                const found = objects.get(objectKey);
                if (!found) return answer(404, "NoSuchKey");
                res.setHeader("Content-Type", "text/plain");
                return answer(200, "OK", found);
            }
            case "DELETE":
                if (!grant.write) return answer(403, "AccessDenied");
                objects.delete(objectKey);
                return answer(204, "NoContent");
            default:
                return answer(405, "MethodNotAllowed");
        }
    };
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return {
        endpoint: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
        requests,
        objects: (bucket) => [...(store.get(bucket)?.keys() ?? [])],
        stop: () => new Promise((r) => server.close(() => r())),
    };
}
