/**
 * The stack-file schema: the `rotation:*` keys of a `Pulumi.<stack>.yaml`, parsed and validated in one place,
 * cross-field checks included.
 *
 * The same parser serves the Pulumi program (values from `pulumi.runtime.allConfig()`, objects as JSON strings) and
 * the offline CLI (values read from `Pulumi.<stack>.yaml`). Pure: the environment is passed in, nothing is read here.
 * The first problem found is reported as one line that names the key in backticks and the allowed values.
 */
import { z } from "zod";
import { GROUPS, Group, PROVIDERS, RESTART_SCOPES } from "./catalog";
import { RotationInputError, listAllowed } from "./errors";
import { closedMap, didYouMean, groupMap, int, obj, oneOf, pattern, stamp, toInputError, typeError, unique } from "./schemaKit";
import { AWS_REGION, DNS_LABEL, DNS_SUBDOMAIN, ECS_NAME, HOST, PG_IDENT, REDIS_USER, httpUrlProblem } from "./rules";
import { POLICY_PERIODS, PolicyPeriod } from "./stamp";

/** The config namespace of every key this program reads. */
export const NAMESPACE = "rotation";

/**
 * Environment variables that override the stack file where set (the seed's variables, same defaults).
 * `KUBECONFIG` is not among them: the Kubernetes provider and kubectl read it themselves.
 */
export interface EnvOverrides {
    readonly AWS_REGION?: string;
    readonly ECS_CLUSTER?: string;
    readonly K8S_CONTEXT?: string;
}

// Every secret must stay under `buywhere/` (the IAM policy is scoped to it); segments may not be `.` or `..`.
const SECRET_PREFIX = /^buywhere\/(?:(?!\.{1,2}\/)[A-Za-z0-9_+=.@-]+\/)*$/;

const httpUrl = z.string({ error: typeError("must be an http(s) URL") }).superRefine((v, ctx) => {
    const problem = httpUrlProblem(v);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
});


const consumes = z
    .array(oneOf(GROUPS), { error: `must be a list of groups from ${listAllowed(GROUPS)}` })
    .min(1, { error: "must name at least one group (omit it to consume every group)" })
    .superRefine(unique((g: string) => g, "group"));

// ---------------------------------------------------------------------------------------------------------------
// The schema. Defaults are the seed's where it had one.

const awsSchema = obj({
    /** AWS region of Secrets Manager and ECS. `AWS_REGION` overrides it. */
    region: pattern(AWS_REGION, "an AWS region such as ap-southeast-1").default("ap-southeast-1"),
    /** Prefix of every secret name; must stay under `buywhere/`. */
    secretPrefix: pattern(SECRET_PREFIX, "a prefix under `buywhere/` ending in `/`").default("buywhere/"),
    /**
     * A customer-managed KMS key (id, ARN or alias) that encrypts the secrets the program creates; default: the
     * account's `aws/secretsmanager` key. Existing secrets keep theirs.
     */
    kmsKeyId: pattern(/^(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)\/[A-Za-z0-9/_-]+|alias\/[A-Za-z0-9/_-]+|[0-9a-f-]{36})$/, "a KMS key id, ARN or alias").optional(),
});

const ecsSchema = obj({
    /** ECS cluster name. `ECS_CLUSTER` overrides it. */
    cluster: pattern(ECS_NAME, "an ECS cluster name").default("buywhere-api"),
    services: z
        .array(obj({ name: pattern(ECS_NAME, "an ECS service name"), consumes: consumes.optional() }), {
            error: "must be a list of services",
        })
        .min(1, { error: "must list at least one service (omit `rotation:ecs` for none)" })
        .superRefine(unique((s: { name: string }) => s.name, "service")),
    /** How long a redeploy may take to become stable before the rotation fails. */
    stableTimeoutSeconds: int(30, 3600).default(900),
    pollSeconds: int(1, 60).default(15),
})
    // hooks/ecsRedeploy.ts polls within the bound: a poll as long as the bound would never look twice.
    .superRefine((ecs, ctx) => {
        if (ecs.pollSeconds >= ecs.stableTimeoutSeconds) {
            ctx.addIssue({
                code: "custom",
                path: ["pollSeconds"],
                message: `(${ecs.pollSeconds}) must be less than \`${NAMESPACE}:ecs.stableTimeoutSeconds\` (${ecs.stableTimeoutSeconds})`,
            });
        }
    });

