/**
 * A rotation's wall time in the ENGINE EMULATOR (test/support/engineEmulator.ts; it is not Pulumi, but it runs the
 * real program with its real hooks against moto, PostgreSQL and Redis, and applies steps with `--parallel` workers
 * as the engine's step executor does) with 30 Kubernetes Deployments whose rollouts take a simulated time, against
 * the slowest single rollout.
 *
 * Design. The world (test/support/rotationWorld.ts) has 30 Deployments consuming every group plus the staging stack
 * file's two ECS services (moto's redeploys are fast; one of them consumes jwt). After a first deployment with
 * instant rollouts, each measured run rotates only `jwt` (`rotation:groupStamps.jwt` moved on): jwt has no source
 * applier, so the critical path is generate -> publish (AWS SecretVersions, the K8s SecretPatch) -> every restart
 * -> health check -> outputs. Rollout delays are given per run (`kubernetes.rollouts`), spread evenly over
 * [min, max]: the slowest single rollout is `max`.
 *
 * Per run: the whole update (`durationMs`), the restart phase (first restart's start to last restart's end, from the
 * emulator's operations with their start/end times), how far apart the restarts started, and what came before and
 * after the restarts. The rest of the critical path (generate and publish before the restarts; health check and
 * outputs after) is measured on the same rotation with instant rollouts: its update time minus its restart phase. Runs: workers unbounded (more than steps), the emulator's and
 * Pulumi's default on this machine (4 x CPUs), and fewer, to show what serialising the restarts costs.
 */
import { availableParallelism } from "node:os";
import { Operation, UpdateResult } from "../test/support/engineEmulator";
import { ConsumerSpec, RotationWorld, startRotationWorld } from "../test/support/rotationWorld";

const out = (s = "") => process.stdout.write(`${s}\n`);
const sec = (ms: number) => (ms / 1000).toFixed(2);

export interface RotationBenchOptions {
    readonly deployments: number;
    /** Rollout delays spread evenly from min to max (ms); the slowest rollout is max. */
    readonly minDelayMs: number;
    readonly maxDelayMs: number;
    /** Worker counts to run with (`pulumi up --parallel`); "default" is 4 x CPUs, as Pulumi's own default. */
    readonly parallel: readonly (number | "default")[];
    /** CI's smoke run: rollouts too short for the 10% goal to mean anything; say so instead of judging it. */
    readonly smoke?: boolean;
}

export interface RotationRun {
    readonly label: string;
    readonly parallel: number;
    readonly totalMs: number;
    readonly restartPhaseMs: number;
    readonly restarts: number;
    readonly slowestRestartMs: number;
    readonly slowestRestart: string;
    /** Last restart start minus first restart start: ~0 when every restart started at once. */
    readonly startSpreadMs: number;
    readonly beforeRestartsMs: number;
    readonly afterRestartsMs: number;
}

const isRestart = (o: Operation) => o.type === "kubernetes:apps/v1:DeploymentPatch" || (o.type === "command:local:Command" && o.name.endsWith("-redeploy"));

function measure(label: string, parallel: number, r: UpdateResult, expectedRestarts: number): RotationRun {
    if (r.result !== "succeeded") throw new Error(`${label}: the update ${r.result}: ${r.error ?? ""}`);
    const restarts = r.operations.filter((o) => isRestart(o) && !o.op.startsWith("delete"));
    if (restarts.length !== expectedRestarts) throw new Error(`${label}: expected ${expectedRestarts} restarts, found ${restarts.length}`);
    const first = Math.min(...restarts.map((o) => o.start));
    const last = Math.max(...restarts.map((o) => o.end));
    return {
        label,
        parallel,
        totalMs: r.durationMs,
        restartPhaseMs: last - first,
        restarts: restarts.length,
        slowestRestartMs: Math.max(...restarts.map((o) => o.ms)),
        slowestRestart: restarts.reduce((a, o) => (o.ms > a.ms ? o : a)).name,
        startSpreadMs: Math.max(...restarts.map((o) => o.start)) - first,
        beforeRestartsMs: first,
        afterRestartsMs: r.durationMs - last,
    };
}

