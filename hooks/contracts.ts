/**
 * One contract per hook program: the environment variables it reads, each with a zod codec between the string in
 * the environment and the typed value. The component that runs a hook encodes its inputs with the contract
 * (`encodeField`, field by field so a secret input stays secret and a plain one stays readable in previews), and the
 * hook decodes them with the same contract (`fromEnv`). Nothing else names a hook's variables.
 *
 * Inputs arrive in the environment, never on the command line. Admin credentials are not inputs: each hook inherits
 * its own (`adminEnv`) from the environment `pulumi up` runs in, so they never enter the stack's state; every other
 * admin credential is removed from a hook's environment before it runs (hooks/isolateEnv.ts).
 */
import { z } from "zod";
import { AWS_REGION, ECS_NAME, ELASTICACHE_USER_ID, PG_IDENT, REDIS_USER, SECRET_ARN, httpUrl, matching } from "../rotation/rules";
import { HOOK_ADMIN_ENV } from "./adminEnv";
import { HookInputError } from "./hookRuntime";

/** The hook programs, by file name under `hooks/`. */
export type HookName = "ecsRedeploy" | "elasticacheApply" | "healthCheck" | "postgresApply" | "r2Probe" | "redisApply" | "typesenseApply";

/** A schema whose input is the string in the environment. */
type EnvCodec = z.ZodType<unknown, string>;

export interface Field<S extends EnvCodec = EnvCodec> {
    /** The environment variable. */
    readonly env: string;
    readonly schema: S;
    /** The value is a credential: the component passes it as a Pulumi secret. */
    readonly secret: boolean;
    /** Missing is allowed (the hook gets `undefined`). */
    readonly optional: boolean;
}

export interface HookContract<F extends Record<string, Field> = Record<string, Field>> {
    readonly hook: HookName;
    readonly fields: F;
    /** The admin credential this hook (and only this hook) inherits from the environment. */
    readonly adminEnv?: string;
    /**
     * A rule across fields, checked by `fromEnv` once every field decoded: what is wrong (naming the variables, never
     * a secret's value), or undefined. Its parameter is the decoded input (typed by each contract).
     */
    readonly check?: (input: never) => string | undefined;
}

/** The typed inputs of a hook. */
export type HookInput<C extends HookContract> = {
    readonly [K in keyof C["fields"] as C["fields"][K]["optional"] extends true ? never : K]: z.output<C["fields"][K]["schema"]>;
} & {
    readonly [K in keyof C["fields"] as C["fields"][K]["optional"] extends true ? K : never]?: z.output<C["fields"][K]["schema"]>;
};

/** The decoded type of one field. */
export type FieldValue<C extends HookContract, K extends keyof C["fields"]> = z.output<C["fields"][K]["schema"]>;

function field<S extends EnvCodec>(env: string, schema: S): Field<S> & { optional: false; secret: false } {
    return { env, schema, secret: false, optional: false };
}
const secret = <S extends EnvCodec>(f: Field<S>) => ({ ...f, secret: true as const });
const optional = <S extends EnvCodec>(f: Field<S>) => ({ ...f, optional: true as const });

const text = () => z.string().min(1, { error: "must not be empty" });

/** A yes/no in the environment (`"true"`, `"false"`). */
const flag = () =>
    z.codec(z.string(), z.boolean(), {
        decode: (s, ctx) => {
            if (s === "true" || s === "false") return s === "true";
            ctx.issues.push({ code: "custom", input: s, message: `must be true or false (got ${JSON.stringify(s)})` });
            return z.NEVER;
        },
        encode: (b) => String(b),
    });

/** A number in the environment (`"15"`, `"0.5"`). */
function num(inner: z.ZodNumber, what: string) {
    return z.codec(z.string(), inner, {
        decode: (s, ctx) => {
            const n = Number(s);
            if (s.trim() === "" || !Number.isFinite(n)) {
                ctx.issues.push({ code: "custom", input: s, message: `must be ${what} (got ${JSON.stringify(s)})` });
                return z.NEVER;
            }
            return n;
        },
        encode: (n) => String(n),
    });
}
const positive = (what = "a positive number") => num(z.number().positive({ error: `must be ${what}` }), what);
const whole = (min: number, max: number) => {
    const what = `a whole number from ${min} to ${max}`;
    return num(z.number().int({ error: `must be ${what}` }).min(min, { error: `must be ${what}` }).max(max, { error: `must be ${what}` }), what);
};

