/**
 * The environment variables that carry admin credentials, and what a hook program keeps of its environment.
 *
 * Pulumi runs every hook with the whole environment of `pulumi up` (pulumi-command v1.2.1
 * `provider/pkg/provider/local/commandOutputs.go`: `cmd.Env = os.Environ()`, then the Command's `environment`), so
 * without this each hook would hold every admin credential. `isolateHookEnvironment` leaves a hook only its own.
 *
 * Imports nothing: `hooks/isolateEnv.ts` runs it before any library of a hook program is loaded.
 */

/** The admin credential each hook that has one inherits (its contract's `adminEnv`, hooks/contracts.ts). */
export const HOOK_ADMIN_ENV = {
    postgresApply: "ROTATION_PG_ADMIN_URL",
    redisApply: "ROTATION_REDIS_ADMIN_URL",
    typesenseApply: "ROTATION_TYPESENSE_ADMIN_KEY",
} as const;

/**
 * The Cloudflare API token: read by the Cloudflare provider, never by a hook (@pulumi/cloudflare 6.22.1
 * provider.d.ts, `apiToken`: "can be configured using the `CLOUDFLARE_API_TOKEN` environment variable").
 */
export const CLOUDFLARE_TOKEN_ENV = "CLOUDFLARE_API_TOKEN";

/** Every admin credential variable: no hook may hold one but its own. */
export const ADMIN_CREDENTIAL_ENVS: readonly string[] = [...Object.values(HOOK_ADMIN_ENV), CLOUDFLARE_TOKEN_ENV];

/**
 * Variables that make a hook's libraries print what they send or stop checking certificates, removed from every hook:
 * - `DEBUG`: ioredis logs each command with its arguments, `AUTH` passwords included, through the `debug` package
 *   (ioredis 5.11.1 built/Redis.js: `debug("write command[%s]: %d -> %s(%o)", ..., command.args)`);
 * - `NODE_DEBUG`: Node's own protocol tracing (https://nodejs.org/api/cli.html#node_debugmodule);
 * - `NODE_TLS_REJECT_UNAUTHORIZED`: "0" disables certificate validation for every TLS connection that does not set
 *   `rejectUnauthorized` itself (https://nodejs.org/api/cli.html#node_tls_reject_unauthorizedvalue), e.g. `fetch`'s.
 */
export const UNSAFE_ENVS: readonly string[] = ["DEBUG", "NODE_DEBUG", "NODE_TLS_REJECT_UNAUTHORIZED"];

/** The hook programs, by file name under `hooks/` (the `HookName`s of hooks/contracts.ts). */
export const HOOK_PROGRAMS: readonly string[] = ["ecsRedeploy", "elasticacheApply", "healthCheck", "postgresApply", "r2Probe", "redisApply", "typesenseApply"];

/**
 * Removes from `env` every admin credential variable but `hook`'s own, and the `UNSAFE_ENVS`; returns the names it
 * removed (never a value).
 */
export function isolateHookEnvironment(hook: string, env: NodeJS.ProcessEnv): string[] {
    const own: string | undefined = (HOOK_ADMIN_ENV as Record<string, string>)[hook];
    const removed: string[] = [];
    for (const name of [...ADMIN_CREDENTIAL_ENVS, ...UNSAFE_ENVS]) {
        if (name !== own && name in env) {
            delete env[name];
            removed.push(name);
        }
    }
    return removed;
}