export async function benchRotation(opts: RotationBenchOptions): Promise<RotationRun[]> {
    const cpus = availableParallelism();
    const defaultParallel = 4 * cpus;
    const names = Array.from({ length: opts.deployments }, (_, i) => `consumer-${String(i).padStart(2, "0")}`);
    const consumers: ConsumerSpec[] = names.map((name) => ({ name }));
    const delays = Object.fromEntries(
        names.map((name, i) => [`staging/${name}`, { delayMs: Math.round(opts.minDelayMs + ((opts.maxDelayMs - opts.minDelayMs) * i) / Math.max(1, names.length - 1)) }]),
    );
    const instant = Object.fromEntries(names.map((name) => [`staging/${name}`, { delayMs: 0 }]));

    out(`## Rotation wall time in the engine emulator: ${opts.deployments} Deployments, rollouts ${sec(opts.minDelayMs)}–${sec(opts.maxDelayMs)} s`);
    out();
    let t = performance.now();
    const world: RotationWorld = await startRotationWorld({ deployments: consumers });
    const startMs = performance.now() - t;
    const runs: RotationRun[] = [];
    try {
        // The Deployments' and services' restarts on a jwt rotation: every Deployment, and the ECS services that consume jwt.
        const ecsConfig = world.config["rotation:ecs"] as { services: { name: string; consumes?: string[] }[] };
        const restarts = names.length + ecsConfig.services.filter((s) => !s.consumes || s.consumes.includes("jwt")).length;
        const day = new Date("2026-12-03T00:00:00Z");
        t = performance.now();
        const first = await world.up("first deployment", { now: new Date("2026-11-25T12:00:00Z"), parallel: 1000 });
        if (first.result !== "succeeded") throw new Error(`first deployment ${first.result}: ${first.error}`);
        const firstMs = performance.now() - t;

        let hour = 0;
        const rotateJwt = (label: string, parallel: number, rollouts: Record<string, { delayMs: number }>) => {
            hour++;
            const stampHour = String(hour).padStart(2, "0");
            return world
                .up(label, {
                    now: day,
                    parallel,
                    config: { "rotation:groupStamps": { jwt: `2026-12-02T${stampHour}00Z` } },
                    kubernetes: { rollouts },
                })
                .then((r) => measure(label, parallel, r, restarts));
        };
        // A warm-up rotation (modules loaded, connections made), then the rest of the critical path: instant rollouts.
        await rotateJwt("warm-up", 1000, instant);
        const rest = await rotateJwt("instant rollouts", 1000, instant);
        runs.push(rest);
        for (const p of opts.parallel) {
            const parallel = p === "default" ? defaultParallel : p;
            const label = p === "default" ? `--parallel ${parallel} (default: 4 x ${cpus} CPUs)` : parallel >= 1000 ? `--parallel ${parallel} (unbounded here)` : `--parallel ${parallel}`;
            runs.push(await rotateJwt(label, parallel, delays));
        }

        const restMs = rest.beforeRestartsMs + rest.afterRestartsMs;
        out(
            `World: moto, PostgreSQL, Redis, Typesense double started in ${sec(startMs)} s; first deployment (${names.length} Deployments, ` +
                `${ecsConfig.services.length} ECS services, instant rollouts) ${sec(firstMs)} s. Each run rotates jwt only: ${restarts} restarts ` +
                `(${names.length} DeploymentPatches + ${restarts - names.length} ECS redeploy${restarts - names.length === 1 ? "" : "s"}). Slowest configured rollout: ${sec(opts.maxDelayMs)} s ` +
                `(sum of all rollouts ${sec(Object.values(delays).reduce((a, d) => a + d.delayMs, 0))} s). ` +
                `Rest of the critical path: the same rotation with instant rollouts took ${sec(rest.totalMs)} s, of which ${sec(restMs)} s ` +
                `before and after its restarts (its restart phase took ${sec(rest.restartPhaseMs)} s; its slowest restart: ${rest.slowestRestart}, ${sec(rest.slowestRestartMs)} s).`,
        );
        out();
        out("| run | workers | update s | restart phase s | restart phase / slowest rollout | update / (slowest + rest) | update / slowest | restarts started within s | before restarts s | after restarts s |");
        out("|---|---|---|---|---|---|---|---|---|---|");
        for (const r of runs) {
            const delayed = r !== rest;
            const ratio = (x: number) => (delayed ? `${x.toFixed(2)}` : "—");
            out(
                `| ${r.label} | ${r.parallel} | ${sec(r.totalMs)} | ${sec(r.restartPhaseMs)} | ${ratio(r.restartPhaseMs / opts.maxDelayMs)} | ` +
                    `${ratio(r.totalMs / (opts.maxDelayMs + restMs))} | ${ratio(r.totalMs / opts.maxDelayMs)} | ${sec(r.startSpreadMs)} | ${sec(r.beforeRestartsMs)} | ${sec(r.afterRestartsMs)} |`,
            );
        }
        out();
        const unbounded = runs.find((r) => r.parallel >= restarts && r !== rest);
        if (opts.smoke) {
            out("Smoke run: with rollouts this short the fixed overheads dominate; the 10% goal is judged by the full run (2–6 s rollouts).");
            out();
        } else if (unbounded) {
            const phase = unbounded.restartPhaseMs / opts.maxDelayMs;
            const whole = unbounded.totalMs / (opts.maxDelayMs + restMs);
            out(
                `Goal (restarts truly parallel, nothing serial on the critical path: within 10%): with ${unbounded.parallel} workers the restart phase is ` +
                    `${phase.toFixed(2)} x the slowest rollout (${phase <= 1.1 ? "met" : "NOT met"}); the update is ${whole.toFixed(2)} x (slowest rollout + rest of the ` +
                    `critical path) (${whole <= 1.1 ? "met" : "NOT met"}) and ${(unbounded.totalMs / opts.maxDelayMs).toFixed(2)} x the slowest rollout alone.`,
            );
            out();
        }
    } finally {
        await world.stop();
    }
    return runs;
}