/** A JSON list of strings in the environment (`'["a","b"]'`); each item then meets `item`. */
function list<T extends EnvCodec>(item: T, what: string) {
    const problem = `must be a non-empty JSON list of ${what}`;
    return z.codec(z.string(), z.array(item, { error: problem }).min(1, { error: problem }), {
        decode: (s, ctx) => {
            let value: unknown;
            try {
                value = JSON.parse(s);
            } catch {
                value = undefined;
            }
            // The shape is checked here, so a list of numbers gets this message rather than zod's per-item one.
            if (!Array.isArray(value) || !value.every((v): v is string => typeof v === "string")) {
                ctx.issues.push({ code: "custom", input: s, message: problem });
                return z.NEVER;
            }
            return value as z.input<T>[]; // T's input is a string (EnvCodec), which TS cannot see through the generic
        },
        encode: (v) => JSON.stringify(v),
    });
}

/**
 * A password whose SASLprep (RFC 4013) is itself, so the SCRAM verifier `postgresApply` computes without SASLprep is
 * the one every client derives at login: PostgreSQL returns pure-ASCII input unchanged (postgres/postgres
 * src/common/saslprep.c, `pg_saslprep`), and RFC 4013 maps no printable ASCII character. The program's passwords are
 * alphanumeric.
 */
const scramSafe = () => text().regex(/^[\x20-\x7e]+$/, { error: "must be printable ASCII" });

/**
 * The ARN of a Secrets Manager secret holding the hook's admin credential (`rotation:adminSecrets.<group>`), read by
 * the hook when it runs (hooks/adminSecret.ts). A plain input: the ARN names the secret, it is not one.
 */
const adminSecretArn = (env: string) => optional(field(env, matching(SECRET_ARN, "a Secrets Manager secret's complete ARN")));
/** The URL without credentials that the admin secret's username and password go into (from the stack file). */
const adminEndpoint = (env: string) => optional(field(env, text()));
/** An admin secret needs its endpoint, and an endpoint is only for an admin secret. */
const adminSecretPair =
    (arnEnv: string, endpointEnv: string) =>
    (input: { readonly adminSecretArn?: string; readonly adminEndpoint?: string }): string | undefined =>
        (input.adminSecretArn === undefined) === (input.adminEndpoint === undefined) ? undefined : `${arnEnv} and ${endpointEnv} must be given together`;

/** `host:port` in the environment (`"db-ro.example.com:5432"`). */
const hostPort = () =>
    z.codec(z.string(), z.object({ host: z.string(), port: z.number() }), {
        decode: (s, ctx) => {
            const m = /^([A-Za-z0-9.-]{1,253}):(\d{1,5})$/.exec(s);
            if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) {
                ctx.issues.push({ code: "custom", input: s, message: `must be host:port (got ${JSON.stringify(s)})` });
                return z.NEVER;
            }
            return { host: m[1], port: Number(m[2]) };
        },
        encode: (v) => `${v.host}:${v.port}`,
    });

/** PgBouncer in auth_file mode, as JSON in the environment (the stack file's `rotation:database.pgbouncer`). */
const pgbouncerMode = z.object({
    host: z.string().regex(/^[A-Za-z0-9.-]{1,253}$/),
    port: z.number().int().min(1).max(65535),
    adminUser: z.string().regex(/^[A-Za-z0-9_.-]{1,63}$/),
    database: z.string().regex(PG_IDENT),
    authFile: z.union([
        z.object({ path: z.string().regex(/^\/[^\0\n]+$/) }).strict(),
        z.object({ secret: z.object({ namespace: z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/), name: z.string().regex(/^[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?$/), key: z.string().regex(/^[-._a-zA-Z0-9]{1,253}$/) }).strict() }).strict(),
    ]),
    reloadTimeoutSeconds: z.number().int().min(1).max(3600),
    /** The kubeconfig context of the cluster holding the Secret (`rotation:kubernetes.context`). */
    context: z.string().regex(/^[\x21-\x7e]{1,253}$/).optional(),
}).strict();
const pgbouncerJson = () =>
    z.codec(z.string(), pgbouncerMode, {
        decode: (s, ctx) => {
            try {
                return JSON.parse(s);
            } catch {
                ctx.issues.push({ code: "custom", input: s, message: "must be JSON" });
                return z.NEVER;
            }
        },
        encode: (v) => JSON.stringify(v),
    });

