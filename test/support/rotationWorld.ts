/**
 * A world for the real rotation program under the ENGINE EMULATOR (test/support/engineEmulator.ts; it is not
 * Pulumi): a real moto (Secrets Manager, ECS), PostgreSQL 15 and Redis started here (127.0.0.1 only), the Typesense
 * keys-API double, a local health endpoint, the ECS cluster and services, and the emulated Kubernetes cluster with
 * the namespace, the Secret (kubectl-made) and the Deployments — and the staging stack file pointed at them by config
 * overrides. What test/engineEmulator.test.ts, test/faultInjection.*.test.ts and benchmarks start from.
 *
 *     const world = await startRotationWorld({ deployments: 10, rolloutDelayMs: 200 });
 *     await world.up("first deployment", { now });
 *     await world.up("rotate-all", { now, request: { rotate: { groups: [...GROUPS], scheduled: true } } });
 *     await world.stop();
 */
import { CreateClusterCommand, CreateServiceCommand, DescribeServicesCommand, ECSClient, ListTagsForResourceCommand, RegisterTaskDefinitionCommand } from "@aws-sdk/client-ecs";
import { CreateSecretCommand, DeleteSecretCommand, GetSecretValueCommand, ListSecretsCommand, PutSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { mkdtempSync, rmSync } from "node:fs";
import { Server, createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TRIGGER_TAG } from "../../hooks/ecsRedeploy";
import { Group } from "../../rotation/catalog";
import { REQUEST_ENV, RotationRequest, encodeRequest } from "../../rotation/request";
import { EngineEmulator, KubernetesBehaviour, PreviewResult, RunOptions, UpdateResult } from "./engineEmulator";
import { TypesenseKeysDouble, startTypesenseKeysDouble } from "./emulator/typesenseKeysDouble";
import { MOTO_RUNNING_TASKS, Moto, startMoto } from "./moto";
import { Postgres, startPostgres } from "./postgres";
import { RedisServer, startRedis } from "./redis";
import { postgresAccepts, redisAccepts } from "./logins";
import { R2KeyGrant, R2S3Double, startR2S3Double } from "./r2S3Double";

const ROOT = join(__dirname, "..", "..");

/** The stack the world runs (its stack file is the real Pulumi.staging.yaml, with the overrides below). */
export const STACK = "staging";
/** The kubeconfig context of the staging stack file: the emulated cluster's name. */
export const CONTEXT = "buywhere-staging";
export const NAMESPACE = "staging";
export const SECRET_NAME = "buywhere-secrets";
export const AWS_PREFIX = "buywhere/staging/";
/** The seed's ten secrets: they exist before the first deployment (adopted); the other three are created. */
export const SEED_SECRETS = ["POSTGRES_PASSWORD", "DATABASE_URL", "DATABASE_REPLICA_URL", "PGBOUNCER_URL", "REDIS_URL", "JWT_SECRET_KEY", "BUYWHERE_API_KEY", "R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY", "TYPESENSE_API_KEY"];

export interface ConsumerSpec {
    readonly name: string;
    readonly consumes?: readonly Group[];
}

/** The staging stack file's Deployments (`rotation:kubernetes.deployments`). */
const STAGING_DEPLOYMENTS: readonly ConsumerSpec[] = [{ name: "buywhere-api" }, { name: "buywhere-search-indexer", consumes: ["database", "typesense"] }];
/** The ECS services the world's config names (as in the staging stack file). */
const STAGING_SERVICES: readonly ConsumerSpec[] = [{ name: "buywhere-api-staging" }, { name: "buywhere-worker-staging", consumes: ["database", "redis", "r2", "typesense"] }];

export interface RotationWorldOptions {
    /**
     * Kubernetes Deployments in namespace `staging`: a count (the staging stack file's two first, then
     * `buywhere-consumer-<i>` consuming every group) or explicit specs. Default: the stack file's two.
     */
    readonly deployments?: number | readonly ConsumerSpec[];
    /** ECS services in cluster `buywhere-api`: a count (`buywhere-service-<i>-staging`) or specs. Default: the stack file's two. */
    readonly ecsServices?: number | readonly ConsumerSpec[];
    /**
     * Simulated rollout time of each Deployment (the emulator's `KubernetesBehaviour.rollouts[].delayMs`): one value
     * for all, or per Deployment name (others 0).
     */
    readonly rolloutDelayMs?: number | Readonly<Record<string, number>>;
    /** Further Kubernetes behaviour for every run (e.g. `awaitTimeoutMs`). */
    readonly kubernetes?: KubernetesBehaviour;
    /** ECS redeploy wait bounds (`rotation:ecs.stableTimeoutSeconds` / `pollSeconds`). Default 30 / 1. */
    readonly ecsStableTimeoutSeconds?: number;
    readonly ecsPollSeconds?: number;
    /** Stream the program's and the commands' output to stderr. */
    readonly echo?: boolean;
}

export interface WorldRunOptions extends RunOptions {
    /** The CLI's request (`ROTATION_REQUEST`); absent: a raw `pulumi up` (no request). Wins over `env.ROTATION_REQUEST`. */
    readonly request?: RotationRequest;
}

export interface RotationWorld {
    /** The engine emulator of the current stack (a new one after {@link RotationWorld.freshStack}). */
    readonly emu: EngineEmulator;
    /** The environment of every emulated `pulumi up`: moto's endpoint and the admin credentials of the appliers. */
    readonly env: NodeJS.ProcessEnv;
    /** Config overrides of the staging stack file (local servers, short timeouts, the consumers). */
    readonly config: Record<string, unknown>;
    readonly moto: Moto;
    readonly pg: Postgres;
    readonly redis: RedisServer;
    readonly typesense: TypesenseKeysDouble;
    /** R2S3Double: the R2 probe's S3 endpoint, answering for the Cloudflare token double's active tokens. */
    readonly r2: R2S3Double;
    /** Tokens issued from now on are refused for this long after their issue, as ones that have not propagated (default 0). */
    setR2PropagationMs(ms: number): void;
    readonly health: Server;
    readonly healthUrl: string;
    readonly sm: SecretsManagerClient;
    readonly ecs: ECSClient;
    /** Deployment names (namespace `staging`) and ECS service names, as configured. */
    readonly deployments: readonly string[];
    readonly ecsServices: readonly string[];
    /** Wall time of each labelled `up`. */
    readonly timings: Record<string, number>;
    /** `pulumi up` of the staging stack with the world's config (plus `opts.config`) and environment (plus the request). */
    up(label: string, opts?: WorldRunOptions): Promise<UpdateResult>;
    preview(opts?: Omit<WorldRunOptions, "failAt" | "interruptAfter">): Promise<PreviewResult>;
    /** The Kubernetes Secret's data, decoded. */
    k8sSecret(): Record<string, string>;
    /** AWSCURRENT of `<prefix><name>`. */
    awsCurrent(name: string): Promise<string>;
    /** A real PostgreSQL login with the URL's user and password (the URL's host is only composed; the world's server is dialled). */
    canLogIn(url: string): Promise<boolean>;
    /** A real Redis AUTH with the URL's user and password. */
    canAuth(redisUrl: string): Promise<boolean>;
    /** The trigger an ECS service was last redeployed for (its `buywhere:rotation-trigger` tag). */
    ecsTrigger(service: string): Promise<string | undefined>;
    /** A Deployment's pod-template `kubectl.kubernetes.io/restartedAt` annotation. */
    restartedAt(deployment: string): string | undefined;
    /** What the health endpoint answers from now on (default 200). */
    setHealthStatus(status: number): void;
    /**
     * Starts over with a stack that was never deployed, on the same servers: a new backend (no state, a new emulated
     * Kubernetes cluster with the seeded namespace, Secret and Deployments, no Cloudflare tokens), and Secrets
     * Manager as the seed left it (the seed's ten secrets hold "seed-value", the program's three are gone).
     * PostgreSQL roles, Redis ACL users, Typesense keys and ECS tags keep what earlier runs gave them.
     */
    freshStack(): Promise<void>;
    stop(): Promise<void>;
}

/** The staging stack file's bucket (`rotation:r2.buckets`). */
const R2_BUCKET = "buywhere-staging-assets";
const R2_ITEM_WRITE = "2efd5506f9c8494dacb1fa10a3e7d5b6";

/** What an active token of the emulator's Cloudflare double may do on R2 (its policy's buckets and permission groups). */
function r2Grant(emu: EngineEmulator | undefined, id: string, propagation: { since: number; ms: number }): R2KeyGrant | undefined {
    const t = emu?.cloudflare.active().find((x) => x.id === id);
    if (!t) return undefined;
    const policies = t.policies as { permissionGroups: { id: string }[]; resources: string }[];
    const buckets = policies.flatMap((p) => Object.keys(JSON.parse(p.resources) as Record<string, string>).map((r) => r.replace(/^com\.cloudflare\.edge\.r2\.bucket\.[0-9a-f]{32}_default_/, "")));
    return { secretAccessKey: t.valueSha256, buckets, activeAt: Date.parse(t.issuedOn) >= propagation.since ? Date.parse(t.issuedOn) + propagation.ms : undefined, write: policies.some((p) => p.permissionGroups.some((g) => g.id === R2_ITEM_WRITE)) };
}

function specs(n: number | readonly ConsumerSpec[] | undefined, staging: readonly ConsumerSpec[], name: (i: number) => string): readonly ConsumerSpec[] {
    if (n === undefined) return staging;
    if (typeof n !== "number") return n;
    return Array.from({ length: n }, (_, i) => staging[i] ?? { name: name(i) });
}

export async function startRotationWorld(opts: RotationWorldOptions = {}): Promise<RotationWorld> {
    const deploymentSpecs = specs(opts.deployments, STAGING_DEPLOYMENTS, (i) => `buywhere-consumer-${i}`);
    const serviceSpecs = specs(opts.ecsServices, STAGING_SERVICES, (i) => `buywhere-service-${i}-staging`);
    const [moto, pg, redis, typesense] = await Promise.all([startMoto(), startPostgres(), startRedis(), startTypesenseKeysDouble("typesense-admin-for-tests")]);
    // R2's S3 endpoint for the R2 probe: a key is what the current emulator's Cloudflare token double issued (id, SHA-256
    // of the value), scoped to the buckets and permission groups of the token's policy; revoked tokens are unknown.
    let emuRef: EngineEmulator | undefined;
    let r2Propagation = { since: 0, ms: 0 };
    const r2 = await startR2S3Double({ buckets: [R2_BUCKET], keys: (id) => r2Grant(emuRef, id, r2Propagation) });
    let healthStatus = 200;
    const health = createServer((_, res) => {
        res.statusCode = healthStatus;
        res.end(healthStatus === 200 ? "ok" : "unhealthy");
    });
    await new Promise<void>((r) => health.listen(0, "127.0.0.1", r));
    const healthUrl = `http://127.0.0.1:${(health.address() as { port: number }).port}/health`;

    const { bootstrapPostgres } = await import("../../hooks/postgresApply");
    const { bootstrapRedisUser } = await import("../../hooks/redisApply");
    await bootstrapPostgres(pg.adminUrl, "buywhere_app", ["buywhere_app_a", "buywhere_app_b"], "buywhere");
    await bootstrapRedisUser(redis.adminUrl, "buywhere-api", ["~*", "&*", "+@all", "-@admin", "-@dangerous"]);

    const aws = { region: "ap-southeast-1", endpoint: moto.endpoint, credentials: { accessKeyId: "testing", secretAccessKey: "testing" } };
    const ecs = new ECSClient(aws);
    await ecs.send(new CreateClusterCommand({ clusterName: "buywhere-api" }));
    await ecs.send(new RegisterTaskDefinitionCommand({ family: "buywhere-api", containerDefinitions: [{ name: "api", image: "buywhere/api:1", memory: 512 }] }));
    for (const s of serviceSpecs) {
        await ecs.send(new CreateServiceCommand({ cluster: "buywhere-api", serviceName: s.name, taskDefinition: "buywhere-api", desiredCount: MOTO_RUNNING_TASKS }));
    }
    const sm = new SecretsManagerClient(aws);
    // The seed's ten secrets exist already; the others are the program's to create.
    for (const name of SEED_SECRETS) await sm.send(new CreateSecretCommand({ Name: `${AWS_PREFIX}${name}`, SecretString: "seed-value" }));

    const env: NodeJS.ProcessEnv = {
        ...process.env,
        ...moto.env,
        ROTATION_PG_ADMIN_URL: pg.adminUrl,
        ROTATION_REDIS_ADMIN_URL: redis.adminUrl,
        ROTATION_TYPESENSE_ADMIN_KEY: typesense.adminKey,
        CLOUDFLARE_API_TOKEN: "cloudflare-admin-for-tests",
        ROTATION_R2_ENDPOINT: r2.endpoint,
        ROTATION_ALLOW_R2_ENDPOINT: r2.endpoint,
    };
    delete env[REQUEST_ENV];
    const withConsumes = (s: ConsumerSpec) => (s.consumes ? { consumes: [...s.consumes] } : {});
    // The staging stack file, pointed at the local servers (hosts in URLs are only composed, never dialled).
    const config: Record<string, unknown> = {
        // A fresh world: nothing uses its secrets yet, so its first deployment may generate every slot (the guard and
        // `adopt` are tested by test/adopt.test.ts, which sets this to false).
        "rotation:firstDeployment": true,
        // Scenarios rotate jwt on demand minutes apart: no minimum interval (test/plan.test.ts tests it).
        "rotation:minInterval": { jwt: "0m" },
        // The world's Redis is a self-run redis-server (ACL SETUSER with the admin URL), not the stack file's
        // ElastiCache (test/elasticacheApply.test.ts covers that kind against a double of its API).
        "rotation:redis": { kind: "acl", host: "buywhere-staging.abc123.ng.0001.apse1.cache.amazonaws.com", port: 6379, user: "buywhere-api", tls: true },
        "rotation:typesense": { url: typesense.url, actions: ["documents:search"], collections: ["products"] },
        // moto's STS answers account 123456789012 (the ECS redeploy hook checks the caller's account).
        "rotation:aws": { accountId: "123456789012", region: "ap-southeast-1", secretPrefix: "buywhere/staging/" },
        "rotation:health": { urls: [healthUrl], attempts: 3, requiredSuccesses: 1, initialBackoffSeconds: 1, maxBackoffSeconds: 1, timeoutSeconds: 2 },
        "rotation:ecs": {
            cluster: "buywhere-api",
            services: serviceSpecs.map((s) => ({ name: s.name, ...withConsumes(s) })),
            stableTimeoutSeconds: opts.ecsStableTimeoutSeconds ?? 30,
            pollSeconds: opts.ecsPollSeconds ?? 1,
        },
    };
    if (opts.deployments !== undefined) {
        config["rotation:kubernetes"] = {
            context: CONTEXT,
            secretName: SECRET_NAME,
            secretMode: "patch",
            namespaces: [NAMESPACE],
            deployments: deploymentSpecs.map((d) => ({ namespace: NAMESPACE, name: d.name, ...withConsumes(d) })),
        };
    }
    const delays = opts.rolloutDelayMs;
    const rollouts =
        delays === undefined
            ? {}
            : typeof delays === "number"
              ? { "*": { delayMs: delays } }
              : Object.fromEntries(Object.entries(delays).map(([name, delayMs]) => [`${NAMESPACE}/${name}`, { delayMs }]));
    const backendDirs: string[] = [];
    const newEmulator = (): EngineEmulator => {
        const backendDir = mkdtempSync(join(tmpdir(), "emu-backend-"));
        backendDirs.push(backendDir);
        const created = new EngineEmulator({
            backendDir,
            projectDir: ROOT,
            awsEndpoint: moto.endpoint,
            env,
            echo: opts.echo,
            kubernetes: { ...opts.kubernetes, rollouts: { ...rollouts, ...opts.kubernetes?.rollouts } },
        });
        // The cluster as it is before the first rotation: the namespace, the Secret (kubectl-made), the Deployments.
        created.kubernetes.createNamespace(CONTEXT, NAMESPACE);
        created.kubernetes.put(CONTEXT, {
            apiVersion: "v1",
            kind: "Secret",
            metadata: { name: SECRET_NAME, namespace: NAMESPACE },
            type: "Opaque",
            data: { SENTRY_DSN: Buffer.from("https://sentry.example/1").toString("base64"), DATABASE_URL: Buffer.from("seed").toString("base64") },
        });
        for (const { name } of deploymentSpecs) {
            created.kubernetes.put(CONTEXT, {
                apiVersion: "apps/v1",
                kind: "Deployment",
                metadata: { name, namespace: NAMESPACE },
                spec: { replicas: 2, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: "app", image: "buywhere/api:1" }] } } },
            });
        }
        return created;
    };
    let emu = newEmulator();
    emuRef = emu;

    const timings: Record<string, number> = {};
    const runEnv = (o: WorldRunOptions): NodeJS.ProcessEnv => {
        const base = { ...(o.env ?? env) };
        if (o.request !== undefined) base[REQUEST_ENV] = encodeRequest(o.request);
        return base;
    };
    const serviceArn = new Map<string, string>();
    return {
        get emu() {
            return emu;
        },
        env,
        config,
        moto,
        pg,
        redis,
        typesense,
        r2,
        setR2PropagationMs(ms) {
            r2Propagation = { since: Date.now(), ms };
        },
        health,
        healthUrl,
        sm,
        ecs,
        deployments: deploymentSpecs.map((d) => d.name),
        ecsServices: serviceSpecs.map((s) => s.name),
        timings,
        async up(label, o = {}) {
            const { request: _r, ...rest } = o;
            const r = await emu.up(STACK, { ...rest, env: runEnv(o), config: { ...config, ...o.config } });
            timings[label] = r.durationMs;
            return r;
        },
        preview(o = {}) {
            const { request: _r, ...rest } = o;
            return emu.preview(STACK, { ...rest, env: runEnv(o), config: { ...config, ...o.config } });
        },
        k8sSecret() {
            const data = (emu.kubernetes.get(CONTEXT, "v1", "Secret", NAMESPACE, SECRET_NAME)?.data ?? {}) as Record<string, string>;
            return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]));
        },
        async awsCurrent(name) {
            return (await sm.send(new GetSecretValueCommand({ SecretId: `${AWS_PREFIX}${name}` }))).SecretString!;
        },
        async canLogIn(url) {
            let u: URL;
            try {
                u = new URL(url);
            } catch {
                return false;
            }
            return postgresAccepts(pg.port, decodeURIComponent(u.username), decodeURIComponent(u.password));
        },
        async canAuth(redisUrl) {
            let u: URL;
            try {
                u = new URL(redisUrl);
            } catch {
                return false;
            }
            return redisAccepts(Number(new URL(redis.adminUrl).port), decodeURIComponent(u.username), decodeURIComponent(u.password));
        },
        async ecsTrigger(service) {
            let arn = serviceArn.get(service);
            if (!arn) {
                arn = (await ecs.send(new DescribeServicesCommand({ cluster: "buywhere-api", services: [service] }))).services?.[0]?.serviceArn;
                if (!arn) throw new Error(`ECS service ${service} not found`);
                serviceArn.set(service, arn);
            }
            const tags = (await ecs.send(new ListTagsForResourceCommand({ resourceArn: arn }))).tags ?? [];
            return tags.find((t) => t.key === TRIGGER_TAG)?.value;
        },
        restartedAt(deployment) {
            return emu.kubernetes.get(CONTEXT, "apps/v1", "Deployment", NAMESPACE, deployment)?.spec?.template?.metadata?.annotations?.["kubectl.kubernetes.io/restartedAt"];
        },
        setHealthStatus(status) {
            healthStatus = status;
        },
        async freshStack() {
            emu = newEmulator();
            emuRef = emu;
            const listed = await sm.send(new ListSecretsCommand({ Filters: [{ Key: "name", Values: [AWS_PREFIX] }], MaxResults: 100 }));
            for (const secret of listed.SecretList ?? []) {
                const name = secret.Name!.slice(AWS_PREFIX.length);
                if (SEED_SECRETS.includes(name)) await sm.send(new PutSecretValueCommand({ SecretId: secret.Name!, SecretString: "seed-value" }));
                else await sm.send(new DeleteSecretCommand({ SecretId: secret.Name!, ForceDeleteWithoutRecovery: true }));
            }
        },
        async stop() {
            sm.destroy();
            ecs.destroy();
            await new Promise((r) => health.close(r));
            await Promise.all([moto.stop(), pg.stop(), redis.stop(), typesense.stop(), r2.stop()]);
            for (const dir of backendDirs) rmSync(dir, { recursive: true, force: true });
        },
    };
}
