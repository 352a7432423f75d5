/**
 * Which admin credentials a live run needs in its environment. A run that regenerates a group's slot must make it
 * valid at its source first, with that source's admin credential; the program refuses such an `up` when the
 * variable is missing (rotation/program.ts, `requireAdminCredentials`), and `preflight` checks the same before
 * anything runs. Pure.
 *
 * The variable names come from the code that reads them, not from a list kept here: each applier hook's contract
 * (`adminEnv` in hooks/contracts.ts: the hook inherits it from the environment of `pulumi up`), and for R2 the
 * Cloudflare provider's own token variable.
 */
import { postgresApplyContract, redisApplyContract, typesenseApplyContract } from "../hooks/contracts";
import { GROUPS, Group } from "../rotation/catalog";

/**
 * The variable the Cloudflare provider reads its API token from when `cloudflare:apiToken` is not configured
 * (@pulumi/cloudflare 6.22.1 provider.d.ts, `apiToken`: "can be configured using the `CLOUDFLARE_API_TOKEN`
 * environment variable"). The program never configures it, so the token stays out of the stack's config and state.
 */
export const CLOUDFLARE_TOKEN_ENV = "CLOUDFLARE_API_TOKEN";

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

/** The commands `preflight` knows: the four that change a stack, and `status` (which needs no admin credential). */
export const PREFLIGHT_COMMANDS = ["rotate", "rotate-all", "restart", "rollback", "status"] as const;
export type PreflightCommand = (typeof PREFLIGHT_COMMANDS)[number];

/**
 * The groups whose slots a live run of the command may regenerate: `rotate`'s services, every group for
 * `rotate-all`; none for `restart`, `rollback` (it makes the other, still valid slot active) and `status`, and none
 * for a dry run (a preview runs no hook, and the program checks credentials only outside a dry run). Conservative:
 * a `rotate` that only catches a held provider up regenerates nothing, but needs the group's state to know it.
 */
export function groupsRegenerated(command: PreflightCommand, services: readonly Group[], dryRun: boolean): Group[] {
    if (dryRun) return [];
    switch (command) {
        case "rotate":
            return GROUPS.filter((g) => services.includes(g));
        case "rotate-all":
            return [...GROUPS];
        case "restart":
        case "rollback":
        case "status":
            return [];
    }
}

/** The admin credentials those groups need, each once. */
export function credentialsFor(groups: readonly Group[]): string[] {
    return [...new Set(groups.flatMap((g) => ADMIN_CREDENTIAL[g] ?? []))];
}

/** Those of `required` that the environment lacks (unset or blank). Never reads more than whether a value exists. */
export function missingFrom(env: NodeJS.ProcessEnv, required: readonly string[]): string[] {
    return required.filter((name) => (env[name] ?? "").trim() === "");
}
