/**
 * The health-check hook against a real local HTTP server (127.0.0.1), as a function and as the process the Pulumi
 * program runs; its inputs decoded through its contract (hooks/contracts.ts).
 */
import { Server, createServer } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromEnv, healthCheckContract, toEnv } from "../hooks/contracts";
import { HealthOptions, checkHealth } from "../hooks/healthCheck";
import { HookInputError } from "../hooks/hookRuntime";
import { runHookProcess } from "./support/hookProcess";

/** Each path answers with the next status of its script; the last status repeats. */
let scripts: Record<string, number[]> = {};
const hits: Record<string, number> = {};
let server: Server;
let base: string;

beforeAll(async () => {
    server = createServer((req, res) => {
        const path = req.url ?? "/";
        const n = (hits[path] = (hits[path] ?? 0) + 1);
        const script = scripts[path] ?? [404];
        if (script[0] === -1) return; // never answer: the client must time out
        res.statusCode = script[Math.min(n - 1, script.length - 1)];
        res.end("ok");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
});

const fast: Omit<HealthOptions, "urls"> = { expectStatus: 200, attempts: 6, requiredSuccesses: 2, initialBackoffSeconds: 0.01, maxBackoffSeconds: 0.04, timeoutSeconds: 0.5 };

describe("health check", () => {
    it("passes a healthy service after the required consecutive successes", async () => {
        scripts = { "/healthy": [200] };
        const [result] = await checkHealth({ ...fast, urls: [`${base}/healthy`] });
        expect(result).toEqual({ url: `${base}/healthy`, healthy: true, attempts: 2, last: "HTTP 200" });
        expect(hits["/healthy"]).toBe(2);
    });

    it("passes a flapping service once it answers healthy twice in a row", async () => {
        scripts = { "/flapping": [503, 200, 502, 200, 200] };
        const [result] = await checkHealth({ ...fast, urls: [`${base}/flapping`] });
        expect(result.healthy).toBe(true);
        expect(result.attempts).toBe(5);
        expect(hits["/flapping"]).toBe(5);
    });

    it("fails a never-healthy service within its bound, naming the URL and the last status", async () => {
        scripts = { "/down": [503] };
        const started = Date.now();
        await expect(checkHealth({ ...fast, urls: [`${base}/down`] })).rejects.toThrow(
            `health check failed: ${base}/down (HTTP 503 after 6 attempts, expected 200)`,
        );
        expect(hits["/down"]).toBe(6);
        // Backoff is bounded: 10 + 20 + 40 + 40 + 40 ms of waiting.
        expect(Date.now() - started).toBeLessThan(5_000);
    });

    it("times out a URL that never answers, and checks URLs independently", async () => {
        scripts = { "/hang": [-1], "/fine": [200] };
        await expect(
            checkHealth({ ...fast, attempts: 2, timeoutSeconds: 0.1, urls: [`${base}/fine`, `${base}/hang`] }),
        ).rejects.toThrow(new RegExp(`^health check failed: ${base}/hang \\(timeout after 100ms after 2 attempts, expected 200\\)$`));
    });

    it("treats a redirect as unhealthy unless it is the expected status", async () => {
        scripts = { "/moved": [302] };
        await expect(checkHealth({ ...fast, attempts: 2, urls: [`${base}/moved`] })).rejects.toThrow("HTTP 302 after 2 attempts");
        const [ok] = await checkHealth({ ...fast, expectStatus: 302, urls: [`${base}/moved`] });
        expect(ok.healthy).toBe(true);
    });

    const valid = () =>
        toEnv(healthCheckContract, { urls: ["http://x/health"], expectStatus: 200, attempts: 3, requiredSuccesses: 2, initialBackoffSeconds: 0.01, maxBackoffSeconds: 0.02, timeoutSeconds: 1 });

    it("decodes exactly what the program encodes", () => {
        expect(fromEnv(healthCheckContract, valid())).toEqual({
            urls: ["http://x/health"],
            expectStatus: 200,
            attempts: 3,
            requiredSuccesses: 2,
            initialBackoffSeconds: 0.01,
            maxBackoffSeconds: 0.02,
            timeoutSeconds: 1,
        });
    });

    it.each([
        [{}, "environment variable HEALTH_URLS is required"],
        [{ HEALTH_URLS: "not json" }, "environment variable HEALTH_URLS must be a non-empty JSON list of http(s) URLs"],
        [{ HEALTH_URLS: "[]" }, "environment variable HEALTH_URLS must be a non-empty JSON list of http(s) URLs"],
        [{ HEALTH_URLS: '"http://x"' }, "environment variable HEALTH_URLS must be a non-empty JSON list of http(s) URLs"],
        [{ HEALTH_URLS: '["ftp://x"]' }, 'environment variable HEALTH_URLS "ftp://x" is not an http(s) URL without credentials'],
        [{ HEALTH_EXPECT_STATUS: "99" }, "environment variable HEALTH_EXPECT_STATUS must be a whole number from 100 to 599"],
        [{ HEALTH_ATTEMPTS: "0" }, "environment variable HEALTH_ATTEMPTS must be a whole number from 1 to 100"],
        [{ HEALTH_ATTEMPTS: "2.5" }, "environment variable HEALTH_ATTEMPTS must be a whole number from 1 to 100"],
        [{ HEALTH_REQUIRED_SUCCESSES: "" }, "environment variable HEALTH_REQUIRED_SUCCESSES is required"],
        [{ HEALTH_TIMEOUT_SECONDS: "soon" }, 'environment variable HEALTH_TIMEOUT_SECONDS must be a positive number (got "soon")'],
        [{ HEALTH_MAX_BACKOFF_SECONDS: "-1" }, "environment variable HEALTH_MAX_BACKOFF_SECONDS must be a positive number"],
    ])("refuses %j with one line naming the variable", (override, message) => {
        const env = Object.keys(override).length === 0 ? {} : { ...valid(), ...override };
        expect(() => fromEnv(healthCheckContract, env)).toThrow(new HookInputError(message));
    });

    it("as a process: exit 0 when healthy, 1 with a one-line error when not, 2 on bad input", async () => {
        scripts = { "/p-ok": [200], "/p-down": [500] };
        const env = (path: string) =>
            toEnv(healthCheckContract, { ...fast, attempts: 3, initialBackoffSeconds: 0.01, maxBackoffSeconds: 0.02, urls: [`${base}${path}`] });
        const ok = await runHookProcess("healthCheck", env("/p-ok"));
        expect(ok.code).toBe(0);
        expect(ok.stderr).toContain("healthy (HTTP 200, 2 in a row");
        const down = await runHookProcess("healthCheck", env("/p-down"));
        expect(down.code).toBe(1);
        expect(down.stderr.trim().split("\n").pop()).toBe(`[health-check] error: health check failed: ${base}/p-down (HTTP 500 after 3 attempts, expected 200)`);
        const bad = await runHookProcess("healthCheck", { ...env("/p-ok"), HEALTH_URLS: "[]" });
        expect(bad.code).toBe(2);
        expect(bad.stdout).toBe("");
        expect(bad.stderr).toBe("[health-check] error: environment variable HEALTH_URLS must be a non-empty JSON list of http(s) URLs\n");
    });
});
