/**
 * The `local` stack's sandbox: every server Pulumi.local.yaml names, started on 127.0.0.1 at the addresses the stack
 * file gives (read and validated through the CLI's own loader, so the sandbox and the stack cannot disagree), with the
 * throwaway launchers the tests use (moto.ts, postgres.ts, redis.ts), the Typesense keys-API double, the Cloudflare
 * token-API double, R2's S3 double (its address is passed as ROTATION_R2_ENDPOINT) and a health endpoint; the ECS cluster and services created in moto; PostgreSQL's roles and the
 * Redis ACL user created by the CLI's own `bootstrap --stack local`.
 *
 * What `npm run sandbox` runs (scripts/sandbox.ts) and what test/localStack.test.ts starts, so the suite tests the
 * sandbox an SRE uses. Every credential it makes is random, new at each start, and valid only on these loopback
 * servers, which are deleted when it stops.
 */
import { CreateClusterCommand, CreateServiceCommand, ECSClient, RegisterTaskDefinitionCommand } from "@aws-sdk/client-ecs";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { Server, createServer } from "node:http";
import { join } from "node:path";
import { isLoopbackHost } from "../../rotation/rules";
import { LOCAL_STACK, Settings } from "../../rotation/settings";
import { loadSettings } from "../../automation/stacks";
import { CloudflareTokensDouble, DoubleToken, startCloudflareTokensDouble } from "./cloudflareTokensDouble";
import { TypesenseKeysStore, typesenseKeysHandler } from "./emulator/typesenseKeysDouble";
import { MOTO_RUNNING_TASKS, Moto, startMoto } from "./moto";
import { Postgres, startPostgres } from "./postgres";
import { R2KeyGrant, startR2S3Double } from "./r2S3Double";
import { RedisServer, startRedis } from "./redis";

const ROOT = join(__dirname, "..", "..");

/** moto's static credentials: it accepts any, and these open nothing anywhere else. */
const MOTO_CREDENTIALS = { AWS_ACCESS_KEY_ID: "testing", AWS_SECRET_ACCESS_KEY: "testing" };

export interface LocalSandbox {
    readonly settings: Settings;
    /**
     * What a `pulumi up` / `secrets-rotation ... --stack local` needs in its environment: the appliers' admin
     * credentials for these servers and moto's credentials. Secrets, but of throwaway loopback servers only.
     */
    readonly env: Readonly<Record<string, string>>;
    readonly moto: Moto;
    readonly pg: Postgres;
    readonly redis: RedisServer;
    readonly typesense: TypesenseKeysStore;
    readonly cloudflare: CloudflareTokensDouble;
    /** What the health endpoint answers from now on (default 200). */
    setHealthStatus(status: number): void;
    stop(): Promise<void>;
}

export interface LocalSandboxOptions {
    /** Progress lines (default: none). */
    readonly log?: (line: string) => void;
    /** Environment of the `bootstrap` run besides the admin credentials (e.g. ROTATION_AUDIT_FILE). */
    readonly env?: NodeJS.ProcessEnv;
}

function portOf(url: string): number {
    const u = new URL(url);
    return Number(u.port || (u.protocol === "https:" ? 443 : 80));
}

function listen(server: Server, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
        server.once("error", (err) => reject(new Error(`127.0.0.1:${port} (from Pulumi.${LOCAL_STACK}.yaml) is not free: ${(err as Error).message}`)));
        server.listen(port, "127.0.0.1", resolve);
    });
}

/** Runs `secrets-rotation bootstrap --stack local` (the CLI itself) with the admin credentials in its environment. */
function bootstrap(env: NodeJS.ProcessEnv): Promise<void> {
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [join(ROOT, "bin", "secrets-rotation.js"), "bootstrap", "--stack", LOCAL_STACK], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        child.stdout.on("data", (d) => (out += d));
        child.stderr.on("data", (d) => (out += d));
        child.on("error", reject);
        child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`secrets-rotation bootstrap --stack ${LOCAL_STACK} exited with ${code}: ${out.trim()}`))));
    });
}

