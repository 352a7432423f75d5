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
import { AWS_REGION, DURATION, DNS_LABEL, DNS_SUBDOMAIN, ECS_NAME, ELASTICACHE_USER_ID, HOST, PG_IDENT, REDIS_USER, SECRET_ARN, httpUrlProblem, isLoopbackHost } from "./rules";
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
    /** Lets an override win over a value the stack file sets (`1`); otherwise such a conflict is an error. */
    readonly ROTATION_ENV_OVERRIDES?: string;
    /** The AWS endpoint (`AWS_ENDPOINT_URL*`) a non-local stack may be pointed at: for tests and rehearsals only. */
    readonly ROTATION_ALLOW_AWS_ENDPOINT?: string;
    readonly [name: string]: string | undefined;
}

/** The stack whose settings may point at servers on this machine (plaintext Redis, a local AWS endpoint). */
export const LOCAL_STACK = "local";

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

/** A KMS key's ARN (a single-Region key id or a multi-Region `mrk-` id; https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#key-id-key-ARN). */
const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d:\d{12}:key\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$/;

const awsSchema = obj({
    /** AWS region of Secrets Manager and ECS. `AWS_REGION` overrides it. */
    region: pattern(AWS_REGION, "an AWS region such as ap-southeast-1").default("ap-southeast-1"),
    /** Prefix of every secret name; must stay under `buywhere/`. */
    secretPrefix: pattern(SECRET_PREFIX, "a prefix under `buywhere/` ending in `/`").default("buywhere/"),
    /**
     * A customer-managed KMS key (id, ARN or alias) that encrypts the secrets the program creates; default: the
     * account's `aws/secretsmanager` key. Existing secrets keep theirs.
     */
    /**
     * The AWS account the stack's secrets and services live in: the AWS provider refuses credentials of any other
     * account (`allowedAccountIds`), and the stack's IAM policy names it in every ARN.
     */
    accountId: pattern(/^\d{12}$/, "an AWS account id (12 digits)").optional(),
    /**
     * A local AWS endpoint (moto, LocalStack) for Secrets Manager, ECS and STS: set on the stack's AWS provider
     * (`endpoints`) and given to the ECS redeploy hook. Only for the `local` stack, where it is required and loopback.
     */
    endpoint: httpUrl.optional(),
    kmsKeyId: pattern(/^(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)\/[A-Za-z0-9/_-]+|alias\/[A-Za-z0-9/_-]+|[0-9a-f-]{36})$/, "a KMS key id, ARN or alias").optional(),
    /**
     * The customer-managed KMS keys that encrypt the `rotation:adminSecrets` secrets, as key ARNs (not aliases: IAM
     * authorises a cryptographic operation against the key's ARN). GetSecretValue on such a secret needs `kms:Decrypt`
     * on its key (https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html#security-encryption-authz);
     * the generated policy grants it through Secrets Manager only (rotation/accessPolicy.ts). Not needed for the
     * default `aws/secretsmanager` key. Separate from `kmsKeyId`: an RDS-managed master user secret is encrypted with
     * the key RDS was given, not the one the program's secrets use.
     */
    adminSecretsKmsKeyArns: z
        .array(pattern(KMS_KEY_ARN, "a KMS key's ARN (arn:aws:kms:<region>:<account>:key/<key id>; not an alias)"), { error: "must be a list of KMS key ARNs" })
        .min(1)
        .superRefine(unique((k: string) => k, "key"))
        .optional(),
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

/**
 * Role names the program must never rotate or group under: PostgreSQL reserves `pg_*` ("Role names beginning with
 * pg_ are reserved", https://www.postgresql.org/docs/16/sql-createrole.html), and RDS/Aurora's own roles
 * (`rds_*`, `rdsadmin`, https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Appendix.PostgreSQL.CommonDBATasks.Roles.html)
 * and the conventional superuser `postgres` would hand the application an administrator's rights.
 */
const RESERVED_ROLE = /^(pg_|rds_)|^(rdsadmin|rdsrepladmin|postgres|rds_superuser)$/;
const appRole = pattern(PG_IDENT, "a PostgreSQL role name").refine((r) => !RESERVED_ROLE.test(r), {
    error: (iss) => `${JSON.stringify(iss.input)} is a reserved or administrative role; the application needs a role of its own`,
});

/** sslmode values that encrypt; `verify-full` (the default) also checks the server's certificate and name. */
const SSL_MODES = ["verify-full", "verify-ca", "require"] as const;

const databaseSchema = obj({
    host: pattern(HOST, "a host name"),
    replicaHost: pattern(HOST, "a host name"),
    pgbouncerHost: pattern(HOST, "a host name"),
    port: int(1, 65535).default(5432),
    pgbouncerPort: int(1, 65535).default(6432),
    name: pattern(PG_IDENT, "a PostgreSQL database name"),
    /** The NOLOGIN group role that owns the objects; both login roles are its members. */
    groupRole: appRole.default("buywhere_app"),
    /** The two alternating login roles; both are members of one group role that owns the objects. */
    roles: obj({ a: appRole, b: appRole })
        .refine((r) => r.a !== r.b, { error: "must name two different roles" })
        .default({ a: "buywhere_app_a", b: "buywhere_app_b" }),
    scheme: oneOf(["postgresql", "postgres", "postgresql+asyncpg", "postgresql+psycopg"] as const).default("postgresql"),
    /** Query parameters appended to every database URL. */
    params: z
        .record(pattern(/^[a-z_]+$/, "a parameter name"), z.string())
        .superRefine((params, ctx) => {
            const mode = params.sslmode;
            if (mode !== undefined && !(SSL_MODES as readonly string[]).includes(mode)) {
                ctx.addIssue({ code: "custom", path: ["sslmode"], message: `must be one of ${listAllowed(SSL_MODES)}: the application's connection must be encrypted` });
            }
        })
        // Setting other parameters never drops TLS: sslmode defaults to verify-full unless set.
        .transform((params) => ({ sslmode: "verify-full", ...params }))
        .default({ sslmode: "verify-full" }),
    /**
     * The legacy application user in use before the alternating roles: `bootstrap` moves its ownership and
     * privileges to the group role (README, "Migrating from the legacy application user"); `adopt` takes its
     * credential as the adopted slot.
     */
    legacyUser: pattern(PG_IDENT, "a PostgreSQL role name").optional(),
    /**
     * When the adopted slot is retired (the second rotation after `adopt`), set `legacyUser` NOLOGIN and end its
     * sessions. Off by default: the legacy login keeps working until an operator opts in (README, "Adopting").
     */
    retireLegacyLogin: z.boolean({ error: typeError("must be true or false") }).default(false),
    /** The least-privilege role rotation logs in as (ROTATION_PG_ADMIN_URL's user): `bootstrap` creates it and grants it what rotation needs. */
    rotatorRole: appRole.optional(),
    /** Each slot role must also log in through `replicaHost` before anything is published. */
    proveReplica: z.boolean({ error: typeError("must be true or false") }).default(false),
    /** A read/write canary as each slot role on `rotation_canary` (created by `bootstrap`) before anything is published. */
    canary: z.boolean({ error: typeError("must be true or false") }).default(false),
    /**
     * PgBouncer in `auth_file` mode (the one SCRAM pass-through setup that works on Aurora): the applier writes each
     * slot role's verifier into the userlist, RELOADs PgBouncer through its admin console (`adminUser`) at
     * `pgbouncerHost`:`pgbouncerPort` and logs in through it. `authFile`: a key of a Kubernetes Secret PgBouncer's pods mount, or a file path.
     */
    pgbouncer: obj({
        authFile: obj({
            secret: obj({
                namespace: pattern(DNS_LABEL, "a Kubernetes namespace name"),
                name: pattern(DNS_SUBDOMAIN, "a Kubernetes Secret name"),
                key: pattern(/^[-._a-zA-Z0-9]{1,253}$/, "a Secret key"),
            }).optional(),
            path: pattern(/^\/[^\0\n]+$/, "an absolute file path").optional(),
        }).refine((a) => (a.secret === undefined) !== (a.path === undefined), { error: "must give exactly one of `secret` (namespace, name, key) or `path`" }),
        /** PgBouncer's admin console user (in `admin_users`); its line in the auth_file holds its password in plain text. */
        adminUser: pattern(/^[A-Za-z0-9_.-]{1,63}$/, "a PgBouncer user name"),
        /** How long the new userlist may take to reach every PgBouncer pod (a mounted Secret follows the kubelet's sync). */
        reloadTimeoutSeconds: int(5, 3600).default(120),
    }).optional(),
})
    .superRefine((db, ctx) => {
        if (db.legacyUser !== undefined && [db.groupRole, db.roles.a, db.roles.b, db.rotatorRole].includes(db.legacyUser)) {
            ctx.addIssue({ code: "custom", path: ["legacyUser"], message: `${JSON.stringify(db.legacyUser)} must differ from the group role, both login roles and the rotator role` });
        }
        if (db.retireLegacyLogin && db.legacyUser === undefined) {
            ctx.addIssue({ code: "custom", path: ["retireLegacyLogin"], message: "needs `rotation:database.legacyUser`: the login to retire" });
        }
        if (db.rotatorRole !== undefined && [db.groupRole, db.roles.a, db.roles.b].includes(db.rotatorRole)) {
            ctx.addIssue({ code: "custom", path: ["rotatorRole"], message: `${JSON.stringify(db.rotatorRole)} must differ from the group role and both login roles` });
        }
        if (db.groupRole === db.roles.a || db.groupRole === db.roles.b) {
            ctx.addIssue({ code: "custom", path: ["groupRole"], message: `${JSON.stringify(db.groupRole)} must differ from both login roles in \`${NAMESPACE}:database.roles\`` });
        }
    });

/**
 * The ACL rules `bootstrap` may give the application's user: key (`~`, `%R~`, `%W~`, `%RW~`) and channel (`&`)
 * patterns, and command rules (`+cmd`, `-cmd`, `+@category`, `-@category`, `+cmd|sub`). Never passwords (`>`, `<`,
 * `#`, `!`), `nopass`, `on`/`off` or `reset*`: passwords are the rotation's, and bootstrap enables the user itself
 * (https://redis.io/docs/latest/operate/oss_and_stack/management/security/acl/#acl-rules).
 */
const ACL_RULE = /^(%(R|W|RW)~|~|&)[^\s]+$|^[+-]@?[a-z][a-z0-9_-]*(\|[a-z0-9_-]+)?$/;
const FORBIDDEN_CATEGORIES = ["@admin", "@dangerous"];

/** Why a rule set grants too much, or undefined: `+@all` only together with `-@admin` and `-@dangerous`. */
function aclRulesProblem(rules: readonly string[]): string | undefined {
    for (const category of FORBIDDEN_CATEGORIES) {
        if (rules.includes(`+${category}`)) return `must not grant \`+${category}\`: the application's user must not administer Redis`;
    }
    const all = rules.lastIndexOf("+@all");
    if (all >= 0 && !FORBIDDEN_CATEGORIES.every((c) => rules.lastIndexOf(`-${c}`) > all)) {
        return "grants `+@all` without `-@admin` and `-@dangerous` after it: the application's user must not administer Redis";
    }
    return undefined;
}

/**
 * Where the Redis user's passwords are set: `acl`, a self-run Redis >= 6 (`ACL SETUSER` with the admin URL,
 * hooks/redisApply.ts); `elasticache`, an ElastiCache RBAC user, whose passwords only the API can set ("You can't
 * specify passwords in an access string. You set passwords with CreateUser or ModifyUser calls.",
 * https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/Clusters.RBAC.html; hooks/elasticacheApply.ts).
 */
export const REDIS_KINDS = ["acl", "elasticache"] as const;

const redisSchema = obj({
    /** How the user's passwords are set (see `REDIS_KINDS`). */
    kind: oneOf(REDIS_KINDS).default("acl"),
    host: pattern(HOST, "a host name"),
    port: int(1, 65535).default(6379),
    /** The ACL user whose two passwords are the two slots (the name clients AUTH with). */
    user: pattern(REDIS_USER, "a Redis ACL user name").refine((u) => u !== "default", {
        error: "must not be `default`: the default user is every unauthenticated client; give the application a user of its own",
    }),
    /** `elasticache` only: the RBAC user's id (ModifyUser and the IAM policy name the user by id, AUTH by name). */
    userId: pattern(ELASTICACHE_USER_ID, "an ElastiCache user id (a letter, then letters, digits and hyphens)").optional(),
    /**
     * `elasticache` only: the user group of the cache (its replication group's or serverless cache's `UserGroupIds`)
     * that `bootstrap` adds the user to (ModifyUserGroup); rotation itself never touches the group.
     */
    userGroupId: pattern(ELASTICACHE_USER_ID, "an ElastiCache user group id (a letter, then letters, digits and hyphens)").optional(),
    /**
     * `elasticache` only: how long the user may stay `modifying` (before and after ModifyUser) before the run fails.
     * AWS's own rotation function waits up to 600 s (aws-samples/aws-secrets-manager-rotation-lambdas,
     * SecretsManagerElasticacheUserRotation); there is no documented bound, so the default leaves room.
     */
    modifyTimeoutSeconds: int(30, 3600).default(900),
    /** `elasticache` only: how often DescribeUsers is asked while the user is `modifying`. */
    pollSeconds: int(1, 60).default(10),
    tls: z.boolean({ error: typeError("must be true or false") }).default(true),
    db: int(0, 15).default(0),
    /** Permissions `bootstrap` gives the ACL user when it creates it (key, channel and command rules). */
    aclRules: z
        .array(pattern(ACL_RULE, "a Redis ACL key, channel or command rule (no passwords, no nopass)"), { error: "must be a list of ACL rules" })
        .min(1)
        .superRefine((rules, ctx) => {
            const issue = aclRulesProblem(rules);
            if (issue) ctx.addIssue({ code: "custom", message: issue });
        })
        .default(["~*", "&*", "+@all", "-@admin", "-@dangerous"]),
})
    .superRefine((redis, ctx) => {
        if (redis.kind === "elasticache" && redis.userId === undefined) {
            ctx.addIssue({ code: "custom", path: ["userId"], message: "is required with `kind: elasticache`: ModifyUser names the user by id (the user name is what clients AUTH with)" });
        }
        if (redis.kind === "acl" && redis.userId !== undefined) {
            ctx.addIssue({ code: "custom", path: ["userId"], message: "is for `kind: elasticache` only (a self-run Redis names users by name)" });
        }
        if (redis.kind === "acl" && redis.userGroupId !== undefined) {
            ctx.addIssue({ code: "custom", path: ["userGroupId"], message: "is for `kind: elasticache` only (a self-run Redis has no user groups)" });
        }
        if (redis.kind === "elasticache" && redis.userId === "default") {
            // ElastiCache's own default user (user id and name `default`): every connection that has not AUTHed.
            ctx.addIssue({ code: "custom", path: ["userId"], message: "must not be `default`: that is ElastiCache's default user, which every unauthenticated connection is" });
        }
        if (redis.pollSeconds >= redis.modifyTimeoutSeconds) {
            ctx.addIssue({ code: "custom", path: ["pollSeconds"], message: `(${redis.pollSeconds}) must be less than \`${NAMESPACE}:redis.modifyTimeoutSeconds\` (${redis.modifyTimeoutSeconds})` });
        }
    });

/**
 * The groups whose admin credential may be a Secrets Manager secret instead of an environment variable: the hook
 * reads the secret when it runs (never a program input, never in state). Values are the secrets' complete ARNs (for
 * the database, e.g. the RDS-managed master user secret, `MasterUserSecret.SecretArn`).
 */
export const ADMIN_SECRET_GROUPS = ["database", "redis", "typesense"] as const;

const adminSecretsSchema = closedMap(ADMIN_SECRET_GROUPS, "group", pattern(SECRET_ARN, "a Secrets Manager secret's complete ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 characters>)"));

/**
 * What an application key may be allowed to do: reading and writing documents and reading collection metadata
 * (https://typesense.org/docs/27.1/api/api-keys.html#sample-actions). Never `*`, `keys:*` (it could mint or delete
 * keys, the rotation's own) or collection writes.
 */
const TYPESENSE_ACTIONS = [
    "documents:search",
    "documents:get",
    "documents:create",
    "documents:upsert",
    "documents:update",
    "documents:delete",
    "documents:import",
    "documents:export",
    "collections:get",
    "collections:list",
    "synonyms:get",
    "synonyms:list",
    "overrides:get",
    "overrides:list",
    "aliases:get",
    "aliases:list",
] as const;

const typesenseSchema = obj({
    /** Base URL of the Typesense cluster whose keys API registers each slot's key. */
    url: httpUrl,
    /** What each slot's key may do. */
    actions: z
        .array(oneOf(TYPESENSE_ACTIONS), { error: `must be a list of Typesense actions from ${listAllowed(TYPESENSE_ACTIONS)}` })
        .min(1)
        // The applier proves a new key by searching with it (hooks/typesenseApply.ts `proveKey`).
        .refine((a) => a.includes("documents:search"), { error: "must include documents:search: the applier proves each new key with a search" })
        .default(["documents:search"]),
    collections: z.array(z.string().min(1), { error: "must be a list of collections" }).min(1).default(["*"]),
    /** How long a new key may take to be accepted by a search on every collection (HA followers lag; default 60). */
    proofTimeoutSeconds: int(1, 900).optional(),
    /**
     * The id of the key in use before `adopt` (GET /keys lists ids): revoked (DELETE /keys/:id) when the adopted slot
     * is retired, after the slot's new key is proven. Without it the legacy key is left for an operator to delete.
     */
    legacyKeyId: int(1, Number.MAX_SAFE_INTEGER).optional(),
});

/**
 * The permission groups an R2 token may carry: "Workers R2 Storage Bucket Item Read" (6a018a9f..., the example in
 * cloudflare/cloudflare-docs src/content/docs/r2/api/tokens.mdx) and "... Item Write" (2efd5506...). Anything else
 * (account-wide or non-R2 groups) would give the application more than its buckets.
 */
const R2_PERMISSION_GROUPS = ["6a018a9f2fc74eb6b293b0c548f38b39", "2efd5506f9c8494dacb1fa10a3e7d5b6"] as const;

const r2Schema = obj({
    /** The Cloudflare account that owns the R2 buckets and the per-slot account tokens. */
    accountId: pattern(/^[0-9a-f]{32}$/, "a Cloudflare account id (32 hex characters)"),
    buckets: z
        .array(pattern(/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/, "an R2 bucket name"), { error: "must be a list of R2 buckets" })
        .min(1, { error: "must list at least one bucket" })
        .superRefine(unique((b: string) => b, "bucket")),
    /**
     * The Cloudflare API's base URL (the Cloudflare provider's `baseUrl`, default `https://api.cloudflare.com/client/v4`).
     * Only for the `local` stack, where it is required and loopback (the sandbox's Cloudflare token-API double).
     */
    apiBaseUrl: httpUrl.optional(),
    /** Cloudflare permission group ids granted on those buckets (e.g. R2 Storage Bucket Item Read and Write). */
    permissionGroupIds: z
        .array(oneOf(R2_PERMISSION_GROUPS), { error: `must be a list of R2 permission group ids from ${listAllowed(R2_PERMISSION_GROUPS)}` })
        .min(1, { error: "must list at least one permission group" }),
    /** How long a new token may take to be accepted by R2 on every bucket (hooks/r2Probe.ts; default 120). */
    probeTimeoutSeconds: int(1, 900).optional(),
    /**
     * The account token in use before `adopt` (its id is R2_ACCESS_KEY_ID): adopt imports it as the adopted slot's
     * token, so the slot's first regeneration replaces it, which revokes it. Without it the legacy token is left for an
     * operator to revoke. It must be an account-owned token of `accountId` (a user token cannot be imported).
     */
    legacyTokenId: pattern(/^[0-9a-f]{32}$/, "a Cloudflare API token id (32 hex characters)").optional(),
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
    /**
     * Lets the stack's first deployment generate every slot (a raw `pulumi up`, or a CLI run without
     * `--first-deployment`): only for an environment where nothing uses these secrets yet. Otherwise a stack without
     * recorded state must be adopted first (`secrets-rotation adopt`). Ignored once the stack has state.
     */
    // A top-level config value reaches the program as a string (`pulumi.runtime.allConfig()`), "true" or "false".
    firstDeployment: z
        .preprocess((v) => (v === "true" ? true : v === "false" ? false : v), z.boolean({ error: typeError("must be true or false") }))
        .default(false),
    /** Bump to restart consumers without rotating: all of them, one provider's (`aws`, `k8s`) or one group's. */
    restartStamps: closedMap(RESTART_SCOPES, "scope", stamp).default({}),
    /** Rotation period per group (for `status`: next due, overdue). Default monthly. */
    policy: groupMap(oneOf(POLICY_PERIODS)).default({}),
    /**
     * The least time between a group's rotation and an on-demand one after it (`7d`, `12h`, `90m`; `0m` for none). A
     * rotation drops the key the one before it replaced: for jwt that is the key that signed every token issued before
     * the last rotation, so jwt's interval must be at least the longest token lifetime (default 7d, the refresh token
     * lifetime to confirm with the API team); scheduled (`YYYY-MM`) rotations are not held back.
     */
    minInterval: groupMap(pattern(DURATION, "a duration such as 7d, 12h or 90m")).default({}).transform((m): Partial<Record<Group, string>> => ({ jwt: "7d", ...m })),
    aws: awsSchema.default({ region: "ap-southeast-1", secretPrefix: "buywhere/" }),
    ecs: ecsSchema.optional(),
    kubernetes: k8sSchema.optional(),
    database: databaseSchema,
    redis: redisSchema,
    /** Admin credentials read from Secrets Manager by the hooks at run time, per group (`ADMIN_SECRET_GROUPS`). */
    adminSecrets: adminSecretsSchema.default({}),
    typesense: typesenseSchema,
    r2: r2Schema,
    health: healthSchema,
});

type Parsed = z.output<typeof schema>;

/** The validated settings of one stack, with environment overrides applied. */
export interface Settings extends Omit<Parsed, "policy" | "kubernetes" | "r2"> {
    readonly policy: Readonly<Record<Group, PolicyPeriod>>;
    readonly kubernetes?: Parsed["kubernetes"];
    /** `endpoint`: where the R2 probe sends its S3 requests instead of the account's endpoint (`R2_ENDPOINT_ENV`, tests only). */
    readonly r2: Parsed["r2"] & { readonly endpoint?: string };
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
export function parseSettings(raw: Readonly<Record<string, unknown>>, env: EnvOverrides = {}, stack?: string): Settings {
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
    const settings = applyEnv(result.data, env, values);
    checkEnvironment(settings, env, stack);
    return settings;
}

/**
 * What only the `local` stack may do: Redis without TLS, and an AWS endpoint other than AWS's own
 * (`AWS_ENDPOINT_URL*` silently redirects every AWS SDK client, https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html).
 */
function checkEnvironment(settings: Settings, env: EnvOverrides, stack: string | undefined): void {
    if (settings.aws.adminSecretsKmsKeyArns !== undefined && Object.keys(settings.adminSecrets).length === 0) {
        throw new RotationInputError(
            `${NAMESPACE}:aws.adminSecretsKmsKeyArns`,
            `\`${NAMESPACE}:aws.adminSecretsKmsKeyArns\` is for the keys of \`${NAMESPACE}:adminSecrets\`, and the stack file names no admin secret; remove it`,
        );
    }
    if (settings.redis.kind === "elasticache" && settings.adminSecrets.redis !== undefined) {
        throw new RotationInputError(
            `${NAMESPACE}:adminSecrets.redis`,
            `\`${NAMESPACE}:adminSecrets.redis\` is not used with \`${NAMESPACE}:redis.kind\` elasticache: the ElastiCache applier calls the AWS API with the run's AWS credentials; remove it`,
        );
    }
    const local = stack === LOCAL_STACK;
    if (!settings.redis.tls && !local) {
        throw new RotationInputError(`${NAMESPACE}:redis.tls`, `\`${NAMESPACE}:redis.tls\` false is allowed only for the \`${LOCAL_STACK}\` stack: the Redis password would cross the network in clear`);
    }
    checkR2Endpoint(env, local, stack);
    const ts = new URL(settings.typesense.url);
    if (ts.protocol !== "https:" && !isLoopbackHost(ts.hostname)) {
        throw new RotationInputError(`${NAMESPACE}:typesense.url`, `\`${NAMESPACE}:typesense.url\` must be https:// (the admin key would cross the network in clear)`);
    }
    if (local) {
        checkLoopbackOnly(settings, env);
    } else {
        for (const [key, value] of [["aws.endpoint", settings.aws.endpoint], ["r2.apiBaseUrl", settings.r2.apiBaseUrl]] as const) {
            if (value !== undefined) {
                throw new RotationInputError(`${NAMESPACE}:${key}`, `\`${NAMESPACE}:${key}\` is allowed only for the \`${LOCAL_STACK}\` stack: it would send stack ${stack ?? "?"}'s calls somewhere else than the real service`);
            }
        }
        for (const [name, value] of Object.entries(env)) {
            if (/^AWS_ENDPOINT_URL(_|$)/.test(name) && nonEmpty(value) !== undefined && value !== env.ROTATION_ALLOW_AWS_ENDPOINT) {
                throw new RotationInputError(
                    name,
                    `environment variable \`${name}\` would send stack ${stack ?? "?"}'s AWS calls to ${JSON.stringify(value)} instead of AWS; it is allowed only for the \`${LOCAL_STACK}\` stack (or when \`ROTATION_ALLOW_AWS_ENDPOINT\` names the same endpoint, for tests)`,
                );
            }
        }
    }
}

/**
 * The `local` stack reaches only this machine: every host it composes or dials, every URL it calls and every AWS
 * endpoint (stack file and `AWS_ENDPOINT_URL*`) must be loopback (`isLoopbackHost`: localhost, 127.0.0.0/8, ::1), and
 * AWS and Cloudflare must be redirected there (`rotation:aws.endpoint`, `rotation:r2.apiBaseUrl`), or their calls
 * would go to the real services with whatever credentials the shell holds.
 */
function checkLoopbackOnly(settings: Settings, env: EnvOverrides): void {
    const refuse = (key: string, what: string) =>
        new RotationInputError(key, `\`${key}\` ${what} is not a loopback address: the \`${LOCAL_STACK}\` stack reaches only this machine (localhost, 127.0.0.0/8, ::1)`);
    const host = (key: string, value: string) => {
        if (!isLoopbackHost(value)) throw refuse(`${NAMESPACE}:${key}`, JSON.stringify(value));
    };
    const url = (key: string, value: string | undefined, required: string) => {
        if (value === undefined) throw new RotationInputError(`${NAMESPACE}:${key}`, `\`${NAMESPACE}:${key}\` is required for the \`${LOCAL_STACK}\` stack: ${required}`);
        if (!isLoopbackHost(new URL(value).hostname)) throw refuse(`${NAMESPACE}:${key}`, JSON.stringify(value));
    };
    url("aws.endpoint", settings.aws.endpoint, "a local AWS endpoint (moto), or Secrets Manager and ECS calls would go to AWS");
    url("r2.apiBaseUrl", settings.r2.apiBaseUrl, "a local Cloudflare API (the sandbox's double), or R2 tokens would be issued by Cloudflare");
    // Both would call AWS APIs with no endpoint of the stack's: the ElastiCache API, and Secrets Manager from the hooks.
    if (settings.redis.kind === "elasticache") {
        throw new RotationInputError(`${NAMESPACE}:redis.kind`, `\`${NAMESPACE}:redis.kind\` elasticache is not for the \`${LOCAL_STACK}\` stack: the sandbox runs a self-run Redis (\`acl\`)`);
    }
    if (Object.keys(settings.adminSecrets).length > 0) {
        throw new RotationInputError(`${NAMESPACE}:adminSecrets`, `\`${NAMESPACE}:adminSecrets\` is not for the \`${LOCAL_STACK}\` stack: the hooks would read them from AWS; the sandbox's admin credentials come from the environment`);
    }
    // The R2 probe's S3 endpoint comes from the environment (loopback-checked below); a run that would probe without
    // it is refused by the program (rotation/program.ts requireLocalR2Endpoint).
    host("database.host", settings.database.host);
    host("database.replicaHost", settings.database.replicaHost);
    host("database.pgbouncerHost", settings.database.pgbouncerHost);
    host("redis.host", settings.redis.host);
    url("typesense.url", settings.typesense.url, "");
    settings.health.urls.forEach((u, i) => url(`health.urls[${i}]`, u, ""));
    for (const [name, value] of Object.entries(env)) {
        if ((/^AWS_ENDPOINT_URL(_|$)/.test(name) || name === "ROTATION_R2_ENDPOINT") && nonEmpty(value) !== undefined) {
            let hostname = "";
            try {
                hostname = new URL(value!).hostname;
            } catch {
                // not a URL: refused below
            }
            if (!isLoopbackHost(hostname)) throw refuse(name, `(environment variable) ${JSON.stringify(value)}`);
        }
    }
}

/** Redirects the R2 probe's S3 requests (hooks/r2Probe.ts) away from `https://<account>.r2.cloudflarestorage.com`. */
export const R2_ENDPOINT_ENV = "ROTATION_R2_ENDPOINT";
/** Names the same endpoint to allow it for a stack other than `local` (tests), as ROTATION_ALLOW_AWS_ENDPOINT does. */
export const ALLOW_R2_ENDPOINT_ENV = "ROTATION_ALLOW_R2_ENDPOINT";

/**
 * `ROTATION_R2_ENDPOINT` follows the rule of `AWS_ENDPOINT_URL*`: an http(s) URL, loopback for the `local` stack, and
 * for any other stack only when `ROTATION_ALLOW_R2_ENDPOINT` names the same endpoint (tests), since it would prove the
 * new key against something else than R2.
 */
function checkR2Endpoint(env: EnvOverrides, local: boolean, stack: string | undefined): void {
    const value = nonEmpty(env[R2_ENDPOINT_ENV]);
    if (value === undefined) return;
    let hostname: string | undefined;
    try {
        const u = new URL(value);
        hostname = u.protocol === "https:" || u.protocol === "http:" ? u.hostname : undefined;
    } catch {
        hostname = undefined;
    }
    if (hostname === undefined) throw new RotationInputError(R2_ENDPOINT_ENV, `environment variable \`${R2_ENDPOINT_ENV}\` ${JSON.stringify(value)} is not an http(s) URL`);
    if (local ? !isLoopbackHost(hostname) : value !== env[ALLOW_R2_ENDPOINT_ENV]) {
        throw new RotationInputError(
            R2_ENDPOINT_ENV,
            `environment variable \`${R2_ENDPOINT_ENV}\` would prove stack ${stack ?? "?"}'s R2 keys against ${JSON.stringify(value)} instead of R2; it is allowed only for the \`${LOCAL_STACK}\` stack (loopback) or when \`${ALLOW_R2_ENDPOINT_ENV}\` names the same endpoint, for tests`,
        );
    }
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





/**
 * Applies the environment overrides (the seed's variables). Each is validated like the key it overrides, and one that
 * contradicts a value the stack file sets is an error naming both, unless `ROTATION_ENV_OVERRIDES=1` says the
 * environment wins: as with Pulumi's own config, the stack file is the source of truth.
 */
function applyEnv(parsed: Parsed, env: EnvOverrides, values: Record<string, unknown>): Settings {
    const policy = Object.fromEntries(GROUPS.map((g) => [g, parsed.policy[g] ?? "monthly"])) as Record<Group, PolicyPeriod>;
    const override = (name: "AWS_REGION" | "ECS_CLUSTER" | "K8S_CONTEXT", re: RegExp, what: string, key: string, fileValue: unknown): string | undefined => {
        const value = nonEmpty(env[name]);
        if (value === undefined) return undefined;
        if (!re.test(value)) throw new RotationInputError(name, `environment variable \`${name}\` ${JSON.stringify(value)} is not ${what}`);
        if (fileValue !== undefined && fileValue !== value && env.ROTATION_ENV_OVERRIDES !== "1") {
            throw new RotationInputError(
                name,
                `environment variable \`${name}\` ${JSON.stringify(value)} conflicts with \`${key}\` ${JSON.stringify(fileValue)} in the stack file; unset it, or set ROTATION_ENV_OVERRIDES=1 to let the environment win`,
            );
        }
        return value;
    };
    const section = (name: string) => (values[name] !== null && typeof values[name] === "object" ? (values[name] as Record<string, unknown>) : {});
    const region = override("AWS_REGION", AWS_REGION, "an AWS region", `${NAMESPACE}:aws.region`, section("aws").region);
    const cluster = override("ECS_CLUSTER", ECS_NAME, "an ECS cluster name", `${NAMESPACE}:ecs.cluster`, section("ecs").cluster);
    const context = override("K8S_CONTEXT", /^[\x21-\x7e]{1,253}$/, "a kubeconfig context name (one line, no spaces)", `${NAMESPACE}:kubernetes.context`, section("kubernetes").context);
    const k8s = parsed.kubernetes;
    return {
        ...parsed,
        policy,
        aws: { ...parsed.aws, region: region ?? parsed.aws.region },
        ecs: parsed.ecs && { ...parsed.ecs, cluster: cluster ?? parsed.ecs.cluster },
        kubernetes: k8s && {
            ...k8s,
            context: context ?? k8s.context,
        },
        r2: nonEmpty(env[R2_ENDPOINT_ENV]) === undefined ? parsed.r2 : { ...parsed.r2, endpoint: env[R2_ENDPOINT_ENV] },
    };
}

function nonEmpty(v: string | undefined): string | undefined {
    return v === undefined || v.trim() === "" ? undefined : v;
}