/** `postgresApply`: set one slot role's password (SCRAM verifier computed client-side) and prove the login. */
export const postgresApplyContract = {
    hook: "postgresApply",
    adminEnv: HOOK_ADMIN_ENV.postgresApply,
    fields: {
        role: field("PG_ROLE", matching(PG_IDENT, "a PostgreSQL role name")),
        password: secret(field("PG_PASSWORD", scramSafe())),
        /** After applying, end every open session of the role (a retired, possibly leaked credential). */
        endSessions: optional(field("PG_END_SESSIONS", flag())),
        /** The replica endpoint (Aurora `cluster-ro-`) the role must also log in through before anything is published. */
        replica: optional(field("PG_REPLICA", hostPort())),
        /** PgBouncer in auth_file mode: write the verifier into its userlist, RELOAD, log in through it (hooks/pgbouncerAuthFile.ts). */
        pgbouncer: optional(field("PG_PGBOUNCER", pgbouncerJson())),
        /** A read/write canary as the role on `rotation_canary` (created by `bootstrap`). */
        canary: optional(field("PG_CANARY", flag())),
        /** The adopted legacy login to retire once the slot is applied: NOLOGIN, then its sessions are ended. */
        retireLogin: optional(field("PG_RETIRE_LOGIN", matching(PG_IDENT, "a PostgreSQL role name"))),
        adminSecretArn: adminSecretArn("ROTATION_PG_ADMIN_SECRET_ARN"),
        adminEndpoint: adminEndpoint("PG_ADMIN_ENDPOINT"),
    },
    check: adminSecretPair("ROTATION_PG_ADMIN_SECRET_ARN", "PG_ADMIN_ENDPOINT"),
} as const satisfies HookContract;

/** `redisApply`: the ACL user holds exactly the two slots' passwords. */
export const redisApplyContract = {
    hook: "redisApply",
    adminEnv: HOOK_ADMIN_ENV.redisApply,
    fields: {
        user: field("REDIS_USER", matching(REDIS_USER, "a Redis ACL user name")),
        passwordA: secret(field("REDIS_PASSWORD_A", text())),
        passwordB: secret(field("REDIS_PASSWORD_B", text())),
        /** After applying, close every connection of the user (a retired, possibly leaked password); clients reconnect. */
        endSessions: optional(field("REDIS_END_SESSIONS", flag())),
        adminSecretArn: adminSecretArn("ROTATION_REDIS_ADMIN_SECRET_ARN"),
        adminEndpoint: adminEndpoint("REDIS_ADMIN_ENDPOINT"),
    },
    check: adminSecretPair("ROTATION_REDIS_ADMIN_SECRET_ARN", "REDIS_ADMIN_ENDPOINT"),
} as const satisfies HookContract;

/**
 * `elasticacheApply`: the ElastiCache RBAC user holds exactly the two slots' passwords (ModifyUser), is `active` again,
 * and AUTHs with both over TLS. No admin credential: the AWS SDK uses the run's own AWS credentials.
 */
export const elasticacheApplyContract = {
    hook: "elasticacheApply",
    fields: {
        region: field("AWS_REGION", matching(AWS_REGION, "an AWS region")),
        userId: field("ELASTICACHE_USER_ID", matching(ELASTICACHE_USER_ID, "an ElastiCache user id")),
        user: field("REDIS_USER", matching(REDIS_USER, "a Redis ACL user name")),
        /** Where the AUTH proof connects: `rediss://<host>:<port>` (plain `redis://` only for a loopback host). */
        endpoint: field("REDIS_ENDPOINT", text()),
        passwordA: secret(field("REDIS_PASSWORD_A", text())),
        passwordB: secret(field("REDIS_PASSWORD_B", text())),
        modifyTimeoutSeconds: field("ELASTICACHE_MODIFY_TIMEOUT_SECONDS", positive()),
        pollSeconds: field("ELASTICACHE_POLL_SECONDS", positive()),
        /** `revoke`: the caller asked to end the user's sessions (ElastiCache gives this hook no way to: see the hook). */
        endSessions: optional(field("REDIS_END_SESSIONS", flag())),
    },
    check: (input: { readonly modifyTimeoutSeconds: number; readonly pollSeconds: number }) =>
        input.pollSeconds < input.modifyTimeoutSeconds ? undefined : "ELASTICACHE_POLL_SECONDS must be less than ELASTICACHE_MODIFY_TIMEOUT_SECONDS",
} as const satisfies HookContract;