export async function startLocalSandbox(opts: LocalSandboxOptions = {}): Promise<LocalSandbox> {
    const log = opts.log ?? (() => undefined);
    // The stack file as the program will read it (no environment overrides), every address loopback-checked.
    const settings = loadSettings(LOCAL_STACK, {});
    const awsEndpoint = settings.aws.endpoint!;
    const stops: (() => Promise<void>)[] = [];
    const stop = async () => {
        for (const s of stops.splice(0).reverse()) await s().catch(() => undefined);
    };
    try {
        const [moto, pg, redis] = await Promise.all([
            startMoto({ port: portOf(awsEndpoint) }).then((m) => (stops.push(() => m.stop()), m)),
            startPostgres({ port: settings.database.port }).then((p) => (stops.push(() => p.stop()), p)),
            startRedis([], settings.redis.port).then((r) => (stops.push(() => r.stop()), r)),
        ]);
        log(`moto (Secrets Manager, ECS, STS) on ${moto.endpoint}; PostgreSQL on 127.0.0.1:${pg.port}; Redis on 127.0.0.1:${settings.redis.port}`);

        const typesense: TypesenseKeysStore = {
            keys: [],
            nextId: 1,
            requests: [],
            adminKey: randomBytes(24).toString("hex"),
            collections: [...new Set(settings.typesense.collections.filter((c) => c !== "*"))],
            propagationMs: 0,
        };
        const typesenseServer = createServer(typesenseKeysHandler(typesense));
        await listen(typesenseServer, portOf(settings.typesense.url));
        stops.push(() => new Promise((r) => typesenseServer.close(() => r())));
        log(`Typesense keys-API double on ${settings.typesense.url}`);

        const cloudflare = await startCloudflareTokensDouble(randomBytes(20).toString("hex"), portOf(settings.r2.apiBaseUrl!));
        stops.push(() => cloudflare.stop());
        log(`Cloudflare token-API double on ${cloudflare.baseUrl}`);

        // R2's S3 endpoint for the R2 probe (hooks/r2Probe.ts): a key is a token the Cloudflare double issued, its
        // secret the SHA-256 of the token's value, scoped to the buckets and access its policies grant.
        const r2 = await startR2S3Double({ keys: (id) => grantOf(cloudflare.tokens().find((t) => t.id === id)), buckets: settings.r2.buckets });
        stops.push(() => r2.stop());
        log(`R2 S3 double on ${r2.endpoint}`);

        let healthStatus = 200;
        for (const port of [...new Set(settings.health.urls.map(portOf))]) {
            const health = createServer((_, res) => {
                res.statusCode = healthStatus;
                res.end(healthStatus === 200 ? "ok" : "unhealthy");
            });
            await listen(health, port);
            stops.push(() => new Promise((r) => health.close(() => r())));
        }
        log(`health endpoint: ${settings.health.urls.join(", ")}`);

        // The ECS cluster and services the stack restarts; moto reports MOTO_RUNNING_TASKS running tasks for each.
        const ecs = new ECSClient({ region: settings.aws.region, endpoint: awsEndpoint, credentials: { accessKeyId: "testing", secretAccessKey: "testing" } });
        try {
            if (settings.ecs) {
                await ecs.send(new CreateClusterCommand({ clusterName: settings.ecs.cluster }));
                await ecs.send(new RegisterTaskDefinitionCommand({ family: "buywhere-api", containerDefinitions: [{ name: "api", image: "buywhere/api:local", memory: 512 }] }));
                for (const s of settings.ecs.services) {
                    await ecs.send(new CreateServiceCommand({ cluster: settings.ecs.cluster, serviceName: s.name, taskDefinition: "buywhere-api", desiredCount: MOTO_RUNNING_TASKS }));
                }
                log(`ECS cluster ${settings.ecs.cluster} with services ${settings.ecs.services.map((s) => s.name).join(", ")}`);
            }
        } finally {
            ecs.destroy();
        }

        const env: Record<string, string> = {
            ...MOTO_CREDENTIALS,
            ROTATION_PG_ADMIN_URL: pg.adminUrl,
            ROTATION_REDIS_ADMIN_URL: redis.adminUrl,
            ROTATION_TYPESENSE_ADMIN_KEY: typesense.adminKey,
            CLOUDFLARE_API_TOKEN: cloudflare.adminToken,
            ROTATION_R2_ENDPOINT: r2.endpoint,
        };
        await bootstrap({ ...process.env, ...opts.env, ...env });
        log(`bootstrap --stack ${LOCAL_STACK}: PostgreSQL roles and the Redis ACL user are in place`);

        return {
            settings,
            env,
            moto,
            pg,
            redis,
            typesense,
            cloudflare,
            setHealthStatus(status) {
                healthStatus = status;
            },
            stop,
        };
    } catch (err) {
        await stop();
        throw err;
    }
}

/** "Workers R2 Storage Bucket Item Write" (cloudflare/cloudflare-docs src/content/docs/r2/api/tokens.mdx). */
const R2_ITEM_WRITE = "2efd5506f9c8494dacb1fa10a3e7d5b6";

/**
 * What an R2 key may do, from its token's policies as the Cloudflare API takes them (`permission_groups`, `resources`
 * naming `com.cloudflare.edge.r2.bucket.<account>_<jurisdiction>_<bucket>`; the provider's inputs spell the first
 * `permissionGroups` and may hold `resources` JSON-encoded).
 */
function grantOf(token: DoubleToken | undefined): R2KeyGrant | undefined {
    if (token === undefined || token.status !== "active") return undefined;
    const buckets = new Set<string>();
    let write = false;
    for (const p of (token.policies as Record<string, any>[]) ?? []) {
        if (p.effect !== "allow") continue;
        const groups = (p.permission_groups ?? p.permissionGroups ?? []) as { id: string }[];
        write ||= groups.some((g) => g.id === R2_ITEM_WRITE);
        const resources = (typeof p.resources === "string" ? JSON.parse(p.resources) : p.resources) as Record<string, string>;
        for (const r of Object.keys(resources ?? {})) {
            const m = /^com\.cloudflare\.edge\.r2\.bucket\.[0-9a-f]{32}_[a-z]+_(.+)$/.exec(r);
            if (m) buckets.add(m[1]);
        }
    }
    return { secretAccessKey: token.valueSha256, buckets: [...buckets], write };
}

/**
 * The sandbox's variables as shell `export` lines (single-quoted). Printing credentials is acceptable here only
 * because each belongs to a throwaway server on this machine: a URL value that names any other host is refused.
 */
export function exportLines(env: Readonly<Record<string, string>>): string {
    for (const [name, value] of Object.entries(env)) {
        let host: string | undefined;
        try {
            host = new URL(value).hostname;
        } catch {
            host = undefined; // not a URL: a key or token of the sandbox's doubles, or moto's static credentials
        }
        if (host !== undefined && /^[a-z][a-z0-9+.-]*:\/\//i.test(value) && !isLoopbackHost(host)) {
            throw new Error(`refusing to print ${name}: it names ${JSON.stringify(host)}, not a loopback server of the sandbox`);
        }
    }
    return Object.entries(env)
        .map(([k, v]) => `export ${k}='${v.replace(/'/g, `'\\''`)}'`)
        .join("\n");
}
