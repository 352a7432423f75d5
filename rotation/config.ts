/**
 * Configuration: the `rotation:*` keys of a stack file, parsed and validated in one place.
 *
 * The same parser serves the Pulumi program (values from `pulumi.runtime.allConfig()`, objects as JSON strings) and
 * the offline CLI (values read from `Pulumi.<stack>.yaml`). Pure: the environment is passed in, nothing is read here.
 * The first problem found is reported as one line that names the key in backticks and the allowed values.
 */
import { z } from "zod";
import { GROUPS, Group, Slot } from "./catalog";
import { RotationInputError, listAllowed } from "./errors";
import { POLICY_PERIODS, PolicyPeriod, tryParseStamp } from "./stamp";

/** The config namespace of every key this program reads. */
export const NAMESPACE = "rotation";

/** Providers a store/consumer belongs to. */
export const PROVIDERS = ["aws", "k8s"] as const;
export type Provider = (typeof PROVIDERS)[number];

/**
 * A consumer restarts when any of these is bumped: `all` consumers, one provider's (`aws`, `k8s`), one group's
 * consumers (`database`), or one group's consumers on one provider (`aws/database`).
 */
export const RESTART_SCOPES = [
    "all",
    ...PROVIDERS,
    ...GROUPS,
    ...PROVIDERS.flatMap((p) => GROUPS.map((g) => `${p}/${g}` as const)),
] as const;
export type RestartScope = (typeof RESTART_SCOPES)[number];

/**
 * Environment variables that override the stack file where set (the seed's variables, same defaults).
 * `KUBECONFIG` is not among them: the Kubernetes provider and kubectl read it themselves.
 */
export interface EnvOverrides {
    readonly AWS_REGION?: string;
    readonly ECS_CLUSTER?: string;
    readonly K8S_CONTEXT?: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Schema helpers: every object is strict, so a typo'd key is an error that lists the allowed keys.

/** An error message for a value of the wrong type, or "is required" when the value is missing. */
function typeError(text: string) {
    return (iss: { code?: string; input?: unknown }) => (iss.code === "invalid_type" && iss.input === undefined ? "is required" : text);
}

function obj<T extends z.ZodRawShape>(shape: T) {
    const allowed = Object.keys(shape);
    return z.strictObject(shape, {
        error: (iss) =>
            iss.code === "unrecognized_keys"
                ? `has unknown key ${listAllowed(iss.keys)}; allowed keys: ${listAllowed(allowed)}`
                : iss.code === "invalid_type"
                  ? typeError(`must be a mapping with keys ${listAllowed(allowed)}`)(iss)
                  : undefined,
    });
}

function pattern(re: RegExp, what: string) {
    return z
        .string({ error: typeError(`must be a string (${what})`) })
        .refine((v) => re.test(v), { error: (iss) => `${JSON.stringify(iss.input)} is not ${what}` });
}

function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
    return z.enum(values, {
        error: (iss) => `must be one of ${listAllowed(values)}${iss.input === undefined ? "" : ` (got ${JSON.stringify(iss.input)})`}`,
    });
}

/** A mapping keyed by a closed set; zod reports unknown keys of a partial record as `unrecognized_keys`. */
function closedMap<T extends z.ZodType>(keys: readonly [string, ...string[]], what: string, value: T) {
    return z.partialRecord(oneOf(keys), value, {
        error: (iss) => {
            const unknown = (iss as { keys?: string[] }).keys;
            return unknown
                ? `has unknown ${what} ${listAllowed(unknown)}; allowed: ${listAllowed(keys)}`
                : `must be a mapping from ${what} to value`;
        },
    });
}

function groupMap<T extends z.ZodType>(value: T) {
    return closedMap(GROUPS, "group", value);
}

const int = (min: number, max: number) =>
    z
        .number({ error: typeError(`must be a whole number from ${min} to ${max}`) })
        .int({ error: `must be a whole number from ${min} to ${max}` })
        .min(min, { error: `must be a whole number from ${min} to ${max}` })
        .max(max, { error: `must be a whole number from ${min} to ${max}` });

const stamp = z.string({ error: typeError("must be a stamp string") }).superRefine((v, ctx) => {
    const parsed = tryParseStamp(v);
    if (typeof parsed === "string") {
        ctx.addIssue({ code: "custom", message: `${JSON.stringify(v)} ${parsed}; expected \`YYYY-MM\`, \`YYYY-MM-DD\` or \`YYYY-MM-DDTHHMMZ\` (UTC)` });
    }
});

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const HOST = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/;
const ECS_NAME = /^[A-Za-z0-9_-]{1,255}$/;
const AWS_REGION = /^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$/;
// Every secret must stay under `buywhere/` (the IAM policy is scoped to it); segments may not be `.` or `..`.
const SECRET_PREFIX = /^buywhere\/(?:(?!\.{1,2}\/)[A-Za-z0-9_+=.@-]+\/)*$/;
const PG_IDENT = /^[a-z_][a-z0-9_]{0,62}$/;
// Redis ACL rules use `>`, `<`, `#`, `~`, `%`, `&` and spaces: a user name must contain none of them.
const REDIS_USER = /^[A-Za-z0-9_.-]{1,128}$/;

