/**
 * Which admin credential each group's apply-at-source step needs: the one list the program (which refuses an `up`
 * that lacks one) and the CLI's `preflight` (which checks before anything runs) both use. Pure.
 *
 * The variable names come from the code that reads them: each applier hook's contract (`adminEnv` in
 * hooks/contracts.ts: the hook inherits it from the environment of `pulumi up`), and for R2 the Cloudflare provider's
 * own token variable.
 *
 * A stack file may instead name a Secrets Manager secret per group (`rotation:adminSecrets.<group>`, read by the hook
 * when it runs: hooks/adminSecret.ts), and the `elasticache` Redis kind needs no admin credential at all (the hook
 * calls ModifyUser with the run's AWS credentials): `requiredAdminEnv` says what a given stack needs.
 */
import { postgresApplyContract, redisApplyContract, typesenseApplyContract } from "../hooks/contracts";
import { CLOUDFLARE_TOKEN_ENV } from "../hooks/adminEnv";
import { GROUPS, Group } from "./catalog";
import { isLoopbackHost } from "./rules";
import { ADMIN_SECRET_GROUPS, Settings } from "./settings";

export { CLOUDFLARE_TOKEN_ENV };

/**
 * The admin credential each group's apply-at-source step reads, or undefined where nothing is applied (JWT and API
 * keys: verifiers read both slots from the stores). A record over every group: a new group does not compile until
 * it says which.
 */
export const ADMIN_CREDENTIAL: Readonly<Record<Group, string | undefined>> = {
    database: postgresApplyContract.adminEnv,
    redis: redisApplyContract.adminEnv,
    jwt: undefined,
    "api-key": undefined,
    r2: CLOUDFLARE_TOKEN_ENV,
    typesense: typesenseApplyContract.adminEnv,
};

/** Every admin credential some live run may need, in group order. */
export const ADMIN_CREDENTIALS: readonly string[] = [...new Set(GROUPS.flatMap((g) => ADMIN_CREDENTIAL[g] ?? []))];

/** Where a group's applier gets its admin credential in one stack. */
export type AdminSource =
    /** An environment variable the hook inherits (`ADMIN_CREDENTIAL`). */
    | { readonly kind: "env"; readonly name: string }
    /** A Secrets Manager secret the hook reads when it runs. */
    | { readonly kind: "secret"; readonly arn: string }
    /** The run's own AWS credentials (ElastiCache's ModifyUser). */
    | { readonly kind: "aws" };

/** Where `group`'s applier gets its admin credential in the stack `settings` describe; undefined: it needs none. */
export function adminSource(settings: Settings, group: Group): AdminSource | undefined {
    if (group === "redis" && settings.redis.kind === "elasticache") return { kind: "aws" };
    const arn = (ADMIN_SECRET_GROUPS as readonly string[]).includes(group) ? settings.adminSecrets[group as (typeof ADMIN_SECRET_GROUPS)[number]] : undefined;
    if (arn !== undefined) return { kind: "secret", arn };
    const name = ADMIN_CREDENTIAL[group];
    return name === undefined ? undefined : { kind: "env", name };
}

/** The environment variable a live run that applies `group`'s slots needs in this stack, or undefined. */
export function requiredAdminEnv(settings: Settings, group: Group): string | undefined {
    const source = adminSource(settings, group);
    return source?.kind === "env" ? source.name : undefined;
}

/** Every admin secret ARN the stack names (for the IAM policy: the hooks call GetSecretValue on each). */
export function adminSecretArns(settings: Settings): string[] {
    return GROUPS.flatMap((g) => {
        const source = adminSource(settings, g);
        return source?.kind === "secret" ? [source.arn] : [];
    });
}

/**
 * The admin-secret inputs of an applier run of `group` (both undefined when the stack names no secret for it): the ARN,
 * and for URL credentials the endpoint from the stack file that the secret's username and password go into.
 * PostgreSQL: the writer host, `sslmode=verify-full` unless the host is loopback (the only modes the hook accepts for
 * an admin link: hooks/postgresApply.ts `pgConnection`). Redis: `rediss://` unless `tls` is off (only the `local`
 * stack may, and the hook refuses plain text to anything but loopback).
 */
export function adminSecretInputs(settings: Settings, group: "database" | "redis"): { adminSecretArn: string | undefined; adminEndpoint: string | undefined } {
    const arn = settings.adminSecrets[group];
    if (arn === undefined) return { adminSecretArn: undefined, adminEndpoint: undefined };
    if (group === "database") {
        const db = settings.database;
        const tls = isLoopbackHost(db.host) ? "" : "?sslmode=verify-full";
        return { adminSecretArn: arn, adminEndpoint: `postgresql://${db.host}:${db.port}/${encodeURIComponent(db.name)}${tls}` };
    }
    const r = settings.redis;
    return { adminSecretArn: arn, adminEndpoint: `${r.tls ? "rediss" : "redis"}://${r.host}:${r.port}/${r.db}` };
}
