/**
 * Polls the API's health URLs after consumers restarted; the rotation fails if any URL never answers with the
 * expected status. Each URL must give `requiredSuccesses` good answers in a row (a rollout that flaps does not
 * pass on one lucky answer), within `attempts` tries, with exponential backoff between tries.
 *
 * Environment: HEALTH_URLS (JSON list), HEALTH_EXPECT_STATUS (200), HEALTH_ATTEMPTS (20),
 * HEALTH_REQUIRED_SUCCESSES (2), HEALTH_INITIAL_BACKOFF_SECONDS (2), HEALTH_MAX_BACKOFF_SECONDS (30),
 * HEALTH_TIMEOUT_SECONDS (5). Seconds may be fractions.
 */
import { HookInputError, numberEnv, requireEnv, runHook, sleep, stderrLogger } from "./hookRuntime";

export interface HealthOptions {
    readonly urls: readonly string[];
    readonly expectStatus: number;
    readonly attempts: number;
    readonly requiredSuccesses: number;
    readonly initialBackoffMs: number;
    readonly maxBackoffMs: number;
    readonly timeoutMs: number;
    readonly log?: (message: string) => void;
}

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
    let streak = 0;
    let backoff = opts.initialBackoffMs;
    let last = "no answer";
    for (let attempt = 1; attempt <= opts.attempts; attempt++) {
        try {
            const res = await fetch(url, { signal: AbortSignal.timeout(opts.timeoutMs), redirect: "manual" });
            await res.arrayBuffer(); // drain, so the connection can be reused
            last = `HTTP ${res.status}`;
            streak = res.status === opts.expectStatus ? streak + 1 : 0;
        } catch (err) {
            last = (err as Error).name === "TimeoutError" ? `timeout after ${opts.timeoutMs}ms` : `network error: ${(err as Error).message}`;
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
            await sleep(opts.initialBackoffMs); // confirming: no backoff growth while answers are good
        } else {
            log(`${url}: ${last} (attempt ${attempt}/${opts.attempts}); retrying in ${backoff}ms`);
            await sleep(backoff);
            backoff = Math.min(backoff * 2, opts.maxBackoffMs);
        }
    }
    return { url, healthy: false, attempts: opts.attempts, last };
}

/** Builds the options from the environment the Pulumi program sets. */
export function optionsFromEnv(env: NodeJS.ProcessEnv): HealthOptions {
    let urls: unknown;
    try {
        urls = JSON.parse(requireEnv(env, "HEALTH_URLS"));
    } catch (err) {
        if (err instanceof HookInputError) throw err;
        throw new HookInputError("environment variable HEALTH_URLS must be a JSON list of URLs");
    }
    if (!Array.isArray(urls) || urls.length === 0 || !urls.every((u) => typeof u === "string" && /^https?:\/\//.test(u))) {
        throw new HookInputError("environment variable HEALTH_URLS must be a non-empty JSON list of http(s) URLs");
    }
    const whole = (name: string, fallback: number) => {
        const v = numberEnv(env, name, fallback);
        if (!Number.isInteger(v)) throw new HookInputError(`environment variable ${name} must be a whole number`);
        return v;
    };
    return {
        urls,
        expectStatus: whole("HEALTH_EXPECT_STATUS", 200),
        attempts: whole("HEALTH_ATTEMPTS", 20),
        requiredSuccesses: whole("HEALTH_REQUIRED_SUCCESSES", 2),
        initialBackoffMs: numberEnv(env, "HEALTH_INITIAL_BACKOFF_SECONDS", 2) * 1000,
        maxBackoffMs: numberEnv(env, "HEALTH_MAX_BACKOFF_SECONDS", 30) * 1000,
        timeoutMs: numberEnv(env, "HEALTH_TIMEOUT_SECONDS", 5) * 1000,
    };
}

if (require.main === module) {
    runHook("health-check", async () => {
        await checkHealth({ ...optionsFromEnv(process.env), log: stderrLogger("health-check") });
    });
}
