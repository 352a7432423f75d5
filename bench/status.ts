/**
 * `status` over N secrets in moto (started here, one server per N): AWS calls and wall time of our listing
 * (automation/actions/status.ts `listSecretsUnder`: ListSecrets, 100 a page, at most MAX_LIST_PAGES_PER_SECOND
 * pages a second) beside a baseline that calls DescribeSecret once per secret, as a shell rotation script would;
 * same client configuration, same server, side by side.
 *
 * Also printed, to explain the figures rather than to grade them: the same paginator without the client-side
 * throttle (what the throttle costs) and moto's time per ListSecrets page (moto builds the whole filtered list on
 * every page: moto/secretsmanager/models.py `list_secrets`, so its page time grows with N; that is moto's cost, not
 * a property of the listing).
 */
import {
    CreateSecretCommand,
    DescribeSecretCommand,
    SecretsManagerClient,
    paginateListSecrets,
} from "@aws-sdk/client-secrets-manager";
import { MAX_LIST_PAGES_PER_SECOND, listSecretsUnder } from "../automation/actions/status";
import { startMoto } from "../test/support/moto";

const out = (s = "") => process.stdout.write(`${s}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (ms: number) => Math.round(ms).toLocaleString("en-US");

/** Creates at once at most this many secrets (moto is one Python process; more in flight does not help). */
const SETUP_CONCURRENCY = 16;
/** Runs of the listing per N (it is short); the baseline runs once (it is long and steady). */
const LIST_RUNS = 3;

function countingClient(endpoint: string): { client: SecretsManagerClient; calls: () => number } {
    let n = 0;
    const client = new SecretsManagerClient({
        region: "ap-southeast-1",
        endpoint,
        credentials: { accessKeyId: "testing", secretAccessKey: "testing" },
        retryMode: "adaptive",
    });
    client.middlewareStack.add(
        (next) => async (args) => {
            n++;
            return next(args);
        },
        { step: "finalizeRequest", name: "countCalls" },
    );
    return { client, calls: () => n };
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function bounded<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
    let next = 0;
    await Promise.all(
        Array.from({ length: Math.min(limit, items.length) }, async () => {
            while (next < items.length) await fn(items[next++]);
        }),
    );
}

/** The same paginator as `listSecretsUnder`, without its client-side throttle. */
async function listUnthrottled(client: SecretsManagerClient, prefix: string): Promise<{ entries: number; pages: number }> {
    let entries = 0;
    let pages = 0;
    for await (const page of paginateListSecrets({ client, pageSize: 100 }, { Filters: [{ Key: "name", Values: [prefix] }] })) {
        pages++;
        entries += page.SecretList?.length ?? 0;
    }
    return { entries, pages };
}

export interface StatusRow {
    n: number;
    setupMs: number;
    oursCalls: number;
    oursMs: number;
    baseCalls: number;
    baseMs: number;
    unthrottledMs: number;
    pages: number;
}

export async function benchStatus(sizes: readonly number[]): Promise<StatusRow[]> {
    out("## status: AWS calls and wall time over N secrets (moto on 127.0.0.1)");
    out();
    out(
        `Ours: \`listSecretsUnder\` (ListSecrets, 100 a page, at most ${MAX_LIST_PAGES_PER_SECOND} pages a second), median of ${LIST_RUNS} runs. ` +
            `Baseline: DescribeSecret once per secret, one at a time, one run. Setup: CreateSecret x N, ${SETUP_CONCURRENCY} in flight. ` +
            "Goal: calls <= ceil(N/100)+5 at every N; >= 20x faster than the baseline at N = 5,000.",
    );
    out();
    out("| N | setup s | ours: calls | ours: ms | baseline: calls | baseline: ms | speed-up | call goal | goal met | no throttle: ms | no throttle: speed-up | moto ms / page |");
    out("|---|---|---|---|---|---|---|---|---|---|---|---|");
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
    const rows: StatusRow[] = [];
    for (const n of sizes) {
        const moto = await startMoto();
        try {
            const prefix = `buywhere/bench-${n}/`;
            const setup = countingClient(moto.endpoint).client;
            const names = Array.from({ length: n }, (_, i) => `${prefix}SECRET_${String(i).padStart(5, "0")}`);
            let t = performance.now();
            await bounded(names, SETUP_CONCURRENCY, (Name) => setup.send(new CreateSecretCommand({ Name, SecretString: "x" })));
            const setupMs = performance.now() - t;
            setup.destroy();

            // Each measured client is new (its first call pays for connection setup, as a CLI run does).
            const oursRuns: { ms: number; calls: number }[] = [];
            for (let i = 0; i < LIST_RUNS; i++) {
                const ours = countingClient(moto.endpoint);
                t = performance.now();
                const listed = await listSecretsUnder(ours.client, prefix);
                oursRuns.push({ ms: performance.now() - t, calls: ours.calls() });
                ours.client.destroy();
                if (listed.entries.length !== n) throw new Error(`listed ${listed.entries.length} of ${n}`);
            }
            const oursMs = median(oursRuns.map((r) => r.ms));
            const oursCalls = Math.max(...oursRuns.map((r) => r.calls));

            const unthrottledRuns: number[] = [];
            let pages = 0;
            for (let i = 0; i < LIST_RUNS; i++) {
                const c = countingClient(moto.endpoint);
                t = performance.now();
                const listed = await listUnthrottled(c.client, prefix);
                unthrottledRuns.push(performance.now() - t);
                c.client.destroy();
                if (listed.entries !== n) throw new Error(`listed ${listed.entries} of ${n} (unthrottled)`);
                pages = listed.pages;
            }
            const unthrottledMs = median(unthrottledRuns);

            const base = countingClient(moto.endpoint);
            t = performance.now();
            for (const SecretId of names) await base.client.send(new DescribeSecretCommand({ SecretId }));
            const baseMs = performance.now() - t;
            base.client.destroy();

            const row: StatusRow = { n, setupMs, oursCalls, oursMs, baseCalls: base.calls(), baseMs, unthrottledMs, pages };
            rows.push(row);
            const callGoal = Math.ceil(n / 100) + 5;
            const speedup = baseMs / oursMs;
            const callsMet = oursCalls <= callGoal;
            const met = n >= 5000 ? callsMet && speedup >= 20 : callsMet;
            const metText = n >= 5000 ? (met ? "yes" : callsMet ? "calls yes, speed NO" : "NO") : callsMet ? "calls yes" : "NO";
            out(
                `| ${n.toLocaleString("en-US")} | ${(setupMs / 1000).toFixed(1)} | ${oursCalls} | ${fmt(oursMs)} | ${base.calls().toLocaleString("en-US")} | ${fmt(baseMs)} | ` +
                    `${speedup.toFixed(1)}x | ${callGoal} | ${metText} | ${fmt(unthrottledMs)} | ${(baseMs / unthrottledMs).toFixed(1)}x | ${(unthrottledMs / pages).toFixed(1)} |`,
            );
        } finally {
            await moto.stop();
        }
    }
    out();
    return rows;
}