/** `typesenseApply`: register a slot's key, then delete the slot's older keys. */
export const typesenseApplyContract = {
    hook: "typesenseApply",
    adminEnv: HOOK_ADMIN_ENV.typesenseApply,
    fields: {
        url: field("TYPESENSE_URL", httpUrl),
        /** The admin key read from this secret (its SecretString is the key) instead of ROTATION_TYPESENSE_ADMIN_KEY. */
        adminSecretArn: adminSecretArn("ROTATION_TYPESENSE_ADMIN_SECRET_ARN"),
        stack: field("TYPESENSE_STACK", text()),
        slot: field("TYPESENSE_SLOT", z.enum(["a", "b"], { error: "must be a or b" })),
        stamp: field("TYPESENSE_SLOT_STAMP", text()),
        value: secret(field("TYPESENSE_KEY_VALUE", text())),
        actions: field("TYPESENSE_ACTIONS", list(text(), "strings")),
        collections: field("TYPESENSE_COLLECTIONS", list(text(), "strings")),
        /** How long the new key may take to be accepted by a search on every collection (default 60 s). */
        proofTimeoutSeconds: optional(field("TYPESENSE_PROOF_TIMEOUT_SECONDS", positive())),
        /** The adopted legacy key's id, deleted once the slot's new key is proven. */
        retireKeyId: optional(field("TYPESENSE_RETIRE_KEY_ID", positive("a key id"))),
    },
} as const satisfies HookContract;

/**
 * `r2Probe`: sign S3 requests with a slot's new R2 key (access key id = the token's id, secret = SHA-256 of its value)
 * against the account's R2 endpoint, for every bucket, before the key is published. No admin credential: it holds
 * only the slot's own key.
 */
export const r2ProbeContract = {
    hook: "r2Probe",
    fields: {
        accountId: field("R2_ACCOUNT_ID", matching(/^[0-9a-f]{32}$/, "a Cloudflare account id (32 hex characters)")),
        /** Only to point the probe at a test endpoint (`ROTATION_R2_ENDPOINT`, rotation/settings.ts). */
        endpoint: optional(field("R2_ENDPOINT", httpUrl)),
        slot: field("R2_SLOT", z.enum(["a", "b"], { error: "must be a or b" })),
        buckets: field("R2_BUCKETS", list(text(), "bucket names")),
        /** The token may write (Item Write): prove it with a put/get/delete of a probe object, not only HeadBucket. */
        write: field("R2_WRITE", flag()),
        accessKeyId: secret(field("R2_PROBE_ACCESS_KEY_ID", text())),
        secretAccessKey: secret(field("R2_PROBE_SECRET_ACCESS_KEY", text())),
        timeoutSeconds: optional(field("R2_PROBE_TIMEOUT_SECONDS", positive())),
    },
} as const satisfies HookContract;

const ecsRedeployFields = {
    region: field("AWS_REGION", matching(AWS_REGION, "an AWS region")),
    cluster: field("ECS_CLUSTER", matching(ECS_NAME, "an ECS cluster name")),
    service: field("ECS_SERVICE", matching(ECS_NAME, "an ECS service name")),
    trigger: optional(field("ECS_TRIGGER", text())),
    stableTimeoutSeconds: field("ECS_STABLE_TIMEOUT_SECONDS", positive()),
    pollSeconds: field("ECS_POLL_SECONDS", positive()),
    /** The account the service must be in: the hook refuses credentials of any other (STS GetCallerIdentity). */
    accountId: optional(field("ECS_ACCOUNT_ID", matching(/^\d{12}$/, "an AWS account id (12 digits)"))),
    /** A local AWS endpoint for ECS and STS (`rotation:aws.endpoint`, the `local` stack only); default AWS's own. */
    endpoint: optional(field("ECS_AWS_ENDPOINT", httpUrl)),
};

/** `ecsRedeploy`: force a new deployment of one service and wait until it is stable. */
export const ecsRedeployContract = {
    hook: "ecsRedeploy",
    fields: ecsRedeployFields,
    // The SDK's waiter refuses a poll interval that is not shorter than its bound (@smithy/core
    // dist-es/submodules/client/util-waiter/utils/validate.js: maxWaitTime must be greater than minDelay).
    check: (input: { readonly stableTimeoutSeconds: number; readonly pollSeconds: number }) =>
        input.pollSeconds < input.stableTimeoutSeconds
            ? undefined
            : `${ecsRedeployFields.pollSeconds.env} (${input.pollSeconds}) must be less than ${ecsRedeployFields.stableTimeoutSeconds.env} (${input.stableTimeoutSeconds})`,
} as const satisfies HookContract;

