/**
 * The catalog: which secrets exist, which group rotates each, and how each value comes to be.
 * Pure data; nothing here creates a resource or reads config.
 */

/** Rotation groups. A group rotates as a unit and carries its own stamp. */
export const GROUPS = ["database", "redis", "jwt", "api-key", "r2", "typesense"] as const;
export type Group = (typeof GROUPS)[number];

/** The two credential slots every group alternates between. */
export const SLOTS = ["a", "b"] as const;
export type Slot = (typeof SLOTS)[number];

/** The providers a store or consumer belongs to: AWS (Secrets Manager + ECS) and Kubernetes. */
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

/** The slot that is not `slot`. */
export function otherSlot(slot: Slot): Slot {
    return slot === "a" ? "b" : "a";
}

/** Where a published value comes from. */
export type ValueSource =
    /** The group's credential in the active slot (`current`) or the other one (`previous`). */
    | { readonly kind: "credential"; readonly slot: "current" | "previous"; readonly field: CredentialField }
    /** A connection URL composed from non-secret config and the active slot's credential. */
    | { readonly kind: "url"; readonly endpoint: Endpoint }
    /** The login role of the active slot (alternating roles: the user name changes with the slot). */
    | { readonly kind: "role" }
    /**
     * The key id of the active slot's key (`current`) or the other one's (`previous`): not secret, unique per key
     * (`<group>-<slot>-<generation>`), so verifiers pick the key a token names in its `kid` header.
     */
    | { readonly kind: "keyId"; readonly slot: "current" | "previous" };

/** The parts of a slot's credential. Most groups have one `secret`; R2 has an id and a secret. */
export type CredentialField = "secret" | "accessKeyId" | "secretAccessKey";

/** The connection endpoints a URL can be composed for. */
export type Endpoint = "primary" | "replica" | "pgbouncer" | "redis";

export interface SecretSpec {
    /** The name used everywhere: the suffix of the AWS secret name, the K8s Secret key. */
    readonly name: string;
    readonly group: Group;
    readonly purpose: string;
    readonly source: ValueSource;
}

const current = (field: CredentialField = "secret"): ValueSource => ({ kind: "credential", slot: "current", field });
const previous = (field: CredentialField = "secret"): ValueSource => ({ kind: "credential", slot: "previous", field });
const url = (endpoint: Endpoint): ValueSource => ({ kind: "url", endpoint });

/**
 * Every published secret, in a stable order: the seed's ten, plus companions the two-slot model needs —
 * `POSTGRES_USER` (with alternating roles the user name changes with the slot, so POSTGRES_PASSWORD alone is not
 * enough to log in) and the `*_PREVIOUS` keys that let verifiers accept the old JWT signing key and API key while
 * consumers roll.
 */
export const SECRETS: readonly SecretSpec[] = [
    { name: "POSTGRES_PASSWORD", group: "database", purpose: "Database user password", source: current() },
    { name: "POSTGRES_USER", group: "database", purpose: "Database login role that POSTGRES_PASSWORD belongs to", source: { kind: "role" } },
    { name: "DATABASE_URL", group: "database", purpose: "Primary PostgreSQL connection", source: url("primary") },
    { name: "DATABASE_REPLICA_URL", group: "database", purpose: "Replica DB connection", source: url("replica") },
    { name: "PGBOUNCER_URL", group: "database", purpose: "PgBouncer connection pool", source: url("pgbouncer") },
    { name: "REDIS_URL", group: "redis", purpose: "Redis cache connection", source: url("redis") },
    { name: "JWT_SECRET_KEY", group: "jwt", purpose: "JWT signing key", source: current() },
    { name: "JWT_SECRET_KEY_PREVIOUS", group: "jwt", purpose: "Previous JWT key, still accepted for verification", source: previous() },
    { name: "JWT_KEY_ID", group: "jwt", purpose: "Key id of JWT_SECRET_KEY: the `kid` header of tokens it signs", source: { kind: "keyId", slot: "current" } },
    { name: "JWT_KEY_ID_PREVIOUS", group: "jwt", purpose: "Key id of JWT_SECRET_KEY_PREVIOUS", source: { kind: "keyId", slot: "previous" } },
    { name: "BUYWHERE_API_KEY", group: "api-key", purpose: "API authentication", source: current() },
    { name: "BUYWHERE_API_KEY_PREVIOUS", group: "api-key", purpose: "Previous API key, still accepted", source: previous() },
    { name: "R2_ACCESS_KEY_ID", group: "r2", purpose: "Cloudflare R2 access", source: current("accessKeyId") },
    { name: "R2_SECRET_ACCESS_KEY", group: "r2", purpose: "Cloudflare R2 secret", source: current("secretAccessKey") },
    { name: "TYPESENSE_API_KEY", group: "typesense", purpose: "Typesense search API", source: current() },
];

