/**
 * Startup benchmarks (`npm run bench` runs this after bench/run.ts; `--small` for CI's smoke run; `--only=programload`
 * or `--only=handover` for one section). Prints Markdown tables.
 *
 * 1. Program load as `pulumi up`/`pulumi preview` does it, to the program's first registered resource: the Pulumi
 *    Node.js language host's own entry (@pulumi/pulumi/cmd/run) with the command line and environment
 *    pulumi-language-nodejs gives it, so ts-node is registered by the SDK's own code with the options it builds from
 *    Pulumi.yaml and tsconfig.json (bench/programLoadChild.cjs says exactly what is the host's and what is mocked).
 *    A fresh process per measurement; median wall time (ms since the process started) and median peak RSS
 *    (process.resourceUsage().maxRSS) at the first registration, for
 *      - the load as shipped: tsconfig.json's "ts-node": { "transpileOnly": true } is in effect (run.js passes
 *        `transpileOnly: undefined` unless PULUMI_NODEJS_TRANSPILE_ONLY or compilerOptions.noCheck is set, and ts-node
 *        merges its tsconfig section under the options passed to it, ignoring undefined ones);
 *      - the type-checking baseline: the same process with PULUMI_NODEJS_TRANSPILE_ONLY=false, which makes run.js
 *        pass `transpileOnly: false` (what every run paid before the tsconfig section existed);
 *      - for reference, plain node requiring the three provider SDKs the program imports, nothing else.
 *    Before timing, one complete run of the program in each mode (under the same mocks) must register the same
 *    resources in the same order: transpile-only must not change the program.
 *    Goal: at most 1.5 s and 300 MB to the first resource.
 * 2. Hand-over: the real CLI (bin/secrets-rotation.js, real Automation API) running `rotate --dry-run
 *    --first-deployment` against the `pulumi` CLI DOUBLE (test/support/pulumiCliDouble.ts, not Pulumi; a file backend
 *    with the stack initialised) behind a wrapper that timestamps every invocation and stops at `pulumi preview`: time
 *    from spawning the CLI to the Automation API starting `pulumi preview`, the part of it spent inside the double's
 *    earlier invocations (`version`, `stack output`), and the rest (the CLI's own work before it hands over). Goal: the
 *    CLI adds at most 0.3 s before handing over to Pulumi (issue 17 item 3).
 */
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { parse } from "yaml";
import { installPulumiDouble } from "../test/support/pulumiCliDouble";

const ROOT = join(__dirname, "..");
const CHILD = join(__dirname, "programLoadChild.cjs");
const small = process.argv.includes("--small");
const onlyArg = process.argv.find((a) => a.startsWith("--only="))?.slice("--only=".length);
const only = (section: string) => onlyArg === undefined || onlyArg.split(",").includes(section);
const out = (s = "") => process.stdout.write(`${s}\n`);
const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const load = () => loadavg().map((l) => l.toFixed(1)).join(" ");
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
/** Wall times are judged on a quiet machine; say so when this one is not. */
const busy = () => (loadavg()[0] > cpus().length * 0.75 ? " (the machine is busy: wall times are inflated, judge the goal on a quiet run)" : "");

/** What pulumi-language-nodejs takes from Pulumi.yaml's runtime options (main.go `parseOptions`). */
interface HostOptions {
    readonly project: string;
    readonly typescript: boolean;
    readonly nodeargs: string[];
    readonly tsconfig?: string;
    readonly main?: string;
}

function hostOptions(): HostOptions {
    const doc = parse(readFileSync(join(ROOT, "Pulumi.yaml"), "utf8")) as {
        name: string;
        main?: string;
        runtime: string | { name: string; options?: { typescript?: boolean; nodeargs?: string; tsconfig?: string } };
    };
    const opts = typeof doc.runtime === "string" ? {} : (doc.runtime.options ?? {});
    return {
        project: doc.name,
        typescript: opts.typescript ?? true, // the language host's default
        // The host splits with shlex; this project's options need no quoting.
        nodeargs: (opts.nodeargs ?? "").split(/\s+/).filter(Boolean),
        tsconfig: opts.tsconfig,
        main: doc.main,
    };
}

