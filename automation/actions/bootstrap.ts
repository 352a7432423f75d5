/**
 * `bootstrap`: creates, idempotently, what the source appliers expect to exist — PostgreSQL's group role and its two
 * alternating login roles, and the Redis user: with `rotation:redis.kind: acl` an ACL user (enabled, with the stack's
 * rules, no password yet) through ROTATION_REDIS_ADMIN_URL; with `elasticache` an RBAC user created through the
 * ElastiCache API with the run's AWS credentials and added to the cache's user group (automation/elasticacheBootstrap.ts:
 * ElastiCache refuses passwords in `ACL SETUSER`, so no Redis admin URL is needed or used). `--print` shows the SQL and
 * the ACL command or the ElastiCache calls instead, touching nothing. Admin credentials come from the environment
 * (ROTATION_PG_ADMIN_URL, ROTATION_REDIS_ADMIN_URL), never from the command line. A run that reaches the servers
 * (succeeded or failed) leaves an audit record, like every command that changes something.
 */
import { bootstrapPostgres, bootstrapSections, bootstrapSql } from "../../hooks/postgresApply";
import { ElastiCacheClient } from "@aws-sdk/client-elasticache";
import { adminCredentialOf } from "../../hooks/adminSecret";
import { postgresApplyContract, redisApplyContract } from "../../hooks/contracts";
import { adminSecretInputs } from "../../rotation/adminCredentials";
import { bootstrapRedisUser } from "../../hooks/redisApply";
import { ElastiCacheBootstrapTarget, bootstrapElastiCacheUser, checkElastiCacheBootstrap, elasticacheBootstrapPlan } from "../elasticacheBootstrap";
import { GuardrailError, HookInputError } from "../../hooks/hookRuntime";
import { AuditRecord, Outcome, actor, writeAudit } from "../audit";
import { CliContext, GlobalArgs, progress, result } from "../context";
import { CliError, EXIT } from "../errors";
import { loadSettings, requireStack } from "../stacks";

export interface BootstrapArgs extends GlobalArgs {
    readonly print: boolean;
}

