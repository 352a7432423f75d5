/**
 * TypesenseKeysApiDouble: a TEST DOUBLE of Typesense's documented keys API (POST/GET /keys, GET/DELETE /keys/:id,
 * X-TYPESENSE-API-KEY), because no Typesense server can run here. Keys live in memory; the admin key is checked;
 * `value_prefix` is returned as Typesense does. Same behaviour as the double in test/typesenseApply.test.ts, as a
 * server the engine emulator's hooks can reach. Binds 127.0.0.1 only.
 */
import { Server, createServer } from "node:http";

export interface TypesenseKey {
    readonly id: number;
    readonly value: string;
    readonly description: string;
    readonly actions: readonly string[];
    readonly collections: readonly string[];
}

export interface TypesenseKeysDouble {
    readonly url: string;
    readonly adminKey: string;
    /** The keys it holds now. */
    keys(): readonly TypesenseKey[];
    stop(): Promise<void>;
}

export async function startTypesenseKeysDouble(adminKey: string): Promise<TypesenseKeysDouble> {
    let keys: TypesenseKey[] = [];
    let nextId = 1;
    const server: Server = createServer((req, res) => {
        let body = "";
        req.on("data", (d) => (body += d));
        req.on("end", () => {
            const send = (status: number, payload: unknown) => {
                res.writeHead(status, { "Content-Type": "application/json" });
                res.end(JSON.stringify(payload));
            };
            if (req.headers["x-typesense-api-key"] !== adminKey) return send(401, { message: "Forbidden - a valid `x-typesense-api-key` header must be sent." });
            const summary = (k: TypesenseKey) => ({ id: k.id, description: k.description, actions: k.actions, collections: k.collections, value_prefix: k.value.slice(0, 4), expires_at: 64723363199 });
            const idMatch = /^\/keys\/(\d+)$/.exec(req.url ?? "");
            if (req.method === "GET" && req.url === "/keys") return send(200, { keys: keys.map(summary) });
            if (req.method === "POST" && req.url === "/keys") {
                const k = JSON.parse(body) as Partial<TypesenseKey>;
                if (!k.actions || !k.collections) return send(400, { message: "Missing actions or collections." });
                if (keys.some((x) => x.value === k.value)) return send(409, { message: "API key generation conflict." });
                const stored: TypesenseKey = { id: nextId++, value: k.value!, description: k.description ?? "", actions: k.actions, collections: k.collections };
                keys.push(stored);
                return send(201, { ...summary(stored), value: stored.value });
            }
            if (idMatch) {
                const k = keys.find((x) => x.id === Number(idMatch[1]));
                if (!k) return send(404, { message: "Key not found." });
                if (req.method === "GET") return send(200, summary(k));
                if (req.method === "DELETE") {
                    keys = keys.filter((x) => x !== k);
                    return send(200, { id: k.id });
                }
            }
            send(404, { message: "Not Found" });
        });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return {
        url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
        adminKey,
        keys: () => keys,
        stop: () => new Promise((r) => server.close(() => r())),
    };
}
