/**
 * TypesenseKeysApiDouble: a TEST DOUBLE of Typesense's documented keys API (POST/GET /keys, GET/DELETE /keys/:id,
 * X-TYPESENSE-API-KEY) and of the one data-plane call the applier proves a key with (a search), because no Typesense
 * server can run here. Keys live in memory; the admin key is checked; `value_prefix` is returned as Typesense does.
 * One handler (`typesenseKeysHandler`) serves test/typesenseApply.test.ts (over HTTP or HTTPS) and the engine
 * emulator's world. Binds 127.0.0.1 only.
 *
 * What it models of a cluster:
 * - **Propagation delay** (`propagationMs`): in an HA cluster "read API calls will be served by the node that receives
 *   it, write API calls are automatically forwarded to the leader" (https://typesense.org/docs/guide/high-availability.html),
 *   so a key just created reaches the followers a moment later ("it first gets written to the current leader and then
 *   propagated to the other follower nodes", https://github.com/typesense/typesense/issues/742). For `propagationMs`
 *   after its creation a key is refused with 401 on a search, as a follower that has not seen it yet would
 *   (`Infinity`: a key the cluster never accepts).
 * - **Collections**: `GET /collections` (admin key) lists them; a search on an unknown collection answers 404; a key
 *   whose `actions` lack `documents:search` (or `documents:*`, `*`) or whose `collections` do not name the collection
 *   (or `*`) is refused with 401 (https://typesense.org/docs/27.1/api/api-keys.html: a key "can be restricted to only
 *   allow searches on specific collections").
 */
import { RequestListener, Server, createServer } from "node:http";

export interface TypesenseKey {
    readonly id: number;
    readonly value: string;
    readonly description: string;
    readonly actions: readonly string[];
    readonly collections: readonly string[];
    /** When the double created it (ms since the epoch); keys put in by a test directly count as long propagated. */
    readonly createdAt?: number;
}

export interface TypesenseKeysDouble {
    readonly url: string;
    readonly adminKey: string;
    /** The keys it holds now. */
    keys(): readonly TypesenseKey[];
    /** Every request it answered (`GET /keys`, `GET /collections/products/documents/search?...`). */
    requests(): readonly string[];
    /** How long a new key is refused on a search (default 0). */
    setPropagationMs(ms: number): void;
    stop(): Promise<void>;
}

/** What a keys-API double holds: its keys, the next id, and every request it answered (`GET /keys`). */
export interface TypesenseKeysStore {
    keys: TypesenseKey[];
    nextId: number;
    readonly requests: string[];
    readonly adminKey: string;
    /** The collections that exist (default: none; a search then answers 404). */
    collections?: string[];
    /** How long after its creation a key is refused on a search, as a follower that has not seen it yet (default 0). */
    propagationMs?: number;
}

const FORBIDDEN = { message: "Forbidden - a valid `x-typesense-api-key` header must be sent." };

const allows = (granted: readonly string[], wanted: string) => granted.some((g) => g === "*" || g === wanted || (g.endsWith(":*") && wanted.startsWith(g.slice(0, -1))));

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
            const presented = req.headers["x-typesense-api-key"];
            const path = new URL(req.url ?? "/", "http://double").pathname;
            // GET /collections/:c/documents/search: the data plane, where application keys are used.
            const search = /^\/collections\/([^/]+)\/documents\/search$/.exec(path);
            if (req.method === "GET" && search) {
                const collection = decodeURIComponent(search[1]);
                if (presented !== store.adminKey) {
                    const key = store.keys.find((k) => k.value === presented);
                    if (!key) return send(401, FORBIDDEN);
                    if (key.createdAt !== undefined && Date.now() - key.createdAt < (store.propagationMs ?? 0)) return send(401, FORBIDDEN);
                    if (!allows(key.actions, "documents:search") || !allows(key.collections, collection)) return send(401, FORBIDDEN);
                }
                if (!(store.collections ?? []).includes(collection)) return send(404, { message: `Could not find a collection with name \`${collection}\`.` });
                return send(200, { facet_counts: [], found: 0, hits: [], out_of: 0, page: 1, request_params: { collection_name: collection, per_page: 0, q: "*" }, search_time_ms: 0 });
            }
            if (presented !== store.adminKey) return send(401, FORBIDDEN);
            if (req.method === "GET" && path === "/collections") return send(200, (store.collections ?? []).map((name) => ({ name, num_documents: 0, fields: [] })));
            const summary = (k: TypesenseKey) => ({ id: k.id, description: k.description, actions: k.actions, collections: k.collections, value_prefix: k.value.slice(0, 4), expires_at: 64723363199 });
            const idMatch = /^\/keys\/(\d+)$/.exec(req.url ?? "");
            if (req.method === "GET" && req.url === "/keys") return send(200, { keys: store.keys.map(summary) });
            if (req.method === "POST" && req.url === "/keys") {
                const k = JSON.parse(body) as Partial<TypesenseKey>;
                if (!k.actions || !k.collections) return send(400, { message: "Missing actions or collections." });
                if (store.keys.some((x) => x.value === k.value)) return send(409, { message: "API key generation conflict." });
                const stored: TypesenseKey = { id: store.nextId++, value: k.value!, description: k.description ?? "", actions: k.actions, collections: k.collections, createdAt: Date.now() };
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

export async function startTypesenseKeysDouble(adminKey: string, opts: { collections?: string[]; propagationMs?: number } = {}): Promise<TypesenseKeysDouble> {
    const store: TypesenseKeysStore = { keys: [], nextId: 1, requests: [], adminKey, collections: opts.collections ?? ["products", "merchants"], propagationMs: opts.propagationMs ?? 0 };
    const server: Server = createServer(typesenseKeysHandler(store));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return {
        url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
        adminKey,
        keys: () => store.keys,
        requests: () => store.requests,
        setPropagationMs: (ms) => {
            store.propagationMs = ms;
        },
        stop: () => new Promise((r) => server.close(() => r())),
    };
}
