/**
 * The Typesense applier against TypesenseKeysApiDouble: a TEST DOUBLE of Typesense's documented keys API
 * (POST/GET /keys, GET/DELETE /keys/:id, X-TYPESENSE-API-KEY) and search endpoint, because no Typesense server can
 * run here. It keeps keys in memory, checks the admin key, returns value_prefix like Typesense does, and models an HA
 * cluster's propagation delay (a new key answers 401 on a search for a while) and its collections (404 on an unknown one). Its inputs are decoded
 * through its contract (hooks/contracts.ts), and it runs as the process the program runs. The same double also
 * listens over HTTPS with a test CA's certificate, for the transport rules.
 */
import { readFileSync } from "node:fs";
import { Server, createServer } from "node:http";
import { Server as HttpsServer, createServer as createHttpsServer } from "node:https";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { toEnv, typesenseApplyContract } from "../hooks/contracts";
import { HookInputError, SourceError } from "../hooks/hookRuntime";
import { TypesenseSlot, applyTypesenseSlot, optionsFromEnv, requireTls } from "../hooks/typesenseApply";
import { runHookProcess } from "./support/hookProcess";
import { TypesenseKeysStore, typesenseKeysHandler } from "./support/emulator/typesenseKeysDouble";
import { freePort } from "./support/ports";
import { TestCa, makeTestCa } from "./support/tlsServers";


const ADMIN = "typesense-admin-key";
const ADMIN_ENV = typesenseApplyContract.adminEnv;
const store: TypesenseKeysStore = { keys: [], nextId: 1, requests: [], adminKey: ADMIN, collections: ["products", "merchants"] };
const SEARCH = (c: string) => `GET /collections/${c}/documents/search?q=*&per_page=0`;
let server: Server | HttpsServer;
let url: string;

/** TypesenseKeysApiDouble (test/support/emulator/typesenseKeysDouble.ts) over `store`; over HTTPS with `tls`. */
function typesenseKeysApiDouble(tls?: { key: Buffer; cert: Buffer }): Server | HttpsServer {
    const handler = typesenseKeysHandler(store);
    return tls ? createHttpsServer(tls, handler) : createServer(handler);
}

beforeAll(async () => {
    server = typesenseKeysApiDouble();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => new Promise((r) => server.close(r)));
beforeEach(() => {
    store.keys = [{ id: 900, value: "unrelated-admin-key", description: "created by hand", actions: ["*"], collections: ["*"] }];
    store.nextId = 1;
    store.requests.length = 0;
    store.propagationMs = 0;
    store.collections = ["products", "merchants"];
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
        store.requests.length = 0;
        const b2 = await applyTypesenseSlot(slot("b", "2026-11", "BBBB2222"));
        expect(b2).toEqual({ keyId: 3, created: true, deleted: [2] });
        expect(store.requests).toEqual(["GET /keys", "POST /keys", SEARCH("products"), "DELETE /keys/2"]); // new key first, proven, then the old one goes
        expect(store.keys.map((k) => [k.id, k.value, k.description])).toEqual([
            [900, "unrelated-admin-key", "created by hand"],
            [1, "AAAA1111", "buywhere-rotation:staging:slot-a:2026-10"],
            [3, "BBBB2222", "buywhere-rotation:staging:slot-b:2026-11"],
        ]);
        expect(store.keys.find((k) => k.id === 3)).toMatchObject({ actions: ["documents:search"], collections: ["products"] });
    });

    it("is idempotent: the same slot, stamp and value registers nothing new", async () => {
        await applyTypesenseSlot(slot("a", "2026-10", "AAAA1111"));
        store.requests.length = 0;
        expect(await applyTypesenseSlot(slot("a", "2026-10", "AAAA1111"))).toEqual({ keyId: 1, created: false, deleted: [] });
        expect(store.requests).toEqual(["GET /keys", SEARCH("products")]); // proven again, nothing created
    });

    it("keeps stacks apart: staging's slot a never deletes production's", async () => {
        await applyTypesenseSlot(slot("a", "2026-10", "PROD1111", { stack: "production" }));
        await applyTypesenseSlot(slot("a", "2026-11", "STAG2222"));
        expect(store.keys.map((k) => k.description).sort()).toEqual([
            "buywhere-rotation:production:slot-a:2026-10",
            "buywhere-rotation:staging:slot-a:2026-11",
            "created by hand",
        ]);
    });

    it("fails clearly on a wrong admin key or an unreachable server, never echoing the key's value", async () => {
        const denied = await applyTypesenseSlot(slot("a", "2026-10", "SECRETVALUE1", { adminKey: "wrong" })).then(() => undefined, (e: Error) => e);
        expect(denied).toBeInstanceOf(SourceError); // Typesense refused: its own answer, passed on
        expect(denied?.message).toBe("Typesense GET /keys failed: HTTP 401: Forbidden - a valid `x-typesense-api-key` header must be sent.");
        const closed = await freePort(); // nothing listens there
        const down = await applyTypesenseSlot(slot("a", "2026-10", "SECRETVALUE1", { url: `http://127.0.0.1:${closed}` })).then(() => undefined, (e: Error) => e);
        expect(down).not.toBeInstanceOf(SourceError); // nothing answered
        expect(down?.message).toBe(`could not reach Typesense at http://127.0.0.1:${closed}: fetch failed (ECONNREFUSED)`);
        for (const e of [denied, down]) expect(`${e?.message}${e?.stack}`).not.toContain("SECRETVALUE1");
    });
});

