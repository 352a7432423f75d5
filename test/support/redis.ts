/**
 * A real, throwaway Redis server for tests (redis-server on a free port on 127.0.0.1, no persistence), whose
 * `default` user is the admin; or an external one from REDIS_TEST_URL (an admin redis:// URL).
 */
import { ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Redis from "ioredis";
import { freePort, waitFor } from "./ports";

/** Stops a server process started here (SIGTERM, waiting for its exit) and removes its directory. */
export async function stopServer(child: ChildProcess, dir: string): Promise<void> {
    child.removeAllListeners("exit");
    if (child.exitCode === null) {
        const gone = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await gone;
    }
    rmSync(dir, { recursive: true, force: true });
}

export interface RedisServer {
    readonly adminUrl: string;
    stop(): Promise<void>;
}

/**
 * @param extraConfig lines appended to the server's config file (e.g. `rename-command ACL ""`).
 * @param port a fixed port (the sandbox's, from Pulumi.local.yaml): always a server of its own, never REDIS_TEST_URL's.
 */
export async function startRedis(extraConfig: readonly string[] = [], port?: number): Promise<RedisServer> {
    const external = process.env.REDIS_TEST_URL;
    if (external && extraConfig.length === 0 && port === undefined) return { adminUrl: external, stop: async () => undefined };
    const dir = mkdtempSync(join(tmpdir(), "rotation-redis-"));
    port ??= await freePort();
    const password = randomBytes(12).toString("hex");
    writeFileSync(
        join(dir, "redis.conf"),
        [`port ${port}`, "bind 127.0.0.1", `dir ${dir}`, 'save ""', "appendonly no", `requirepass ${password}`, ...extraConfig].join("\n") + "\n",
        { mode: 0o600 },
    );
    const child: ChildProcess = spawn("redis-server", [join(dir, "redis.conf")], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr?.on("data", (d) => (stderr += d));
    const adminUrl = `redis://default:${password}@127.0.0.1:${port}/0`;
    const exited = new Promise<never>((_, reject) => child.once("exit", (code) => reject(new Error(`redis-server exited with ${code}: ${stderr}`))));
    await Promise.race([
        exited,
        waitFor("redis-server", async () => {
            const r = new Redis({ port, host: "127.0.0.1", password, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
            r.on("error", () => undefined);
            try {
                await r.connect();
                return (await r.ping()) === "PONG";
            } finally {
                r.disconnect();
            }
        }),
    ]);
    return {
        adminUrl,
        stop: () => stopServer(child, dir),
    };
}
