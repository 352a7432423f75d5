/**
 * `bootstrap`: creates, idempotently, what the source appliers expect to exist — PostgreSQL's group role and its two
 * alternating login roles, and the Redis ACL user (enabled, with the stack's rules, no password yet). `--print`
 * shows the SQL and the ACL command instead, touching nothing. Admin credentials come from the environment
 * (ROTATION_PG_ADMIN_URL, ROTATION_REDIS_ADMIN_URL), never from the command line. A run that reaches the servers
 * (succeeded or failed) leaves an audit record, like every command that changes something.
 */
import { bootstrapPostgres, bootstrapSections, bootstrapSql } from "../../hooks/postgresApply";
import { bootstrapRedisUser } from "../../hooks/redisApply";
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
    if (args.print) {
        const sections = bootstrapSections(db.groupRole, roles, db.name, extras)
            .map((s) => `-- ${s.title}\n${s.sql.map((q) => `${q};`).join("\n")}`)
            .join("\n");
        result(io, args.json, () => `-- PostgreSQL (database ${db.name}), as an admin, in one transaction:\n${sections}\n\n# Redis, as an admin (only if the user does not exist yet):\n${acl}\n`, () => ({ stack, sql, redis: acl }));
        ctx.exitCode = EXIT.ok;
        return;
    }
    const pgUrl = io.env.ROTATION_PG_ADMIN_URL;
    const redisUrl = io.env.ROTATION_REDIS_ADMIN_URL;
    const missing = [!pgUrl && "ROTATION_PG_ADMIN_URL", !redisUrl && "ROTATION_REDIS_ADMIN_URL"].filter(Boolean);
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
    try {
        // The CLI's environment (CA bundles, TLS rules), not the process's: the same as the hooks would see.
        await bootstrapPostgres(pgUrl!, db.groupRole, roles, db.name, io.env, extras);
        progress(io, `PostgreSQL: group role ${db.groupRole} and login roles ${roles.join(", ")} are in place`);
        if (db.rotatorRole) progress(io, `PostgreSQL: rotator role ${db.rotatorRole} has what rotation needs (set its password yourself; it goes in ROTATION_PG_ADMIN_URL)`);
        if (db.legacyUser) progress(io, `PostgreSQL: ownership and privileges of legacy user ${db.legacyUser} moved to ${db.groupRole}; ${db.legacyUser} is a member of it and still logs in`);
        const created = await bootstrapRedisUser(redisUrl!, settings.redis.user, settings.redis.aclRules, io.env);
        progress(io, `Redis: ACL user ${settings.redis.user} ${created ? "created" : "already exists"}`);
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
                redis: { user: settings.redis.user, created },
            }),
        );
    } catch (err) {
        const message = (err as Error).message;
        // A refused target (a guardrail) or bad input (a plaintext admin URL) changed nothing: a usage error.
        const refused = err instanceof GuardrailError || err instanceof HookInputError;
        await audit(refused ? "refused" : "failed", message.split("\n")[0]);
        throw new CliError(refused ? EXIT.usage : EXIT.failed, message);
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
