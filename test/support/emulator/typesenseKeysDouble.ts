/**
 * TypesenseKeysApiDouble: a TEST DOUBLE of Typesense's documented keys API (POST/GET /keys, GET/DELETE /keys/:id,
 * X-TYPESENSE-API-KEY), because no Typesense server can run here. Keys live in memory; the admin key is checked;
 * `value_prefix` is returned as Typesense does. One handler (`typesenseKeysHandler`) serves test/typesenseApply.test.ts (over
 * HTTP or HTTPS) and the engine emulator's world. Binds 127.0.0.1 only.
 */
import { RequestListener, Server, createServer } from "node:http";

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

/** What a keys-API double holds: its keys, the next id, and every request it answered (`GET /keys`). */
export interface TypesenseKeysStore {
    keys: TypesenseKey[];
    nextId: number;
    readonly requests: string[];
    readonly adminKey: string;
}

/** The keys API as a request listener over `store`, for an HTTP or an HTTPS server. */
export function typesenseKeysHandler(store: TypesenseKeysStore): RequestListener {
    return (req, res) => {
        let body = "";
        req.on("data", (d) => (body += d));
        req.on("end", () => {
            store.requests.push(`${req.method} ${req.url}`);
            const send = (status: number, payload: unknown) => {
                res.writeHead(status, { "Content-Type": "application/json" });
                res.end(JSON.stringify(payload));
            };
            if (req.headers["x-typesense-api-key"] !== store.adminKey) return send(401, { message: "Forbidden - a valid `x-typesense-api-key` header must be sent." });
            const summary = (k: TypesenseKey) => ({ id: k.id, description: k.description, actions: k.actions, collections: k.collections, value_prefix: k.value.slice(0, 4), expires_at: 64723363199 });
            const idMatch = /^\/keys\/(\d+)$/.exec(req.url ?? "");
            if (req.method === "GET" && req.url === "/keys") return send(200, { keys: store.keys.map(summary) });
            if (req.method === "POST" && req.url === "/keys") {
                const k = JSON.parse(body) as Partial<TypesenseKey>;
                if (!k.actions || !k.collections) return send(400, { message: "Missing actions or collections." });
                if (store.keys.some((x) => x.value === k.value)) return send(409, { message: "API key generation conflict." });
                const stored: TypesenseKey = { id: store.nextId++, value: k.value!, description: k.description ?? "", actions: k.actions, collections: k.collections };
                store.keys.push(stored);
                return send(201, { ...summary(stored), value: stored.value });
            }
            if (idMatch) {
                const k = store.keys.find((x) => x.id === Number(idMatch[1]));
                if (!k) return send(404, { message: "Key not found." });
                if (req.method === "GET") return send(200, summary(k));
                if (req.method === "DELETE") {
                    store.keys = store.keys.filter((x) => x !== k);
                    return send(200, { id: k.id });
                }
            }
            send(404, { message: "Not Found" });
        });
    };
}

export async function startTypesenseKeysDouble(adminKey: string): Promise<TypesenseKeysDouble> {
    const store: TypesenseKeysStore = { keys: [], nextId: 1, requests: [], adminKey };
    const server: Server = createServer(typesenseKeysHandler(store));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return {
        url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
        adminKey,
        keys: () => store.keys,
        stop: () => new Promise((r) => server.close(() => r())),
    };
}