/** PULUMI_CONFIG as the language host builds it (main.go `constructConfig`: `<namespace>:config:<name>` -> string). */
function pulumiConfig(stack: string): string {
    const doc = parse(readFileSync(join(ROOT, `Pulumi.${stack}.yaml`), "utf8")) as { config: Record<string, unknown> };
    const config: Record<string, string> = {};
    for (const [key, value] of Object.entries(doc.config)) {
        const i = key.indexOf(":");
        config[`${key.slice(0, i)}:config:${key.slice(i + 1)}`] = typeof value === "string" ? value : JSON.stringify(value);
    }
    return JSON.stringify(config);
}

interface TsNodeSeen {
    readonly version: string;
    readonly transpileOnly: boolean;
    readonly module: number;
    readonly moduleResolution: number;
    readonly target: number;
    readonly configFile: string;
}
interface LoadResult {
    readonly ms: number;
    readonly maxRssKiB: number;
    readonly resource: string;
    readonly tsNode: TsNodeSeen | null;
}
interface FullRun {
    readonly code: number;
    readonly registered: string[];
    readonly tsNode: TsNodeSeen | null;
}

type Mode = "shipped" | "typecheck";

/**
 * One fresh language-host process. The environment is the language host's (PULUMI_CONFIG, PULUMI_CONFIG_SECRET_KEYS,
 * PULUMI_NODEJS_TYPESCRIPT, PULUMI_NODEJS_TSCONFIG_PATH) over a clean PATH/HOME: nothing from this shell (no
 * NODE_OPTIONS loader, no TS_NODE_* or PULUMI_NODEJS_* variable, no stack override) reaches the program.
 */
