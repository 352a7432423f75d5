/**
 * CloudflareTokensApiDouble: a TEST DOUBLE of Cloudflare's account-owned API token endpoints, over HTTP on 127.0.0.1,
 * for the `local` stack (its `rotation:r2.apiBaseUrl` points the Cloudflare provider's `baseUrl` here) and the engine
 * emulator's Cloudflare provider when that `baseUrl` is set. No Cloudflare API can run here.
 *
 * What it models (https://developers.cloudflare.com/api/resources/accounts/subresources/tokens/):
 * - the routes under the v4 base path `/client/v4`: `POST /accounts/{account_id}/tokens` (create: the only answer
 *   that carries the token's `value`), `GET`, `PUT` (name, policies, status) and `DELETE .../tokens/{token_id}`;
 * - `Authorization: Bearer <token>` must be the admin token (CLOUDFLARE_API_TOKEN), else 403; a token of another
 *   account, or one deleted, is 404;
 * - the v4 envelope `{ success, errors, messages, result }`
 *   (https://developers.cloudflare.com/fundamentals/api/how-to/make-api-calls/);
 * - a token's id is 32 hex characters and its value 40 characters; R2 uses the token's id as the access key id and the
 *   SHA-256 hex of the value as the secret access key (https://developers.cloudflare.com/r2/api/tokens/).
 * Not modelled: permission-group validation, conditions, expiry, rate limits.
 */
import { createHash, randomBytes } from "node:crypto";
import { IncomingMessage, Server, ServerResponse, createServer } from "node:http";

export interface DoubleToken {
    readonly id: string;
    readonly accountId: string;
    name: string;
    policies: unknown;
    status: "active" | "disabled" | "expired";
    /** SHA-256 hex of the value (what R2 takes as the secret access key); the value itself is not kept. */
    readonly valueSha256: string;
    readonly issued_on: string;
    modified_on: string;
}

export interface CloudflareTokensDouble {
    /** The base URL to give the provider (`.../client/v4`). */
    readonly baseUrl: string;
    readonly adminToken: string;
    /** Tokens that exist (deleted ones are gone). */
    tokens(): readonly DoubleToken[];
    stop(): Promise<void>;
}

const BASE = "/client/v4";

function envelope(res: ServerResponse, status: number, result: unknown, errors: { code: number; message: string }[] = []): void {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify({ success: errors.length === 0, errors, messages: [], result: errors.length === 0 ? result : null }));
}

function view(t: DoubleToken): Record<string, unknown> {
    const { valueSha256: _v, accountId: _a, ...rest } = t;
    return rest;
}

async function body(req: IncomingMessage): Promise<Record<string, unknown>> {
    let text = "";
    for await (const chunk of req) text += String(chunk);
    return text === "" ? {} : (JSON.parse(text) as Record<string, unknown>);
}

/** @param port a fixed port (the `local` stack file's), or 0 for a free one. */
export async function startCloudflareTokensDouble(adminToken: string, port = 0): Promise<CloudflareTokensDouble> {
    const tokens: DoubleToken[] = [];
    const server: Server = createServer((req, res) => {
        void (async () => {
            if (req.headers.authorization !== `Bearer ${adminToken}`) return envelope(res, 403, null, [{ code: 10000, message: "Authentication error" }]);
            const path = (req.url ?? "").split("?")[0];
            const m = new RegExp(`^${BASE}/accounts/([0-9a-f]{32})/tokens(?:/([0-9a-f]{32}))?$`).exec(path);
            if (!m) return envelope(res, 404, null, [{ code: 7003, message: "Could not route to " + path }]);
            const [, accountId, id] = m;
            let input: Record<string, unknown>;
            try {
                input = await body(req);
            } catch {
                return envelope(res, 400, null, [{ code: 6007, message: "Malformed JSON in request body" }]);
            }
            if (id === undefined) {
                if (req.method !== "POST") return envelope(res, 405, null, [{ code: 10405, message: "Method not allowed" }]);
                if (typeof input.name !== "string" || input.name === "" || !Array.isArray(input.policies)) {
                    return envelope(res, 400, null, [{ code: 400, message: "name and policies are required" }]);
                }
                const value = randomBytes(30).toString("base64url").slice(0, 40);
                const now = new Date().toISOString();
                const token: DoubleToken = {
                    id: randomBytes(16).toString("hex"),
                    accountId,
                    name: input.name,
                    policies: input.policies,
                    status: "active",
                    valueSha256: createHash("sha256").update(value).digest("hex"),
                    issued_on: now,
                    modified_on: now,
                };
                tokens.push(token);
                return envelope(res, 200, { ...view(token), value });
            }
            const i = tokens.findIndex((t) => t.id === id && t.accountId === accountId);
            if (i < 0) return envelope(res, 404, null, [{ code: 1003, message: "Token not found" }]);
            const token = tokens[i];
            switch (req.method) {
                case "GET":
                    return envelope(res, 200, view(token));
                case "PUT":
                    if (typeof input.name === "string") token.name = input.name;
                    if (Array.isArray(input.policies)) token.policies = input.policies;
                    if (input.status === "active" || input.status === "disabled") token.status = input.status;
                    token.modified_on = new Date().toISOString();
                    return envelope(res, 200, view(token));
                case "DELETE":
                    tokens.splice(i, 1);
                    return envelope(res, 200, { id });
                default:
                    return envelope(res, 405, null, [{ code: 10405, message: "Method not allowed" }]);
            }
        })().catch(() => envelope(res, 500, null, [{ code: 500, message: "internal error of the double" }]));
    });
    await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, "127.0.0.1", resolve);
    });
    return {
        baseUrl: `http://127.0.0.1:${(server.address() as { port: number }).port}${BASE}`,
        adminToken,
        tokens: () => tokens,
        stop: () => new Promise((r) => server.close(() => r())),
    };
}
