/**
 * Polls the API's health URLs after consumers restarted; the rotation fails if any URL never answers with the
 * expected status. Each URL must give `requiredSuccesses` good answers in a row (a rollout that flaps does not
 * pass on one lucky answer), within `attempts` tries, with exponential backoff between tries.
 *
 * Inputs: `healthCheckContract` (hooks/contracts.ts). Seconds may be fractions.
 */
import "./isolateEnv"; // first: strips every admin credential before any library loads
import { HookInput, fromEnv, healthCheckContract, hookSecrets } from "./contracts";
import { runHook, sleep } from "./hookRuntime";

/** The contract's inputs, and where progress goes. */
export type HealthOptions = HookInput<typeof healthCheckContract> & { readonly log?: (message: string) => void };

export interface UrlHealth {
    readonly url: string;
    readonly healthy: boolean;
    readonly attempts: number;
    /** The last status seen, or the last network error. */
    readonly last: string;
}

/** Checks every URL concurrently; throws one line naming each URL that stayed unhealthy. */
export async function checkHealth(opts: HealthOptions): Promise<UrlHealth[]> {
    const results = await Promise.all(opts.urls.map((url) => checkOne(url, opts)));
    const bad = results.filter((r) => !r.healthy);
    if (bad.length > 0) {
        throw new Error(
            `health check failed: ${bad.map((r) => `${r.url} (${r.last} after ${r.attempts} attempts, expected ${opts.expectStatus})`).join("; ")}`,
        );
    }
    return results;
}

async function checkOne(url: string, opts: HealthOptions): Promise<UrlHealth> {
    const log = opts.log ?? (() => undefined);
    const [initialBackoffMs, maxBackoffMs, timeoutMs] = [opts.initialBackoffSeconds, opts.maxBackoffSeconds, opts.timeoutSeconds].map((s) => s * 1000);
    let streak = 0;
    let backoff = initialBackoffMs;
    let last = "no answer";
    for (let attempt = 1; attempt <= opts.attempts; attempt++) {
        try {
            const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: "manual" });
            await res.arrayBuffer(); // drain, so the connection can be reused
            last = `HTTP ${res.status}`;
            streak = res.status === opts.expectStatus ? streak + 1 : 0;
        } catch (err) {
            last = (err as Error).name === "TimeoutError" ? `timeout after ${timeoutMs}ms` : `network error: ${(err as Error).message}`;
            streak = 0;
        }
        if (streak >= opts.requiredSuccesses) {
            log(`${url} healthy (${last}, ${streak} in a row, attempt ${attempt})`);
            return { url, healthy: true, attempts: attempt, last };
        }
        if (attempt === opts.attempts) {
            break;
        }
        if (streak > 0) {
            await sleep(initialBackoffMs); // confirming: no backoff growth while answers are good
        } else {
            log(`${url}: ${last} (attempt ${attempt}/${opts.attempts}); retrying in ${backoff}ms`);
            await sleep(backoff);
            backoff = Math.min(backoff * 2, maxBackoffMs);
        }
    }
    return { url, healthy: false, attempts: opts.attempts, last };
}

if (require.main === module) {
    runHook("health-check", hookSecrets(healthCheckContract, process.env), async (log) => {
        await checkHealth({ ...fromEnv(healthCheckContract, process.env), log });
    });
}