const k8sSchema = obj({
    /** kubeconfig context. `K8S_CONTEXT` overrides it; `KUBECONFIG` selects the file. */
    context: z.string({ error: "must be a kubeconfig context name" }).min(1).optional(),
    /** The Secret (in every namespace) that receives every key. */
    secretName: pattern(DNS_SUBDOMAIN, "a Kubernetes object name").default("buywhere-secrets"),
    /** `patch` (default) updates an existing Secret's keys; `create` makes Pulumi own the whole Secret. */
    secretMode: oneOf(["patch", "create"] as const).default("patch"),
    namespaces: z
        .array(pattern(DNS_LABEL, "a Kubernetes namespace name"), { error: "must be a list of namespaces" })
        .min(1, { error: "must list at least one namespace (omit `rotation:kubernetes` for none)" })
        .superRefine(unique((n: string) => n, "namespace")),
    deployments: z
        .array(
            obj({
                namespace: pattern(DNS_LABEL, "a Kubernetes namespace name"),
                name: pattern(DNS_SUBDOMAIN, "a Deployment name"),
                consumes: consumes.optional(),
            }),
            { error: "must be a list of deployments" },
        )
        .superRefine(unique((d: { namespace: string; name: string }) => `${d.namespace}/${d.name}`, "deployment"))
        .default([]),
    /**
     * How long a Deployment's rollout may take before the run fails (the DeploymentPatch's custom timeouts; the
     * provider's own default is 10 minutes).
     */
    rolloutTimeoutSeconds: int(60, 7200).default(600),
})
    // Every Deployment must live in a namespace whose Secret this program writes.
    .superRefine((k8s, ctx) => {
        k8s.deployments.forEach((d, i) => {
            if (!k8s.namespaces.includes(d.namespace)) {
                ctx.addIssue({
                    code: "custom",
                    path: ["deployments", i, "namespace"],
                    message: `${JSON.stringify(d.namespace)} is not one of \`${NAMESPACE}:kubernetes.namespaces\`: ${listAllowed(k8s.namespaces)}`,
                });
            }
        });
    });

const databaseSchema = obj({
    host: pattern(HOST, "a host name"),
    replicaHost: pattern(HOST, "a host name"),
    pgbouncerHost: pattern(HOST, "a host name"),
    port: int(1, 65535).default(5432),
    pgbouncerPort: int(1, 65535).default(6432),
    name: pattern(PG_IDENT, "a PostgreSQL database name"),
    /** The NOLOGIN group role that owns the objects; both login roles are its members. */
    groupRole: pattern(PG_IDENT, "a PostgreSQL role name").default("buywhere_app"),
    /** The two alternating login roles; both are members of one group role that owns the objects. */
    roles: obj({ a: pattern(PG_IDENT, "a PostgreSQL role name"), b: pattern(PG_IDENT, "a PostgreSQL role name") })
        .refine((r) => r.a !== r.b, { error: "must name two different roles" })
        .default({ a: "buywhere_app_a", b: "buywhere_app_b" }),
    scheme: oneOf(["postgresql", "postgres", "postgresql+asyncpg", "postgresql+psycopg"] as const).default("postgresql"),
    /** Query parameters appended to every database URL. */
    params: z.record(pattern(/^[a-z_]+$/, "a parameter name"), z.string()).default({ sslmode: "require" }),
});

const redisSchema = obj({
    host: pattern(HOST, "a host name"),
    port: int(1, 65535).default(6379),
    /** The ACL user whose two passwords are the two slots. */
    user: pattern(REDIS_USER, "a Redis ACL user name"),
    tls: z.boolean({ error: typeError("must be true or false") }).default(true),
    db: int(0, 15).default(0),
    /** Permissions `bootstrap` gives the ACL user when it creates it (key, channel and command rules). */
    aclRules: z
        .array(pattern(/^[~&%+\-@A-Za-z0-9_:*|.]+$/, "a Redis ACL rule (no passwords)"), { error: "must be a list of ACL rules" })
        .min(1)
        .default(["~*", "&*", "+@all", "-@admin", "-@dangerous"]),
});

