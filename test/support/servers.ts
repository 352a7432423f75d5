/**
 * The server fixtures of a test file (test files only: imports vitest). The PostgreSQL + Redis fixture: `useServers()` at the top of a file (or a `describe`) starts both
 * in `beforeAll` and stops them in `afterAll`. Test files only (imports vitest); the servers themselves come from
 * `startServers` in ./fixtures.ts.
 */
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { afterAll, beforeAll } from "vitest";
import { Servers, startServers } from "./fixtures";
import { Moto, secretsManagerOn, startMoto } from "./moto";

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

/**
 * A moto for the enclosing file's (or `describe`'s) tests, started before them and stopped after, with a Secrets
 * Manager client on it. The returned object may be read inside tests and hooks only.
 */
export function useMoto(): { readonly moto: Moto; readonly sm: SecretsManagerClient } {
    let moto: Moto | undefined;
    let sm: SecretsManagerClient | undefined;
    beforeAll(async () => {
        moto = await startMoto();
        sm = secretsManagerOn(moto);
    }, 60_000);
    afterAll(async () => {
        sm?.destroy();
        await moto?.stop();
    });
    const started = <T>(value: T | undefined): T => {
        if (value === undefined) throw new Error("useMoto: moto is not running (read outside a test, or it failed to start)");
        return value;
    };
    return {
        get moto() {
            return started(moto);
        },
        get sm() {
            return started(sm);
        },
    };
}
