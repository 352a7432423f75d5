/**
 * A load harness for zero-downtime proofs. Client loops stand in for pods: each holds the credential it was last
 * "started" with and keeps opening new connections with it. Rotations run back to back in the program's order —
 * generate and apply at source (`rotate`), publish, then a rolling restart in which every client picks up the
 * published credential at a random moment — and every authentication failure is counted.
 */

export type Outcome = "ok" | "auth-failed";

export interface LoadTarget<C> {
    /** One request as a pod makes it: a fresh connection with `creds`, one command. */
    request(creds: C): Promise<Outcome>;
}

export interface RotationStrategy<C> {
    /** Deploys the first credential and returns what is published. */
    initial(): Promise<C>;
    /** Generates and applies the next credential at its source; returns what will be published. */
    rotate(): Promise<C>;
}

export interface LoadOptions {
    readonly clients: number;
    readonly rotations: number;
    /** Rolling restart: each client switches to the published credential within this many ms. */
    readonly rolloutMs: number;
    /** Traffic before each rotation, ms. */
    readonly settleMs: number;
}

export interface LoadResult {
    readonly requests: number;
    readonly failures: number;
    /** Requests made with a credential older than the published one (what pods not yet restarted do). */
    readonly staleRequests: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runLoad<C>(target: LoadTarget<C>, strategy: RotationStrategy<C>, opts: LoadOptions): Promise<LoadResult> {
    let published = await strategy.initial();
    const held: C[] = Array(opts.clients).fill(published);
    let requests = 0;
    let failures = 0;
    let staleRequests = 0;
    let stop = false;
    const loops = held.map(async (_, i) => {
        while (!stop) {
            const creds = held[i];
            if (creds !== published) staleRequests++;
            requests++;
            if ((await target.request(creds)) === "auth-failed") failures++;
        }
    });
    try {
        for (let k = 0; k < opts.rotations; k++) {
            await sleep(opts.settleMs);
            const next = await strategy.rotate(); // generate + apply at source
            published = next; // publish
            await Promise.all(
                held.map(async (_, i) => {
                    await sleep(Math.random() * opts.rolloutMs); // rolling restart: pods switch one by one
                    held[i] = next;
                }),
            );
        }
        await sleep(opts.settleMs); // the health check's window
    } finally {
        stop = true;
        await Promise.all(loops);
    }
    return { requests, failures, staleRequests };
}