const typesenseSchema = obj({
    /** Base URL of the Typesense cluster whose keys API registers each slot's key. */
    url: httpUrl,
    /** What each slot's key may do. */
    actions: z.array(z.string().min(1), { error: "must be a list of Typesense actions" }).min(1).default(["documents:search"]),
    collections: z.array(z.string().min(1), { error: "must be a list of collections" }).min(1).default(["*"]),
});

const r2Schema = obj({
    /** The Cloudflare account that owns the R2 buckets and the per-slot account tokens. */
    accountId: pattern(/^[0-9a-f]{32}$/, "a Cloudflare account id (32 hex characters)"),
    buckets: z
        .array(pattern(/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/, "an R2 bucket name"), { error: "must be a list of R2 buckets" })
        .min(1, { error: "must list at least one bucket" })
        .superRefine(unique((b: string) => b, "bucket")),
    /** Cloudflare permission group ids granted on those buckets (e.g. R2 Storage Bucket Item Read and Write). */
    permissionGroupIds: z
        .array(pattern(/^[0-9a-f]{32}$/, "a Cloudflare permission group id (32 hex characters)"), { error: "must be a list of permission group ids" })
        .min(1, { error: "must list at least one permission group" }),
});

const healthSchema = obj({
    urls: z
        .array(httpUrl, { error: "must be a list of URLs" })
        .min(1, { error: "must list at least one URL" })
        .superRefine(unique((u: string) => u, "URL")),
    expectStatus: int(100, 599).default(200),
    /** Attempts per URL before the rotation fails. */
    attempts: int(1, 100).default(20),
    /** Consecutive good answers a URL must give (guards against a flapping rollout). */
    requiredSuccesses: int(1, 10).default(2),
    initialBackoffSeconds: int(1, 60).default(2),
    maxBackoffSeconds: int(1, 300).default(30),
    timeoutSeconds: int(1, 60).default(5),
});

const schema = obj({
    /** The rotation stamp every group moves to. Required. */
    stamp,
    /** Per-group on-demand stamps; a group uses the later of this and `rotation:stamp`. */
    groupStamps: groupMap(stamp).default({}),
    /** Roll back the named group's rotation to this stamp: its other slot becomes active again. */
    rollback: groupMap(stamp).default({}),
    /**
     * Hold a group's stores and consumers of one provider at the credentials they have now while the other
     * provider rotates (what `rotate --provider aws` does). Remove it to catch the held provider up.
     */
    hold: groupMap(
        z
            .array(oneOf(PROVIDERS), { error: `must be a list of providers from ${listAllowed(PROVIDERS)}` })
            .min(1, { error: "must name a provider (omit the group to hold nothing)" })
            .max(PROVIDERS.length - 1, { error: "cannot hold back every provider: the rotation would publish nowhere" })
            .superRefine(unique((p: string) => p, "provider")),
    ).default({}),
    /** Bump to restart consumers without rotating: all of them, one provider's (`aws`, `k8s`) or one group's. */
    restartStamps: closedMap(RESTART_SCOPES, "scope", stamp).default({}),
    /** Rotation period per group (for `status`: next due, overdue). Default monthly. */
    policy: groupMap(oneOf(POLICY_PERIODS)).default({}),
    aws: awsSchema.default({ region: "ap-southeast-1", secretPrefix: "buywhere/" }),
    ecs: ecsSchema.optional(),
    kubernetes: k8sSchema.optional(),
    database: databaseSchema,
    redis: redisSchema,
    typesense: typesenseSchema,
    r2: r2Schema,
    health: healthSchema,
});

type Parsed = z.output<typeof schema>;