export async function runBootstrap(ctx: CliContext, args: BootstrapArgs): Promise<void> {
    const { io } = ctx;
    const stack = requireStack(args.stack);
    const settings = loadSettings(stack, io.env);
    const db = settings.database;
    const roles = [db.roles.a, db.roles.b];
    // The rotator, the legacy user's migration and the canary table, as the stack file asks (rotation:database).
    const extras = { rotator: db.rotatorRole, legacyUser: db.legacyUser, canary: db.canary };
    const sql = bootstrapSql(db.groupRole, roles, db.name, extras);
    const acl = `ACL SETUSER ${settings.redis.user} on resetpass ${settings.redis.aclRules.join(" ")}`;
    const r = settings.redis;
    // The ElastiCache kind's user: its id and group come from the stack file (validated there: userId is required).
    const ec: ElastiCacheBootstrapTarget | undefined =
        r.kind === "elasticache"
            ? { region: settings.aws.region, userId: r.userId!, userName: r.user, userGroupId: r.userGroupId ?? "<rotation:redis.userGroupId>", aclRules: r.aclRules }
            : undefined;
    if (args.print) {
        const sections = bootstrapSections(db.groupRole, roles, db.name, extras)
            .map((s) => `-- ${s.title}\n${s.sql.map((q) => `${q};`).join("\n")}`)
            .join("\n");
        const pgText = `-- PostgreSQL (database ${db.name}), as an admin, in one transaction:\n${sections}\n\n`;
        if (ec) {
            const plan = elasticacheBootstrapPlan(ec);
            result(io, args.json, () => `${pgText}${plan.text}`, () => ({ stack, sql, redis: plan.json }));
        } else {
            result(io, args.json, () => `${pgText}# Redis, as an admin (only if the user does not exist yet):\n${acl}\n`, () => ({ stack, sql, redis: acl }));
        }
        ctx.exitCode = EXIT.ok;
        return;
    }
    if (ec && r.userGroupId === undefined) {
        throw new CliError(EXIT.usage, "bootstrap with `rotation:redis.kind` elasticache needs `rotation:redis.userGroupId`: the cache's user group the user is added to (or use --print)");
    }
    // An admin credential is the variable or, where the stack file names one (`rotation:adminSecrets.<group>`), the
    // Secrets Manager secret read now, as the hooks read it (hooks/adminSecret.ts: both at once is refused there).
    const pgSecret = settings.adminSecrets.database !== undefined;
    const redisSecret = !ec && settings.adminSecrets.redis !== undefined;
    const pgEnv = io.env.ROTATION_PG_ADMIN_URL;
    const redisEnv = io.env.ROTATION_REDIS_ADMIN_URL;
    // The ElastiCache kind needs no Redis admin login: its user is created through the API (AWS credentials).
    const missing = [!pgSecret && !pgEnv && "ROTATION_PG_ADMIN_URL", !ec && !redisSecret && !redisEnv && "ROTATION_REDIS_ADMIN_URL"].filter(Boolean);
    if (missing.length > 0) {
        throw new CliError(EXIT.usage, `bootstrap needs the admin credentials in the environment: ${missing.join(", ")} (or use --print)`);
    }
    const started = Date.now();
    const now = io.now();
    const audit = (outcome: Outcome, error?: string) =>
        writeAudit(bootstrapRecord(stack, outcome, Date.now() - started, io.env, now, error), {
            env: io.env,
            region: settings.aws.region,
            warn: (m) => progress(io, m),
        });
    // The endpoint the stack file's checks allowed (AWS_ENDPOINT_URL_ELASTICACHE / AWS_ENDPOINT_URL: local stack or
    // ROTATION_ALLOW_AWS_ENDPOINT only), taken from the CLI's environment as the hooks would see it.
    const ecEndpoint = io.env.AWS_ENDPOINT_URL_ELASTICACHE || io.env.AWS_ENDPOINT_URL || undefined;
    const ecClient = ec ? new ElastiCacheClient({ region: ec.region, ...(ecEndpoint ? { endpoint: ecEndpoint } : {}) }) : undefined;
    try {
        const pgUrl = pgSecret ? await adminCredentialOf(postgresApplyContract, adminSecretInputs(settings, "database"), "url", { ...io.env }) : pgEnv!;
        const redisUrl = redisSecret ? await adminCredentialOf(redisApplyContract, adminSecretInputs(settings, "redis"), "url", { ...io.env }) : redisEnv;
        // ElastiCache's user group and user id are judged before anything changes, PostgreSQL included.
        if (ec) await checkElastiCacheBootstrap({ ...ec, client: ecClient! });
        // The CLI's environment (CA bundles, TLS rules), not the process's: the same as the hooks would see.
        await bootstrapPostgres(pgUrl, db.groupRole, roles, db.name, io.env, extras);
        progress(io, `PostgreSQL: group role ${db.groupRole} and login roles ${roles.join(", ")} are in place`);
        if (db.rotatorRole) progress(io, `PostgreSQL: rotator role ${db.rotatorRole} has what rotation needs (set its password yourself; it goes in ROTATION_PG_ADMIN_URL)`);
        if (db.legacyUser) progress(io, `PostgreSQL: ownership and privileges of legacy user ${db.legacyUser} moved to ${db.groupRole}; ${db.legacyUser} is a member of it and still logs in`);
        let created: boolean;
        let redisDoc: object;
        if (ec) {
            const done = await bootstrapElastiCacheUser({
                ...ec,
                client: ecClient!,
                timeoutMs: r.modifyTimeoutSeconds * 1000,
                pollMs: r.pollSeconds * 1000,
                log: (line) => progress(io, `Redis: ${line}`),
            });
            created = done.created;
            progress(io, `Redis: ElastiCache user ${ec.userId} (${ec.userName}) ${created ? "created" : "already exists"}; in user group ${ec.userGroupId}${done.addedToGroup ? " (added)" : ""}`);
            redisDoc = { kind: "elasticache", userId: ec.userId, user: ec.userName, userGroupId: ec.userGroupId, created, addedToGroup: done.addedToGroup };
        } else {
            created = await bootstrapRedisUser(redisUrl!, settings.redis.user, settings.redis.aclRules, io.env);
            progress(io, `Redis: ACL user ${settings.redis.user} ${created ? "created" : "already exists"}`);
            redisDoc = { user: settings.redis.user, created };
        }
        result(
            io,
            args.json,
            () => `bootstrap of ${stack} done: PostgreSQL roles ${[db.groupRole, ...roles].join(", ")}; Redis user ${settings.redis.user} (${created ? "created" : "existed"})\n`,
            () => ({
                stack,
                postgres: {
                    groupRole: db.groupRole,
                    roles,
                    ...(db.rotatorRole ? { rotator: db.rotatorRole } : {}),
                    ...(db.legacyUser ? { legacyUser: db.legacyUser } : {}),
                    ...(db.canary ? { canary: "public.rotation_canary" } : {}),
                },
                redis: redisDoc,
            }),
        );
    } catch (err) {
        const message = (err as Error).message;
        // A refused target (a guardrail) or bad input (a plaintext admin URL) changed nothing: a usage error.
        const refused = err instanceof GuardrailError || err instanceof HookInputError;
        await audit(refused ? "refused" : "failed", message.split("\n")[0]);
        throw new CliError(refused ? EXIT.usage : EXIT.failed, message);
    } finally {
        ecClient?.destroy();
    }
    await audit("succeeded");
    ctx.exitCode = EXIT.ok;
}

/** The audit record of a bootstrap: the two groups whose source identities it creates; no stamp moves. */
function bootstrapRecord(stack: string, outcome: Outcome, durationMs: number, env: NodeJS.ProcessEnv, now: Date, error?: string): AuditRecord {
    return {
        time: now.toISOString(),
        actor: actor(env),
        stack,
        command: "bootstrap",
        provider: "all",
        groups: ["database", "redis"],
        stamps: {},
        restarts: [],
        outcome,
        changes: {},
        durationMs,
        ...(error ? { error } : {}),
    };
}
