/**
 * Benchmarks (`npm run bench`; `npm run bench -- --small` for CI's smoke run; `--only=status,coldstart,scale,rotation`
 * for some sections). Scripts that print Markdown tables, never timed tests:
 *
 * 1. status over N secrets in moto (started here; N up to 5,000): AWS calls and wall time of our listing
 *    (ListSecrets, 100 a page) beside a baseline that calls DescribeSecret once per secret, as a shell rotation script
 *    would; same client, same server, side by side (bench/status.ts).
 * 2. CLI cold start: median wall time of `--help`, `plan rotate-all` and `status --help` against a bare `node -e 0`,
 *    and whether each loaded @pulumi/aws.
 * 3. Program scale under Pulumi mocks: namespaces x deployments x ECS services; time to build the resource graph,
 *    resource count, and a check that no restart depends on another restart.
 * 4. A rotation's wall time in the engine emulator with 30 Deployments whose rollouts take 2–6 s (0.2–0.6 s with
 *    --small), against the slowest single rollout, with unbounded and limited `--parallel` (bench/rotation.ts).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { cpus, freemem, loadavg, totalmem, tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, runProgram, stackConfig } from "../test/support/pulumiProgram";
import { benchRotation } from "./rotation";
import { benchStatus } from "./status";

const small = process.argv.includes("--small");
/** `--only=status,coldstart,scale,rotation`: run some sections (default: all). */
const onlyArg = process.argv.find((a) => a.startsWith("--only="))?.slice("--only=".length);
const only = (section: string) => onlyArg === undefined || onlyArg.split(",").includes(section);
const SECTIONS = ["status", "coldstart", "scale", "rotation"];
const out = (s = "") => process.stdout.write(`${s}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function timeRuns(argv: string[], runs: number, env: NodeJS.ProcessEnv = process.env): number {
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
        const t = performance.now();
        const r = spawnSync(process.execPath, argv, { cwd: ROOT, env, stdio: ["ignore", "ignore", "pipe"] });
        times.push(performance.now() - t);
        if (r.status !== 0) throw new Error(`${argv.join(" ")} exited ${r.status}: ${r.stderr}`);
    }
    return median(times);
}

function loadsPulumiAws(args: string[]): boolean {
    const file = join(mkdtempSync(join(tmpdir(), "bench-mods-")), "modules.txt");
    spawnSync(process.execPath, [join(ROOT, "bin", "secrets-rotation.js"), ...args], {
        cwd: ROOT,
        env: { ...process.env, NODE_OPTIONS: `--require ${join(ROOT, "test", "support", "reportModules.cjs")}`, REPORT_MODULES_FILE: file },
        stdio: "ignore",
    });
    return readFileSync(file, "utf8").includes("/@pulumi/aws/");
}

function benchColdStart(): void {
    const runs = small ? 3 : 9;
    out(`## CLI cold start (median of ${runs} runs)`);
    out();
    out("| command | median ms | over bare node | loads @pulumi/aws |");
    out("|---|---|---|---|");
    const bare = timeRuns(["-e", "0"], runs);
    out(`| \`node -e 0\` | ${bare.toFixed(0)} | — | no |`);
    const bin = join(ROOT, "bin", "secrets-rotation.js");
    for (const args of [["--help"], ["plan", "rotate-all", "--stack", "staging"], ["status", "--help"]]) {
        const ms = timeRuns([bin, ...args], runs);
        out(`| \`secrets-rotation ${args.join(" ")}\` | ${ms.toFixed(0)} | +${(ms - bare).toFixed(0)} | ${loadsPulumiAws(args) ? "YES" : "no"} |`);
    }
    out();
}

function scaleConfig(namespaces: number, deployments: number, services: number): Record<string, unknown> {
    const base = stackConfig("staging");
    const ns = Array.from({ length: namespaces }, (_, i) => `ns-${i}`);
    return {
        "rotation:kubernetes": {
            ...(base["rotation:kubernetes"] as object),
            namespaces: ns,
            deployments: Array.from({ length: deployments }, (_, i) => ({ namespace: ns[i % namespaces], name: `app-${i}` })),
        },
        "rotation:ecs": { ...(base["rotation:ecs"] as object), services: Array.from({ length: services }, (_, i) => ({ name: `svc-${i}` })) },
    };
}

async function benchScale(): Promise<void> {
    out("## Program scale under Pulumi mocks (13 published secrets)");
    out();
    out("| namespaces | deployments | ECS services | resources | build ms | ms per resource | restart->restart edges |");
    out("|---|---|---|---|---|---|---|");
    const combos: [number, number, number][] = [];
    for (const n of small ? [2] : [2, 10, 50]) for (const d of small ? [10] : [10, 100]) for (const s of small ? [5] : [5, 50]) combos.push([n, d, s]);
    await runProgram({ stack: "staging" }); // warm-up: module loading is not graph building
    for (const [n, d, s] of combos) {
        const t = performance.now();
        const run = await runProgram({ stack: "staging", config: scaleConfig(n, d, s) });
        const ms = performance.now() - t;
        const restarts = run.registrations.filter((r) => r.type === "kubernetes:apps/v1:DeploymentPatch" || r.name.endsWith("-redeploy"));
        const restartUrns = new Set(restarts.map((r) => r.urn));
        const edges = restarts.reduce((k, r) => k + r.dependencies.filter((x) => restartUrns.has(x)).length, 0);
        if (restarts.length !== d + s) throw new Error(`expected ${d + s} restarts, found ${restarts.length}`);
        out(`| ${n} | ${d} | ${s} | ${run.registrations.length} | ${ms.toFixed(0)} | ${(ms / run.registrations.length).toFixed(2)} | ${edges} |`);
    }
    out();
}

async function main(): Promise<void> {
    if (!SECTIONS.some(only)) return; // `--only=` names another script's sections (bench/all.ts passes the same arguments)
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true"; // Node 20 here; the SDK's notice is noise in tables
    out(`# Benchmarks${small ? " (smoke: small N)" : ""}`);
    out();
    const load = () => loadavg().map((l) => l.toFixed(1)).join(" ");
    out(
        `Machine: ${cpus().length} x ${cpus()[0]?.model ?? "cpu"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB (${(freemem() / 2 ** 30).toFixed(0)} GiB free), ` +
            `Node ${process.version}, ${new Date().toISOString()}, load average ${load()} (a busy machine slows wall times, never call counts)`,
    );
    out();
    if (only("status")) await benchStatus(small ? [10] : [10, 100, 500, 5000]);
    if (only("coldstart")) benchColdStart();
    if (only("scale")) await benchScale();
    if (only("rotation")) {
        await benchRotation(
            small
                ? { deployments: 30, minDelayMs: 200, maxDelayMs: 600, parallel: [1000, "default"], smoke: true }
                : { deployments: 30, minDelayMs: 2000, maxDelayMs: 6000, parallel: [1000, 32, 16, "default", 4, 1] },
        );
    }
    out(`Finished ${new Date().toISOString()}, load average ${load()}`);
}

main().then(
    () => process.exit(0),
    (err) => {
        process.stderr.write(`bench failed: ${(err as Error).stack ?? err}\n`);
        process.exit(1);
    },
);