/** The validated settings of one stack, with environment overrides applied. */
export interface Settings extends Omit<Parsed, "policy" | "kubernetes"> {
    readonly policy: Readonly<Record<Group, PolicyPeriod>>;
    readonly kubernetes?: Parsed["kubernetes"];
}

export type DatabaseSettings = Parsed["database"];
export type RedisSettings = Parsed["redis"];

/** The config keys this program reads, without the namespace. */
export const CONFIG_KEYS = Object.keys(schema.shape) as (keyof Parsed)[];

/**
 * Parses the `rotation:*` keys of a stack's config.
 *
 * @param raw  config as Pulumi gives it (`namespace:key` -> string, objects as JSON) or as a stack file holds it
 *             (objects as objects). Keys of other namespaces (`aws:`, `kubernetes:`) are ignored.
 * @param env  environment overrides; where set they win over the stack file.
 * @throws RotationInputError naming the first bad key.
 */
export function parseSettings(raw: Readonly<Record<string, unknown>>, env: EnvOverrides = {}): Settings {
    const values: Record<string, unknown> = {};
    for (const [fullKey, value] of Object.entries(raw)) {
        const [ns, key] = splitKey(fullKey);
        if (ns !== NAMESPACE) {
            continue;
        }
        if (!(CONFIG_KEYS as string[]).includes(key)) {
            throw new RotationInputError(
                `${NAMESPACE}:${key}`,
                `unknown config key \`${NAMESPACE}:${key}\`${didYouMean(key, CONFIG_KEYS, `${NAMESPACE}:`)}; allowed keys: ${listAllowed(CONFIG_KEYS.map((k) => `${NAMESPACE}:${k}`))}`,
            );
        }
        values[key] = decode(value, `${NAMESPACE}:${key}`);
    }
    const result = schema.safeParse(values);
    if (!result.success) {
        throw toInputError(`${NAMESPACE}:`, result.error.issues);
    }
    return applyEnv(result.data, env);
}

function splitKey(fullKey: string): [string, string] {
    const i = fullKey.indexOf(":");
    return i < 0 ? ["", fullKey] : [fullKey.slice(0, i), fullKey.slice(i + 1).replace(/^config:/, "")];
}

/** Pulumi hands objects over as JSON strings; a stack file parsed as YAML has them as objects already. */
function decode(value: unknown, key: string): unknown {
    if (typeof value === "object" && value !== null && "secure" in value) {
        throw new RotationInputError(key, `\`${key}\` must not be a secret: it holds no credential`);
    }
    if (typeof value === "string" && /^\s*[[{]/.test(value)) {
        try {
            return JSON.parse(value);
        } catch {
            throw new RotationInputError(key, `\`${key}\` is not valid JSON`);
        }
    }
    return value;
}





function applyEnv(parsed: Parsed, env: EnvOverrides): Settings {
    const policy = Object.fromEntries(GROUPS.map((g) => [g, parsed.policy[g] ?? "monthly"])) as Record<Group, PolicyPeriod>;
    const region = nonEmpty(env.AWS_REGION);
    if (region !== undefined && !AWS_REGION.test(region)) {
        throw new RotationInputError("AWS_REGION", `environment variable \`AWS_REGION\` ${JSON.stringify(region)} is not an AWS region`);
    }
    const cluster = nonEmpty(env.ECS_CLUSTER);
    if (cluster !== undefined && !ECS_NAME.test(cluster)) {
        throw new RotationInputError("ECS_CLUSTER", `environment variable \`ECS_CLUSTER\` ${JSON.stringify(cluster)} is not an ECS cluster name`);
    }
    const k8s = parsed.kubernetes;
    return {
        ...parsed,
        policy,
        aws: { ...parsed.aws, region: region ?? parsed.aws.region },
        ecs: parsed.ecs && { ...parsed.ecs, cluster: cluster ?? parsed.ecs.cluster },
        kubernetes: k8s && {
            ...k8s,
            context: nonEmpty(env.K8S_CONTEXT) ?? k8s.context,
        },
    };
}

function nonEmpty(v: string | undefined): string | undefined {
    return v === undefined || v.trim() === "" ? undefined : v;
}