/** `healthCheck`: every URL answers the expected status `requiredSuccesses` times in a row. */
export const healthCheckContract = {
    hook: "healthCheck",
    fields: {
        urls: field("HEALTH_URLS", list(httpUrl, "http(s) URLs")),
        expectStatus: field("HEALTH_EXPECT_STATUS", whole(100, 599)),
        attempts: field("HEALTH_ATTEMPTS", whole(1, 100)),
        requiredSuccesses: field("HEALTH_REQUIRED_SUCCESSES", whole(1, 10)),
        initialBackoffSeconds: field("HEALTH_INITIAL_BACKOFF_SECONDS", positive()),
        maxBackoffSeconds: field("HEALTH_MAX_BACKOFF_SECONDS", positive()),
        timeoutSeconds: field("HEALTH_TIMEOUT_SECONDS", positive()),
    },
} as const satisfies HookContract;

/** Every contract, by hook. */
export const CONTRACTS = {
    postgresApply: postgresApplyContract,
    redisApply: redisApplyContract,
    elasticacheApply: elasticacheApplyContract,
    typesenseApply: typesenseApplyContract,
    r2Probe: r2ProbeContract,
    ecsRedeploy: ecsRedeployContract,
    healthCheck: healthCheckContract,
} as const satisfies Record<HookName, HookContract>;

/** One input as the string the hook's environment carries. */
export function encodeField<C extends HookContract, K extends keyof C["fields"] & string>(contract: C, key: K, value: FieldValue<C, K>): string {
    return z.encode(contract.fields[key].schema, value as never) as string;
}

/** Every input as the environment the hook runs with (fields left `undefined` are left out). */
export function toEnv<C extends HookContract>(contract: C, input: HookInput<C>): Record<string, string> {
    const env: Record<string, string> = {};
    for (const [key, f] of Object.entries(contract.fields)) {
        const value = (input as Record<string, unknown>)[key];
        if (value !== undefined) env[f.env] = encodeField(contract, key as never, value as never);
    }
    return env;
}

/**
 * The hook's inputs, decoded from its environment.
 *
 * @throws HookInputError naming the first variable that is missing or malformed, or the variables a cross-field
 *         `check` refuses (exit code 2); the message never holds a value of a secret field.
 */
export function fromEnv<C extends HookContract>(contract: C, env: NodeJS.ProcessEnv): HookInput<C> {
    const out: Record<string, unknown> = {};
    for (const [key, f] of Object.entries(contract.fields)) {
        const raw = env[f.env];
        if (raw === undefined || raw.trim() === "") {
            if (f.optional) continue;
            throw new HookInputError(`environment variable ${f.env} is required`);
        }
        const result = f.schema.safeParse(raw);
        if (!result.success) {
            const message = f.secret ? "is not valid" : result.error.issues[0].message;
            throw new HookInputError(`environment variable ${f.env} ${message}`);
        }
        out[key] = result.data;
    }
    const problem = contract.check?.(out as never);
    if (problem !== undefined) throw new HookInputError(`environment variable ${problem}`);
    return out as HookInput<C>;
}

/** The admin credential a hook inherits; required when the hook runs. */
export function adminCredential(contract: HookContract, env: NodeJS.ProcessEnv): string {
    const name = contract.adminEnv;
    if (!name) throw new Error(`hook ${contract.hook} has no admin credential`);
    const value = env[name];
    if (value === undefined || value.trim() === "") throw new HookInputError(`environment variable ${name} is required`);
    return value;
}

/**
 * The admin credential a hook inherits, removed from `env` once read: the hook's libraries, and any process it
 * started, never see it in the environment again.
 */
export function takeAdminCredential(contract: HookContract, env: NodeJS.ProcessEnv): string {
    const value = adminCredential(contract, env);
    delete env[contract.adminEnv!];
    return value;
}

/** Ambient credentials a hook may hold besides its inputs (the AWS SDK's, for `ecsRedeploy`). */
const AMBIENT_SECRET_ENVS = ["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"];

/**
 * Every secret value a hook holds, for `runHook` to redact from what it prints: its secret inputs, its admin
 * credential and, when that is a URL, the password in it (decoded and as written).
 */
export function hookSecrets(contract: HookContract, env: NodeJS.ProcessEnv): string[] {
    const names = [
        ...Object.values(contract.fields)
            .filter((f) => f.secret)
            .map((f) => f.env),
        ...(contract.adminEnv ? [contract.adminEnv] : []),
        ...AMBIENT_SECRET_ENVS,
    ];
    const values = names.map((n) => env[n]).filter((v): v is string => v !== undefined && v !== "");
    const admin = contract.adminEnv ? env[contract.adminEnv] : undefined;
    if (admin) {
        try {
            const password = new URL(admin).password;
            if (password) values.push(password);
            values.push(decodeURIComponent(password));
        } catch {
            /* not a URL (a key), or its password is malformed: the value as a whole is redacted */
        }
    }
    return values.filter((v) => v !== "");
}
