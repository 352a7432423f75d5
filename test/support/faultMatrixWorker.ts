/**
 * A worker process of the fault-injection matrix: runs one shard of one part (test/support/faultMatrix.ts
 * runShard) in a world of its own, and reports to its parent (test/support/faultMatrixSuite.ts) over IPC. Separate
 * processes because the engine emulator runs one update at a time per process (the Pulumi runtime is
 * process-global), and most of a scenario's time is spent waiting on hooks and servers.
 *
 * Started as `node --import tsx test/support/faultMatrixWorker.ts` with FAULT_WORKER={"part":...,"shard":i,"shards":n}.
 */
import { MatrixPart, ShardMessage, runShard } from "./faultMatrix";
import { startRotationWorld } from "./rotationWorld";

async function main(): Promise<void> {
    const { part, shard, shards } = JSON.parse(process.env.FAULT_WORKER ?? "") as { part: MatrixPart; shard: number; shards: number };
    const send = (m: ShardMessage) => process.send!(m);
    const world = await startRotationWorld();
    // Told to stop (the parent gave up on it): stop the servers this world started, then exit.
    process.once("SIGTERM", () => {
        void world.stop().finally(() => process.exit(143));
    });
    try {
        await runShard(part, shard, shards, send, world);
    } finally {
        await world.stop();
    }
}

main().then(
    () => process.disconnect?.(),
    (err: unknown) => {
        process.stderr.write(`fault-matrix worker failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
        process.exitCode = 1;
        process.disconnect?.();
    },
);