const httpUrl = z.string({ error: typeError("must be an http(s) URL") }).superRefine((v, ctx) => {
    let u: URL | undefined;
    try {
        u = new URL(v);
    } catch {
        u = undefined;
    }
    if (!u || (u.protocol !== "http:" && u.protocol !== "https:") || u.username || u.password) {
        ctx.addIssue({ code: "custom", message: `${JSON.stringify(v)} is not an http(s) URL without credentials` });
    }
});

function unique<T>(key: (item: T) => string, what: string) {
    return (items: T[], ctx: z.RefinementCtx) => {
        const seen = new Set<string>();
        items.forEach((item, i) => {
            const k = key(item);
            if (seen.has(k)) {
                ctx.addIssue({ code: "custom", path: [i], message: `lists ${what} ${JSON.stringify(k)} twice` });
            }
            seen.add(k);
        });
    };
}

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

/** The environment variable through which the CLI hands the program one run's request. */
export const REQUEST_ENV = "ROTATION_REQUEST";

const requestSchema = obj({
    /** New stamps per group. Strict: a stamp older than the group's last one is an error. */
    stamps: groupMap(stamp).default({}),
    rollback: groupMap(stamp).default({}),
    hold: schema.shape.hold,
    restartStamps: closedMap(RESTART_SCOPES, "scope", stamp).default({}),
    /** How to name the request's stamps in error messages (e.g. the CLI's `--stamp`). */
    label: z.string().default(REQUEST_ENV),
});

/**
 * One run's request on top of the stack file: what the CLI asks for (`rotate`, `rollback`, `restart`). Unlike
 * the stack file's stamps, which are a floor, requested stamps are strict.
 */
export type RotationRequest = z.output<typeof requestSchema>;

/** The empty request: a run that only applies the stack file. */
export const NO_REQUEST: RotationRequest = { stamps: {}, rollback: {}, hold: {}, restartStamps: {}, label: REQUEST_ENV };

/** Parses the request JSON the CLI passes in {@link REQUEST_ENV}; absent means {@link NO_REQUEST}. */
export function parseRequest(json: string | undefined): RotationRequest {
    if (json === undefined || json.trim() === "") {
        return NO_REQUEST;
    }
    let value: unknown;
    try {
        value = JSON.parse(json);
    } catch {
        throw new RotationInputError(REQUEST_ENV, `environment variable \`${REQUEST_ENV}\` is not valid JSON`);
    }
    const result = requestSchema.safeParse(value);
    if (!result.success) {
        const issue = result.error.issues[0];
        const key = `${REQUEST_ENV}.${formatPath(issue.path)}`.replace(/\.$/, "");
        throw new RotationInputError(key, `\`${key}\` ${issue.message}`);
    }
    return result.data;
}

/** The validated settings of one stack, with environment overrides applied. */
export interface Settings extends Omit<Parsed, "policy" | "kubernetes"> {
    readonly policy: Readonly<Record<Group, PolicyPeriod>>;
    readonly kubernetes?: Parsed["kubernetes"];
}

export type DatabaseSettings = Parsed["database"];
export type RedisSettings = Parsed["redis"];
export type HealthSettings = Parsed["health"];
export type R2Settings = Parsed["r2"];
export type TypesenseSettings = Parsed["typesense"];
export type RoleNames = Readonly<Record<Slot, string>>;

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
                `unknown config key \`${NAMESPACE}:${key}\`; allowed keys: ${listAllowed(CONFIG_KEYS.map((k) => `${NAMESPACE}:${k}`))}`,
            );
        }
        values[key] = decode(value, `${NAMESPACE}:${key}`);
    }
    const result = schema.safeParse(values);
    if (!result.success) {
        throw toInputError(result.error.issues);
    }
    const settings = applyEnv(result.data, env);
    checkConsistency(settings);
    return settings;
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

function toInputError(issues: readonly z.core.$ZodIssue[]): RotationInputError {
    const issue = issues[0];
    const key = `${NAMESPACE}:${formatPath(issue.path)}`;
    const message = issue.message;
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length > 2 ? "s" : ""})` : "";
    return new RotationInputError(key, `\`${key}\` ${message}${more}`);
}

function formatPath(path: readonly PropertyKey[]): string {
    let out = "";
    for (const part of path) {
        out += typeof part === "number" ? `[${part}]` : `${out ? "." : ""}${String(part)}`;
    }
    return out;
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

/** Cross-field checks the schema cannot express (deployments must live in configured namespaces). */
function checkConsistency(settings: Settings): void {
    const k8s = settings.kubernetes;
    k8s?.deployments.forEach((d, i) => {
        if (!k8s.namespaces.includes(d.namespace)) {
            const key = `${NAMESPACE}:kubernetes.deployments[${i}].namespace`;
            throw new RotationInputError(
                key,
                `\`${key}\` ${JSON.stringify(d.namespace)} is not one of \`${NAMESPACE}:kubernetes.namespaces\`: ${listAllowed(k8s.namespaces)}`,
            );
        }
    });
}
