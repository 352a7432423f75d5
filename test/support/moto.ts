/**
 * A real moto server (the AWS API emulator) for tests: started on a free port on 127.0.0.1 and stopped after, or
 * an external one from MOTO_ENDPOINT (e.g. a docker-compose service; start it with MOTO_ECS_SERVICE_RUNNING=2 so
 * that ECS services report running tasks).
 */
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { ChildProcess, spawn } from "node:child_process";
import { freePort, waitFor } from "./ports";

export interface Moto {
    readonly endpoint: string;
    /** Environment that points AWS SDK v3 clients and our hooks at this server. */
    readonly env: Record<string, string>;
    stop(): Promise<void>;
}

/** A Secrets Manager client on this moto (region ap-southeast-1, moto's test credentials). */
export function secretsManagerOn(moto: Moto, region = "ap-southeast-1"): SecretsManagerClient {
    return new SecretsManagerClient({ region, endpoint: moto.endpoint, credentials: { accessKeyId: "testing", secretAccessKey: "testing" } });
}

/** The number of running tasks moto reports for every ECS service it creates. */
export const MOTO_RUNNING_TASKS = 2;

/** @param opts.port a fixed port (the sandbox's, from Pulumi.local.yaml): always a server of its own, never MOTO_ENDPOINT's. */
export async function startMoto(opts: { port?: number } = {}): Promise<Moto> {
    const external = opts.port === undefined ? process.env.MOTO_ENDPOINT : undefined;
    let child: ChildProcess | undefined;
    let endpoint: string;
    if (external) {
        endpoint = external.replace(/\/$/, "");
    } else {
        const port = opts.port ?? (await freePort());
        endpoint = `http://127.0.0.1:${port}`;
        child = spawn("moto_server", ["-H", "127.0.0.1", "-p", String(port)], {
            env: { ...process.env, MOTO_ECS_SERVICE_RUNNING: String(MOTO_RUNNING_TASKS) },
            stdio: ["ignore", "ignore", "pipe"],
        });
        let stderr = "";
        child.stderr?.on("data", (d) => (stderr = (stderr + String(d)).slice(-2000)));
        const exited = new Promise<never>((_, reject) =>
            child!.once("exit", (code) => reject(new Error(`moto_server exited with ${code}: ${stderr}`))),
        );
        await Promise.race([exited, waitFor("moto_server", async () => (await fetch(`${endpoint}/moto-api/`)).ok)]);
    }
    const env = {
        AWS_ENDPOINT_URL: endpoint,
        // A non-local stack may be pointed at a local AWS endpoint only when this names it (rotation/settings.ts).
        ROTATION_ALLOW_AWS_ENDPOINT: endpoint,
        AWS_ACCESS_KEY_ID: "testing",
        AWS_SECRET_ACCESS_KEY: "testing",
        AWS_REGION: "ap-southeast-1",
    };
    return {
        endpoint,
        env,
        async stop() {
            if (child && child.exitCode === null) {
                child.removeAllListeners("exit");
                const gone = new Promise((r) => child!.once("exit", r));
                child.kill("SIGTERM");
                await gone;
            }
        },
    };
}
