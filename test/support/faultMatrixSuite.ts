/**
 * The vitest suite of one part of the fault-injection matrix (test/faultInjection.*.test.ts). The scenarios and the
 * invariants are in test/support/faultMatrix.ts; they run in worker processes (test/support/faultMatrixWorker.ts),
 * `FAULT_SHARDS` of them per part (default: 2, or 1 on a single CPU), each with its own world, each taking every
 * n-th failure point: the engine emulator runs one update at a time per process, and a scenario mostly waits.
 *
 * Environment: FAULT_POINTS (a regular expression) runs only the failure points whose id matches; FAULT_SHARDS.
 */
import { ChildProcess, fork } from "node:child_process";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FailurePoint, MatrixPart, Outcome, RECOVERIES, Recovery, ShardMessage, formatMatrix } from "./faultMatrix";

export interface MatrixFileOptions extends Omit<MatrixPart, "filter"> {
    /** Title of this part of the matrix (FAULT-MATRIX <title>). */
    readonly title: string;
    /** At least this many failure points must be enumerated (guards against an enumeration that finds nothing). */
    readonly atLeast: number;
    /**
     * Cells (`<failure point> x <recovery>`) whose violation is a reported defect of the program, not fixed here: the
     * test asserts that every violation of the cell matches the pattern, and fails once the cell is ok — then remove
     * the entry. Any other violation fails as usual.
     */
    readonly knownDefects?: Readonly<Record<string, { readonly violation: RegExp; readonly reported: string }>>;
}

/** One scenario's bound (a failed run and a recovery, each under 30 s here) plus the lag one shard may build up on another. */
const SCENARIO_TIMEOUT_MS = 600_000;

interface Shard {
    readonly child: ChildProcess;
    readonly points: Promise<{ enumerated: number; points: readonly FailurePoint[] }>;
    outcome(point: string, recovery: Recovery): Promise<Outcome>;
    readonly done: Promise<number>;
    stderr(): string;
}

function startShard(part: MatrixPart, shard: number, shards: number): Shard {
    const child = fork(join(__dirname, "faultMatrixWorker.ts"), [], {
        execArgv: ["--import", "tsx"],
        env: { ...process.env, FAULT_WORKER: JSON.stringify({ part, shard, shards }) },
        stdio: ["ignore", "ignore", "pipe", "ipc"],
    });
    let err = "";
    child.stderr?.on("data", (d) => (err = (err + String(d)).slice(-8000)));
    const waiting = new Map<string, { resolve: (o: Outcome) => void; reject: (e: Error) => void }>();
    const arrived = new Map<string, Outcome>();
    let resolvePoints!: (p: { enumerated: number; points: readonly FailurePoint[] }) => void;
    let rejectPoints!: (e: Error) => void;
    const points = new Promise<{ enumerated: number; points: readonly FailurePoint[] }>((res, rej) => ((resolvePoints = res), (rejectPoints = rej)));
    let resolveDone!: (ms: number) => void;
    let rejectDone!: (e: Error) => void;
    const done = new Promise<number>((res, rej) => ((resolveDone = res), (rejectDone = rej)));
    done.catch(() => undefined);
    points.catch(() => undefined);
    let finished = false;
    child.on("message", (m: ShardMessage) => {
        if (m.type === "points") resolvePoints({ enumerated: m.enumerated, points: m.points });
        else if (m.type === "outcome") {
            const key = `${m.outcome.point}\u0000${m.outcome.recovery}`;
            const w = waiting.get(key);
            if (w) w.resolve(m.outcome);
            else arrived.set(key, m.outcome);
        } else if (m.type === "done") {
            finished = true;
            resolveDone(m.ms);
        }
    });
    child.on("exit", (code) => {
        const e = new Error(`fault-matrix worker ${shard + 1}/${shards} exited with ${code}${finished ? "" : " before it finished"}:\n${err}`);
        rejectPoints(e);
        if (!finished) rejectDone(e);
        for (const w of waiting.values()) w.reject(e);
        waiting.clear();
    });
    return {
        child,
        points,
        done,
        stderr: () => err,
        outcome(point, recovery) {
            const key = `${point}\u0000${recovery}`;
            const got = arrived.get(key);
            if (got) return Promise.resolve(got);
            if (child.exitCode !== null) return Promise.reject(new Error(`fault-matrix worker ${shard + 1}/${shards} is gone:\n${err}`));
            return new Promise((resolve, reject) => waiting.set(key, { resolve, reject }));
        },
    };
}