/**
 * The generation label of a slot that holds the values in use before the stack's first deployment (`adopt`): its
 * credential is read from the secrets' AWSCURRENT versions, not generated. The first regeneration of the slot (the
 * second rotation after adoption) replaces the label, and with it the adopted values.
 */
export const ADOPTED_GENERATION = "adopted";

/**
 * The secrets whose values in use an adopted slot holds: the group's current credential, login role and URLs — not the
 * `*_PREVIOUS` ones nor the key ids, which the system before this one did not have.
 */
export function adoptedSecrets(group: Group): readonly SecretSpec[] {
    return SECRETS.filter((s) => s.group === group && (s.source.kind === "credential" ? s.source.slot === "current" : s.source.kind !== "keyId"));
}

/**
 * Adopted secrets the system before this one may not have had (it had the seed's ten): where a missing one's value in
 * use is read instead. POSTGRES_USER is the user of DATABASE_URL.
 */
export const ADOPTED_FALLBACK: Readonly<Record<string, { readonly secret: string; readonly part: "urlUser" }>> = {
    POSTGRES_USER: { secret: "DATABASE_URL", part: "urlUser" },
};

/**
 * Where each part of an adopted slot's credential is read: a secret's value, or the password inside a connection
 * URL (Redis has no secret of its own for it).
 */
export const ADOPTED_CREDENTIAL: Readonly<Record<Group, Partial<Record<CredentialField, { readonly secret: string; readonly part: "value" | "urlPassword" }>>>> = {
    database: { secret: { secret: "POSTGRES_PASSWORD", part: "value" } },
    redis: { secret: { secret: "REDIS_URL", part: "urlPassword" } },
    jwt: { secret: { secret: "JWT_SECRET_KEY", part: "value" } },
    "api-key": { secret: { secret: "BUYWHERE_API_KEY", part: "value" } },
    r2: { accessKeyId: { secret: "R2_ACCESS_KEY_ID", part: "value" }, secretAccessKey: { secret: "R2_SECRET_ACCESS_KEY", part: "value" } },
    typesense: { secret: { secret: "TYPESENSE_API_KEY", part: "value" } },
};

/** How a slot's random material is generated. Alphanumeric only, so values are safe in URLs and shells. */
export interface GenerationSpec {
    readonly length: number;
}

/** Random material per group. Lengths give >= 238 bits of entropy (62^40). */
export const GENERATION: Readonly<Record<Group, GenerationSpec>> = {
    database: { length: 40 },
    redis: { length: 40 },
    jwt: { length: 64 },
    "api-key": { length: 48 },
    r2: { length: 40 },
    typesense: { length: 40 },
};

/**
 * How each group's slots come to be and are made valid where they are checked. A `Record` over every group, so a
 * new group does not compile until it says both.
 * - `credential`: `random` (a RandomPassword per slot) or `cloudflareToken` (Cloudflare issues an account token per
 *   slot: R2's access key id is its id, the secret its value's SHA-256).
 * - `source`: the applier that makes a slot valid at its source, or `none` where verifiers read the stores
 *   themselves (JWT and API keys publish `*_PREVIOUS`).
 */
export const GROUP_SOURCES = {
    database: { credential: "random", source: "postgres" },
    redis: { credential: "random", source: "redisAcl" },
    jwt: { credential: "random", source: "none" },
    "api-key": { credential: "random", source: "none" },
    r2: { credential: "cloudflareToken", source: "cloudflare" },
    typesense: { credential: "random", source: "typesenseKeys" },
} as const satisfies Record<Group, { credential: "random" | "cloudflareToken"; source: "postgres" | "redisAcl" | "typesenseKeys" | "cloudflare" | "none" }>;
