/**
 * The Typesense applier against TypesenseKeysApiDouble: a TEST DOUBLE of Typesense's documented keys API
 * (POST/GET /keys, GET/DELETE /keys/:id, X-TYPESENSE-API-KEY), because no Typesense server can run here. It keeps
 * keys in memory, checks the admin key, and returns value_prefix like Typesense does.
 */
import { Server, createServer } from "node:http";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { TypesenseSlot, applyTypesenseSlot, optionsFromEnv } from "../hooks/typesenseApply";

interface StoredKey {
    id: number;
    value: string;
    description: string;
    actions: string[];
    collections: string[];
}

const ADMIN = "typesense-admin-key";
let keys: StoredKey[] = [];
let nextId = 1;
const requests: string[] = [];
let server: Server;
let url: string;

/** TypesenseKeysApiDouble: the subset of Typesense's keys API the applier uses. */
function typesenseKeysApiDouble(): Server {
    return createServer((req, res) => {
        let body = "";
        req.on("data", (d) => (body += d));
        req.on("end", () => {
            requests.push(`${req.method} ${req.url}`);
            const send = (status: number, payload: unknown) => {
                res.writeHead(status, { "Content-Type": "application/json" });
                res.end(JSON.stringify(payload));
            };
            if (req.headers["x-typesense-api-key"] !== ADMIN) return send(401, { message: "Forbidden - a valid `x-typesense-api-key` header must be sent." });
            const summary = (k: StoredKey) => ({ id: k.id, description: k.description, actions: k.actions, collections: k.collections, value_prefix: k.value.slice(0, 4), expires_at: 64723363199 });
            const idMatch = /^\/keys\/(\d+)$/.exec(req.url ?? "");
            if (req.method === "GET" && req.url === "/keys") return send(200, { keys: keys.map(summary) });
            if (req.method === "POST" && req.url === "/keys") {
                const k = JSON.parse(body) as Partial<StoredKey>;
                if (!k.actions || !k.collections) return send(400, { message: "Missing actions or collections." });
                if (keys.some((x) => x.value === k.value)) return send(409, { message: "API key generation conflict." });
                const stored: StoredKey = { id: nextId++, value: k.value!, description: k.description ?? "", actions: k.actions, collections: k.collections };
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
}

beforeAll(async () => {
    server = typesenseKeysApiDouble();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => new Promise((r) => server.close(r)));
beforeEach(() => {
    keys = [{ id: 900, value: "unrelated-admin-key", description: "created by hand", actions: ["*"], collections: ["*"] }];
    nextId = 1;
    requests.length = 0;
});

const slot = (s: "a" | "b", stamp: string, value: string, over: Partial<TypesenseSlot> = {}): TypesenseSlot => ({
    url,
    adminKey: ADMIN,
    stack: "staging",
    slot: s,
    stamp,
    value,
    actions: ["documents:search"],
    collections: ["products"],
    ...over,
});

describe("Typesense keys", () => {
    it("registers the slot's value as a key, creating before deleting the slot's previous key; other keys untouched", async () => {
        const a1 = await applyTypesenseSlot(slot("a", "2026-10", "AAAA1111"));
        const b1 = await applyTypesenseSlot(slot("b", "initial", "BBBB1111"));
        expect(a1).toEqual({ keyId: 1, created: true, deleted: [] });
        expect(b1).toEqual({ keyId: 2, created: true, deleted: [] });
        requests.length = 0;
        const b2 = await applyTypesenseSlot(slot("b", "2026-11", "BBBB2222"));
        expect(b2).toEqual({ keyId: 3, created: true, deleted: [2] });
        expect(requests).toEqual(["GET /keys", "POST /keys", "DELETE /keys/2", "GET /keys/3"]); // new key first
        expect(keys.map((k) => [k.id, k.value, k.description])).toEqual([
            [900, "unrelated-admin-key", "created by hand"],
            [1, "AAAA1111", "buywhere-rotation:staging:slot-a:2026-10"],
            [3, "BBBB2222", "buywhere-rotation:staging:slot-b:2026-11"],
        ]);
        expect(keys.find((k) => k.id === 3)).toMatchObject({ actions: ["documents:search"], collections: ["products"] });
    });

    it("is idempotent: the same slot, stamp and value registers nothing new", async () => {
        await applyTypesenseSlot(slot("a", "2026-10", "AAAA1111"));
        requests.length = 0;
        expect(await applyTypesenseSlot(slot("a", "2026-10", "AAAA1111"))).toEqual({ keyId: 1, created: false, deleted: [] });
        expect(requests).toEqual(["GET /keys", "GET /keys/1"]);
    });

    it("keeps stacks apart: staging's slot a never deletes production's", async () => {
        await applyTypesenseSlot(slot("a", "2026-10", "PROD1111", { stack: "production" }));
        await applyTypesenseSlot(slot("a", "2026-11", "STAG2222"));
        expect(keys.map((k) => k.description).sort()).toEqual([
            "buywhere-rotation:production:slot-a:2026-10",
            "buywhere-rotation:staging:slot-a:2026-11",
            "created by hand",
        ]);
    });

    it("fails clearly on a wrong admin key or an unreachable server, never echoing the key's value", async () => {
        const denied = await applyTypesenseSlot(slot("a", "2026-10", "SECRETVALUE1", { adminKey: "wrong" })).then(() => undefined, (e: Error) => e);
        expect(denied?.message).toBe("Typesense GET /keys failed: HTTP 401: Forbidden - a valid `x-typesense-api-key` header must be sent.");
        const down = await applyTypesenseSlot(slot("a", "2026-10", "SECRETVALUE1", { url: "http://127.0.0.1:9" })).then(() => undefined, (e: Error) => e);
        expect(down?.message).toBe("could not reach Typesense at http://127.0.0.1:9: fetch failed");
        for (const e of [denied, down]) expect(`${e?.message}${e?.stack}`).not.toContain("SECRETVALUE1");
    });

    it.each([
        [{}, "environment variable TYPESENSE_SLOT is required"],
        [{ TYPESENSE_SLOT: "c" }, "TYPESENSE_SLOT must be a or b"],
        [{ TYPESENSE_SLOT: "a", TYPESENSE_URL: "search.internal" }, "TYPESENSE_URL must be an http(s) URL"],
    ])("rejects bad input %j", (env, message) => {
        expect(() => optionsFromEnv(env)).toThrow(message);
    });
});