describe("the proof: a search with the new key on every collection, retried while the cluster propagates it (double)", () => {
    it("retries a key a follower does not know yet (401) until it is accepted, then deletes the slot's older key", async () => {
        await applyTypesenseSlot(slot("a", "2026-10", "AAAA1111"));
        store.propagationMs = 700;
        store.requests.length = 0;
        const lines: string[] = [];
        const started = Date.now();
        const a2 = await applyTypesenseSlot(slot("a", "2026-11", "AAAA2222", { collections: ["products", "merchants"], proofTimeoutSeconds: 10 }), (l) => lines.push(l));
        expect(Date.now() - started).toBeGreaterThanOrEqual(700);
        expect(a2).toEqual({ keyId: 2, created: true, deleted: [1] });
        const searches = store.requests.filter((r) => r === SEARCH("products"));
        expect(searches.length).toBeGreaterThan(1); // refused while propagating, then accepted
        expect(store.requests.slice(-2)).toEqual([SEARCH("merchants"), "DELETE /keys/1"]); // deleted only once proven everywhere
        expect(lines.at(-3)).toMatch(/^slot a's key searches products \(accepted after \d+ attempts\)$/);
    });

    it("a key the cluster never accepts within the timeout: one line, and the slot's older key is not deleted", async () => {
        await applyTypesenseSlot(slot("a", "2026-10", "AAAA1111"));
        store.propagationMs = Infinity;
        const err = await applyTypesenseSlot(slot("a", "2026-11", "SECRETVALUE5", { proofTimeoutSeconds: 1 })).then(() => undefined, (e: Error) => e);
        expect(err).toBeInstanceOf(SourceError);
        expect(err?.message).toMatch(
            /^Typesense did not accept slot a's new key for a search on `products` within 1 s \(\d+ attempts, last: HTTP 401: Forbidden - a valid `x-typesense-api-key` header must be sent\.\); nothing was published$/,
        );
        expect(`${err?.message}${err?.stack}`).not.toContain("SECRETVALUE5");
        expect(store.keys.map((k) => k.value)).toContain("AAAA1111"); // the older key still works
    });

    it("a collection the cluster does not have fails at once, naming it", async () => {
        const started = Date.now();
        const err = await applyTypesenseSlot(slot("b", "2026-11", "BBBB1111", { collections: ["products", "prodcuts"], proofTimeoutSeconds: 30 })).then(() => undefined, (e: Error) => e);
        expect(Date.now() - started).toBeLessThan(5_000);
        expect(err).toEqual(new SourceError(`Typesense at ${url} has no collection \`prodcuts\` (HTTP 404: Could not find a collection with name \`prodcuts\`.); check rotation:typesense.collections`));
    });

    it("a key whose actions do not include documents:search is never accepted (the double enforces the key's scope)", async () => {
        const err = await applyTypesenseSlot(slot("b", "2026-11", "NARROWKEY1", { actions: ["documents:get"], proofTimeoutSeconds: 1 })).then(() => undefined, (e: Error) => e);
        expect(err?.message).toMatch(/^Typesense did not accept slot b's new key for a search on `products` within 1 s/);
    });

    it("collections `*`: proves the key on every collection the cluster lists", async () => {
        await applyTypesenseSlot(slot("a", "2026-10", "AAAA1111", { collections: ["*"] }));
        expect(store.requests).toEqual(["GET /keys", "POST /keys", "GET /collections", SEARCH("products"), SEARCH("merchants")]);
        store.collections = [];
        const err = await applyTypesenseSlot(slot("b", "2026-10", "BBBB1111", { collections: ["*"] })).then(() => undefined, (e: Error) => e);
        expect(err).toEqual(new SourceError(`Typesense at ${url} has no collection to prove slot b's key on`));
    });
});

describe("Typesense applier inputs", () => {
    const input = { url: "http://search.internal:8108", stack: "staging", slot: "a", stamp: "2026-11", value: "SECRETVALUE2", actions: ["documents:search"], collections: ["products"] } as const;
    const valid = () => ({ ...toEnv(typesenseApplyContract, { ...input, actions: [...input.actions], collections: [...input.collections] }), [ADMIN_ENV]: ADMIN });
    const without = (name: string) => Object.fromEntries(Object.entries(valid()).filter(([k]) => k !== name));

    it("decodes exactly what the program encodes, plus the inherited admin key", () => {
        expect(optionsFromEnv(valid())).toEqual({ ...input, adminKey: ADMIN });
    });

    it.each([
        [without("TYPESENSE_URL"), "environment variable TYPESENSE_URL is required"],
        [{ ...valid(), TYPESENSE_URL: "search.internal" }, 'environment variable TYPESENSE_URL "search.internal" is not an http(s) URL without credentials'],
        [{ ...valid(), TYPESENSE_SLOT: "c" }, "environment variable TYPESENSE_SLOT must be a or b"],
        [without("TYPESENSE_SLOT_STAMP"), "environment variable TYPESENSE_SLOT_STAMP is required"],
        [{ ...valid(), TYPESENSE_ACTIONS: "documents:search" }, "environment variable TYPESENSE_ACTIONS must be a non-empty JSON list of strings"],
        [{ ...valid(), TYPESENSE_ACTIONS: "[]" }, "environment variable TYPESENSE_ACTIONS must be a non-empty JSON list of strings"],
        [{ ...valid(), TYPESENSE_COLLECTIONS: "[1]" }, "environment variable TYPESENSE_COLLECTIONS must be a non-empty JSON list of strings"],
        [{ ...valid(), TYPESENSE_COLLECTIONS: '[""]' }, "environment variable TYPESENSE_COLLECTIONS must not be empty"],
        [without("TYPESENSE_KEY_VALUE"), "environment variable TYPESENSE_KEY_VALUE is required"],
        [{ ...valid(), TYPESENSE_PROOF_TIMEOUT_SECONDS: "soon" }, 'environment variable TYPESENSE_PROOF_TIMEOUT_SECONDS must be a positive number (got "soon")'],
        [without(ADMIN_ENV), `environment variable ${ADMIN_ENV} is required`],
    ])("refuses %j with one line naming the variable, never a value of a secret", (env, message) => {
        let err: unknown;
        try {
            optionsFromEnv(env);
        } catch (e) {
            err = e;
        }
        expect(err).toEqual(new HookInputError(message));
        expect(`${(err as Error).message}${(err as Error).stack}`).not.toContain("SECRETVALUE2");
    });

    it("as a process: registers the slot's key (exit 0); bad input exits 2 with one line, touching nothing", async () => {
        const env = { ...toEnv(typesenseApplyContract, { ...input, url, value: "PROC1111", actions: ["documents:search"], collections: ["products"] }), [ADMIN_ENV]: ADMIN };
        const ok = await runHookProcess("typesenseApply", env);
        expect(ok.code).toBe(0);
        expect(ok.stderr).toBe("[typesense-apply] registered key 1 for slot a (2026-11)\n[typesense-apply] slot a's key searches products\n");
        expect(store.keys.map((k) => k.description)).toContain("buywhere-rotation:staging:slot-a:2026-11");
        store.requests.length = 0;
        const bad = await runHookProcess("typesenseApply", { ...env, TYPESENSE_SLOT: "c" });
        expect(bad.code).toBe(2);
        expect(bad.stderr).toBe("[typesense-apply] error: environment variable TYPESENSE_SLOT must be a or b\n");
        expect(store.requests).toEqual([]);
    });
});

describe("the link: https:// unless the host is loopback", () => {
    const CANARY = "Typesense-Canary-AdminKey-91c0e";
    const notLoopback = "TYPESENSE_URL must be an https:// URL: its host is not loopback, and ROTATION_TYPESENSE_ADMIN_KEY would cross the network in clear";

    it.each(["https://search.internal:8108", "http://127.0.0.1:8108", "http://localhost:8108", "http://[::1]:8108", "http://127.9.9.9"])("accepts %s", (u) => {
        expect(() => requireTls(u)).not.toThrow();
    });

    it.each(["http://search.internal:8108", "http://127.0.0.1.nip.io:8108", "http://localhost.example.com", "http://[::ffff:7f00:1]:8108"])("refuses %s", (u) => {
        expect(() => requireTls(u)).toThrow(new HookInputError(notLoopback));
    });

    it("sends nothing over a refused link: fetch is never called", async () => {
        const fetchSpy = vi.spyOn(globalThis, "fetch");
        try {
            const err = await applyTypesenseSlot(slot("a", "2026-11", "SECRETVALUE3", { url: "http://search.invalid:8108", adminKey: CANARY })).then(() => undefined, (e: Error) => e);
            expect(err).toEqual(new HookInputError(notLoopback));
            expect(fetchSpy).not.toHaveBeenCalled();
            await applyTypesenseSlot(slot("a", "2026-11", "SECRETVALUE3")); // the spy does see store.requests
            expect(fetchSpy).toHaveBeenCalled();
        } finally {
            fetchSpy.mockRestore();
        }
    });

    describe("over HTTPS, with a certificate from the test CA (issued for localhost only)", () => {
        let ca: TestCa;
        let httpsServer: HttpsServer;
        let httpsUrl: string;
        beforeAll(async () => {
            ca = makeTestCa();
            httpsServer = typesenseKeysApiDouble({ key: readFileSync(ca.keyFile), cert: readFileSync(ca.certFile) }) as HttpsServer;
            await new Promise<void>((r) => httpsServer.listen(0, "127.0.0.1", r));
            httpsUrl = `https://localhost:${(httpsServer.address() as { port: number }).port}`;
        });
        afterAll(async () => {
            await new Promise((r) => httpsServer.close(r));
            ca.remove();
        });
        const env = (over: Record<string, string> = {}) => ({
            ...toEnv(typesenseApplyContract, { url: httpsUrl, stack: "staging", slot: "b", stamp: "2026-12", value: "HTTPS1111", actions: ["documents:search"], collections: ["products"] }),
            [ADMIN_ENV]: ADMIN,
            ...over,
        });

        it("as a process: an untrusted certificate fails (exit 1) even with NODE_TLS_REJECT_UNAUTHORIZED=0, and no request arrives", async () => {
            const run = await runHookProcess("typesenseApply", env({ NODE_TLS_REJECT_UNAUTHORIZED: "0" }));
            expect(run.code).toBe(1);
            expect(run.stderr).toMatch(/^\[typesense-apply\] error: could not reach Typesense at https:\/\/localhost:\d+: fetch failed \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\) \(TLS: the server's certificate is not from a trusted CA; set NODE_EXTRA_CA_CERTS to the CA bundle that issued it\)\n$/);
            expect(store.requests).toEqual([]);
        });

        it("as a process: trusts a private CA through NODE_EXTRA_CA_CERTS, and registers the key (exit 0)", async () => {
            const run = await runHookProcess("typesenseApply", env({ NODE_EXTRA_CA_CERTS: ca.caFile }));
            expect(run).toEqual({ code: 0, stdout: "", stderr: "[typesense-apply] registered key 1 for slot b (2026-12)\n[typesense-apply] slot b's key searches products\n" });
            expect(store.requests).toEqual(["GET /keys", "POST /keys", SEARCH("products")]);
        });
    });

    it("as a process: a plaintext link to a remote host exits 2 with that one line, before any request", async () => {
        const run = await runHookProcess("typesenseApply", {
            ...toEnv(typesenseApplyContract, { url: "http://search.invalid:8108", stack: "staging", slot: "a", stamp: "2026-11", value: "SECRETVALUE4", actions: ["documents:search"], collections: ["products"] }),
            [ADMIN_ENV]: CANARY,
        });
        expect(run).toEqual({ code: 2, stdout: "", stderr: `[typesense-apply] error: ${notLoopback}\n` });
    });
});