function runChild<T>(host: HostOptions, mode: Mode, extra: Record<string, string> = {}): T {
    const dir = mkdtempSync(join(tmpdir(), "bench-program-load-"));
    const resultFile = join(dir, "result.json");
    const env: Record<string, string> = {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: process.env.HOME ?? dir,
        PULUMI_CONFIG: pulumiConfig("staging"),
        PULUMI_CONFIG_SECRET_KEYS: "[]",
        ...(host.typescript ? { PULUMI_NODEJS_TYPESCRIPT: "true" } : {}),
        ...(host.tsconfig ? { PULUMI_NODEJS_TSCONFIG_PATH: host.tsconfig } : {}),
        ...(mode === "typecheck" ? { PULUMI_NODEJS_TRANSPILE_ONLY: "false" } : {}),
        PROGRAM_LOAD_RESULT_FILE: resultFile,
        PROGRAM_LOAD_PROJECT: host.project,
        PROGRAM_LOAD_STACK: "staging",
        PROGRAM_LOAD_ENTRY: host.main ?? ".",
        ...extra,
    };
    const r = spawnSync(process.execPath, [...host.nodeargs, CHILD], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"], timeout: 300_000 });
    try {
        if (!existsSync(resultFile)) {
            throw new Error(`the ${mode} load reported nothing (exit ${r.status}, ${r.signal ?? "no signal"}):\n${r.stderr}${r.stdout}`);
        }
        return JSON.parse(readFileSync(resultFile, "utf8")) as T;
    } finally {
        rmSync(dir, { recursive: true, force: true });
    }
}

/** Plain node requiring the provider SDKs the program imports: the floor no loader setting can go under. */
function providersOnly(): { ms: number; maxRssKiB: number } {
    const code =
        'require("@pulumi/aws");require("@pulumi/kubernetes");require("@pulumi/cloudflare");' +
        "process.stdout.write(JSON.stringify({ms:performance.now(),maxRssKiB:process.resourceUsage().maxRSS}))";
    const r = spawnSync(process.execPath, ["-e", code], { cwd: ROOT, env: { PATH: process.env.PATH ?? "" }, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`provider SDKs alone: exit ${r.status}: ${r.stderr}`);
    return JSON.parse(r.stdout) as { ms: number; maxRssKiB: number };
}

const MODULE_KIND: Record<number, string> = { 1: "CommonJS", 199: "NodeNext", 99: "ESNext" };

function benchProgramLoad(): void {
    const host = hostOptions();
    const runs = { shipped: small ? 3 : 7, typecheck: small ? 1 : 5, providers: small ? 3 : 7 };
    out(`## Program load as \`pulumi up\`/\`preview\` runs it, to the first registered resource`);
    out();
    out(
        `Pulumi.yaml: typescript ${host.typescript}${host.nodeargs.length ? `, nodeargs \`${host.nodeargs.join(" ")}\`` : ""}; ` +
            `a fresh language-host process per run (@pulumi/pulumi/cmd/run, mocked monitor), stack staging. Load average ${load()}.`,
    );
    out();

    // Same program either way: both modes run it to the end once (also warms the file cache) and must agree.
    const full = { shipped: runChild<FullRun>(host, "shipped", { PROGRAM_LOAD_ALL: "1" }), typecheck: runChild<FullRun>(host, "typecheck", { PROGRAM_LOAD_ALL: "1" }) };
    for (const mode of ["shipped", "typecheck"] as const) {
        if (full[mode].code !== 0) throw new Error(`the ${mode} run of the whole program exited ${full[mode].code}`);
    }
    if (full.shipped.registered.join("\n") !== full.typecheck.registered.join("\n")) {
        throw new Error("transpile-only and type-checked loads registered different resources");
    }

    const samples: Record<Mode, LoadResult[]> = { shipped: [], typecheck: [] };
    for (let i = 0; i < Math.max(runs.shipped, runs.typecheck); i++) {
        // Interleaved, so a change in the machine's load touches both modes alike.
        if (i < runs.shipped) samples.shipped.push(runChild<LoadResult>(host, "shipped"));
        if (i < runs.typecheck) samples.typecheck.push(runChild<LoadResult>(host, "typecheck"));
    }
    const providers = Array.from({ length: runs.providers }, providersOnly);

    out("| load | ts-node type-checks | runs | median ms to first resource | median peak RSS MB |");
    out("|---|---|---|---|---|");
    const row = (label: string, checks: string, xs: readonly { ms: number; maxRssKiB: number }[]) =>
        out(`| ${label} | ${checks} | ${xs.length} | ${fmt(median(xs.map((x) => x.ms)))} | ${fmt(median(xs.map((x) => x.maxRssKiB)) / 1024)} |`);
    const checks = (xs: readonly LoadResult[]) => {
        const seen = new Set(xs.map((x) => (x.tsNode === null ? "no ts-node" : x.tsNode.transpileOnly ? "no" : "yes")));
        return [...seen].join(" / ");
    };
    row("as shipped (tsconfig.json `\"ts-node\": { \"transpileOnly\": true }`)", checks(samples.shipped), samples.shipped);
    row("baseline: type-checking (`PULUMI_NODEJS_TRANSPILE_ONLY=false`)", checks(samples.typecheck), samples.typecheck);
    row("reference: plain node requiring @pulumi/aws, /kubernetes, /cloudflare only", "—", providers);
    out();

    const ts = samples.shipped[0].tsNode;
    const msShipped = median(samples.shipped.map((x) => x.ms));
    const mbShipped = median(samples.shipped.map((x) => x.maxRssKiB)) / 1024;
    const msCheck = median(samples.typecheck.map((x) => x.ms));
    const mbCheck = median(samples.typecheck.map((x) => x.maxRssKiB)) / 1024;
    out(
        `First resource: \`${samples.shipped[0].resource}\`. ts-node registered by the language host: TypeScript ${ts?.version ?? "?"}, ` +
            `module ${ts ? (MODULE_KIND[ts.module] ?? ts.module) : "?"}, project ${ts ? ts.configFile.replace(`${ROOT}/`, "") : "?"}. ` +
            `A whole run registers ${full.shipped.registered.length} resources, identical in both modes.`,
    );
    out();
    out(
        `Speed-up ${(msCheck / msShipped).toFixed(1)}x, memory ${(mbCheck / mbShipped).toFixed(1)}x less. ` +
            `Goal (<= 1,500 ms and <= 300 MB): ${msShipped <= 1500 && mbShipped <= 300 ? "met" : `NOT met (${fmt(msShipped)} ms, ${fmt(mbShipped)} MB)`}` +
            `; load average now ${load()} on ${cpus().length} CPUs${busy()}.`,
    );
    out();
}

interface Stamp {
    readonly at: number;
    readonly edge: "start" | "end";
    readonly command: string;
}

/**
 * A `pulumi` on PATH: logs `start`/`end` with a millisecond clock around each invocation of the double, and at
 * `preview`/`up` logs `start` and exits without running anything (the hand-over is what is measured).
 */
function stopwatchPulumi(dir: string, double: string): string {
    const bin = join(dir, "bin");
    mkdirSync(bin);
    const exe = join(bin, "pulumi");
    writeFileSync(
        exe,
        [
            "#!/bin/sh",
            `log="${join(dir, "stamps")}"`,
            'echo "$(date +%s%3N) start $1" >> "$log"',
            'case "$1" in preview|up) exit 3 ;; esac',
            `"${double}" "$@"`,
            "rc=$?",
            'echo "$(date +%s%3N) end $1" >> "$log"',
            "exit $rc",
            "",
        ].join("\n"),
    );
    chmodSync(exe, 0o755);
    return bin;
}

async function handoverRun(): Promise<{ toFirstCall: number; first: string; toPreview: number; inDouble: number; calls: number }> {
    const dir = mkdtempSync(join(tmpdir(), "bench-handover-"));
    const backendDir = join(dir, "backend");
    // `pulumi stack init staging` on a file backend: the double answers `stack output` from it ({}, never deployed).
    const { FileBackend } = await import("../test/support/emulator/backend");
    new FileBackend(backendDir, hostOptions().project).save("staging", []);
    const double = installPulumiDouble(backendDir);
    try {
        const bin = stopwatchPulumi(dir, join(double.binDir, "pulumi"));
        const env = {
            ...double.env,
            PATH: `${bin}:${dirname(process.execPath)}:/usr/bin:/bin`,
            HOME: dir,
            ROTATION_AUDIT_FILE: join(dir, "audit.jsonl"),
        };
        // A stack without state is previewed only as a first deployment (or an adopt).
        const args = ["rotate", "--dry-run", "--first-deployment", "--service", "jwt", "--stack", "staging", "--stamp", "2026-11-20T0900Z"];
        const t0 = Date.now();
        const child = spawn(process.execPath, [join(ROOT, "bin", "secrets-rotation.js"), ...args], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
        let stderr = "";
        child.stderr.on("data", (d) => (stderr += d));
        child.stdout.resume();
        const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
        await new Promise((resolve) => child.on("close", resolve));
        clearTimeout(timer);
        const file = join(dir, "stamps");
        const stamps: Stamp[] = existsSync(file)
            ? readFileSync(file, "utf8")
                  .trim()
                  .split("\n")
                  .map((l) => {
                      const [at, edge, command] = l.split(" ");
                      return { at: Number(at), edge: edge as Stamp["edge"], command: command ?? "" };
                  })
            : [];
        const preview = stamps.find((s) => s.edge === "start" && s.command === "preview");
        if (!preview) throw new Error(`rotate --dry-run never started pulumi preview:\n${stderr}`);
        let inDouble = 0;
        const starts = stamps.filter((s) => s.edge === "start" && s !== preview);
        for (const [i, s] of stamps.entries()) {
            if (s.edge !== "start" || s === preview) continue;
            const end = stamps.slice(i + 1).find((e) => e.edge === "end" && e.command === s.command);
            if (end) inDouble += end.at - s.at;
        }
        return { toFirstCall: stamps[0].at - t0, first: stamps[0].command, toPreview: preview.at - t0, inDouble, calls: starts.length };
    } finally {
        double.remove();
        rmSync(dir, { recursive: true, force: true });
    }
}

/** Plain node requiring the Automation API the CLI drives Pulumi with (its `runtime` import loads TypeScript too). */
function automationApiAlone(): number {
    const code = 'require("@pulumi/pulumi/automation");process.stdout.write(String(performance.now()))';
    const r = spawnSync(process.execPath, ["-e", code], { cwd: ROOT, env: { PATH: process.env.PATH ?? "" }, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`Automation API alone: exit ${r.status}: ${r.stderr}`);
    return Number(r.stdout);
}

/** What bin/bundle.js costs: checking the bundle is fresh (every start) and building it (first start, after a change). */
function bundleCosts(): { fresh: number; build: number } {
    const bundle = require("../bin/bundle.js") as { BUNDLE: string; build(root: string, target: string): void; isFresh(root: string, file: string): boolean };
    const dir = mkdtempSync(join(tmpdir(), "bench-bundle-"));
    try {
        let t = performance.now();
        bundle.build(ROOT, join(dir, "cli.cjs"));
        const build = performance.now() - t;
        t = performance.now();
        if (!bundle.isFresh(ROOT, join(dir, "cli.cjs"))) throw new Error("a bundle just built is not fresh");
        return { fresh: performance.now() - t, build };
    } finally {
        rmSync(dir, { recursive: true, force: true });
    }
}

function bareNode(): number {
    const t = Date.now();
    spawnSync(process.execPath, ["-e", "0"], { stdio: "ignore" });
    return Date.now() - t;
}

async function benchHandover(): Promise<void> {
    const runs = small ? 3 : 9;
    out("## Hand-over to Pulumi: `secrets-rotation rotate --dry-run` until the Automation API starts `pulumi preview`");
    out();
    out(
        `Real bin/secrets-rotation.js and Automation API; \`pulumi\` is the pulumi CLI double (test/support/pulumiCliDouble.ts, ` +
            `node with tsx, a file backend) behind a timestamping wrapper. Median of ${runs} runs (wall clock, ms from spawning the CLI). Load average ${load()}.`,
    );
    out();
    await handoverRun(); // warm-up: file cache
    const samples: Awaited<ReturnType<typeof handoverRun>>[] = [];
    const bare: number[] = [];
    const automation: number[] = [];
    for (let i = 0; i < runs; i++) {
        samples.push(await handoverRun());
        bare.push(bareNode());
        automation.push(automationApiAlone());
    }
    const m = (f: (s: (typeof samples)[number]) => number) => median(samples.map(f));
    const own = m((s) => s.toPreview - s.inDouble);
    const nodeStart = median(bare);
    out("| measure | median ms |");
    out("|---|---|");
    out(`| \`node -e 0\` (process start and exit, for scale) | ${fmt(nodeStart)} |`);
    out(`| CLI spawned -> first \`pulumi\` invocation (\`pulumi ${samples[0].first}\`) | ${fmt(m((s) => s.toFirstCall))} |`);
    out(`| CLI spawned -> \`pulumi preview\` started | ${fmt(m((s) => s.toPreview))} |`);
    out(`| of which inside the double's ${samples[0].calls} earlier invocations (\`version\`, \`stack output\`) | ${fmt(m((s) => s.inDouble))} |`);
    out(`| **the CLI's own time before handing over** (preview started - time inside pulumi) | **${fmt(own)}** |`);
    out(`| the same, over bare node start-up | ${fmt(own - nodeStart)} |`);
    out(`| reference: plain node requiring \`@pulumi/pulumi/automation\` with its \`runtime\` index (ms since process start; the CLI defers that index, automation/automationApi.ts) | ${fmt(median(automation))} |`);
    const costs = Array.from({ length: small ? 1 : 5 }, bundleCosts);
    out(`| of the CLI's own time: bin/bundle.js checking that the bundle is fresh (every start) | ${median(costs.map((c) => c.fresh)).toFixed(1)} |`);
    out(`| not in it: building the bundle (first start, and the first after a source changes), ${costs.length} build${costs.length === 1 ? "" : "s"} | ${fmt(median(costs.map((c) => c.build)))} |`);
    out();
    out(`Goal (the CLI adds <= 300 ms before handing over): ${own <= 300 ? "met" : `NOT met (${fmt(own)} ms; ${fmt(own - nodeStart)} ms over bare node)`}; load average now ${load()}${busy()}.`);
    out();
}

async function main(): Promise<void> {
    if (!only("programload") && !only("handover")) return;
    out(`Machine: ${cpus().length} x ${cpus()[0]?.model ?? "cpu"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${new Date().toISOString()}`);
    out();
    if (only("programload")) benchProgramLoad();
    if (only("handover")) await benchHandover();
}

main().then(
    () => process.exit(0),
    (err) => {
        process.stderr.write(`bench (program load) failed: ${(err as Error).stack ?? err}\n`);
        process.exit(1);
    },
);