/**
 * Defines one file's part of the matrix: starts the worker processes, waits for the failure points they enumerate
 * from their reference run, then one test per failure point and recovery, which waits for its scenario's outcome.
 */
export function defineFaultMatrix(o: MatrixFileOptions): void {
    describe(`fault injection at every resource (engine emulator, not Pulumi): ${o.title}`, async () => {
        const started = Date.now();
        const count = Number(process.env.FAULT_SHARDS) > 0 ? Number(process.env.FAULT_SHARDS) : Math.max(1, Math.min(2, availableParallelism()));
        const part: MatrixPart = { mode: o.mode, kinds: o.kinds, deletes: o.deletes, filter: process.env.FAULT_POINTS };
        const shards = Array.from({ length: count }, (_, i) => startShard(part, i, count));
        const outcomes: Outcome[] = [];
        let points: readonly FailurePoint[] = [];
        afterAll(async () => {
            if (points.length > 0) process.stderr.write(formatMatrix(o.title, points, outcomes));
            process.stderr.write(`FAULT-MATRIX ${o.title} wall time: ${((Date.now() - started) / 1000).toFixed(0)} s with ${count} worker process(es)\n`);
            // A worker stops its world (moto, PostgreSQL, Redis) after its last scenario and then exits: wait for the
            // exit; only a worker that hangs is told to stop (it stops its world on SIGTERM too).
            await Promise.all(
                shards.map(async (s) => {
                    if (s.child.exitCode !== null || s.child.signalCode !== null) return;
                    const gone = new Promise((r) => s.child.once("exit", r));
                    const timer = setTimeout(() => s.child.kill("SIGTERM"), 120_000);
                    await gone;
                    clearTimeout(timer);
                }),
            );
        }, 240_000);

        const enumerations = await Promise.allSettled(shards.map((s) => s.points));
        const first = enumerations.find((e) => e.status === "fulfilled") as PromiseFulfilledResult<{ enumerated: number; points: readonly FailurePoint[] }> | undefined;
        points = first?.value.points ?? [];

        it(`enumerates the failure points from the emulator's record of the run (${o.title})`, () => {
            for (const e of enumerations) if (e.status === "rejected") throw e.reason;
            // Every worker enumerated the same points from its own reference run.
            for (const e of enumerations) expect((e as PromiseFulfilledResult<{ points: readonly FailurePoint[] }>).value.points).toEqual(points);
            expect(first!.value.enumerated).toBeGreaterThanOrEqual(o.atLeast);
        });

        const cases = points.flatMap((p, i) => RECOVERIES.map((r) => [p.id, r, i % count] as const));
        it.each(cases)(
            "%s, then recovery: %s",
            async (point, recovery, shard) => {
                const outcome = await shards[shard].outcome(point, recovery);
                outcomes.push(outcome);
                const known = o.knownDefects?.[`${point} x ${recovery}`];
                if (known) {
                    expect(outcome.violations.length, `known defect no longer reproduces (remove it from knownDefects): ${known.reported}`).toBeGreaterThan(0);
                    for (const v of outcome.violations) expect(v, `known defect: ${known.reported}`).toMatch(known.violation);
                } else {
                    expect(outcome.violations).toEqual([]);
                }
            },
            SCENARIO_TIMEOUT_MS,
        );
    });
}
