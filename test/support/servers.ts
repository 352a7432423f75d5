/**
 * The PostgreSQL + Redis fixture of a test file: `useServers()` at the top of a file (or a `describe`) starts both
 * in `beforeAll` and stops them in `afterAll`. Test files only (imports vitest); the servers themselves come from
 * `startServers` in ./fixtures.ts.
 */
import { afterAll, beforeAll } from "vitest";
import { Servers, startServers } from "./fixtures";

/**
 * Registers the server pair with the enclosing file's or `describe`'s hooks; `setup` runs once both are up (e.g. to
 * bootstrap roles). The returned object may be read inside tests and hooks only.
 */
export function useServers(setup?: (servers: Servers) => Promise<void>): Servers {
    let started: (Servers & { stop(): Promise<void> }) | undefined;
    beforeAll(async () => {
        started = await startServers();
        await setup?.(started);
    }, 120_000);
    afterAll(async () => started?.stop());
    const get = () => {
        if (started === undefined) throw new Error("useServers: the servers are not running (read outside a test, or they failed to start)");
        return started;
    };
    return {
        get pg() {
            return get().pg;
        },
        get redis() {
            return get().redis;
        },
    };
}
