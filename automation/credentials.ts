/**
 * Which admin credentials a live run needs in its environment. A run that regenerates a group's slot must make it
 * valid at its source first, with that source's admin credential; the program refuses such an `up` when the
 * variable is missing (rotation/program.ts, `requireAdminCredentials`), and `preflight` checks the same before
 * anything runs, from the same list (rotation/adminCredentials.ts). Pure.
 */
import { ADMIN_CREDENTIAL, ADMIN_CREDENTIALS, CLOUDFLARE_TOKEN_ENV, requiredAdminEnv } from "../rotation/adminCredentials";
import { GROUPS, Group } from "../rotation/catalog";
import { Settings } from "../rotation/settings";

export { ADMIN_CREDENTIAL, ADMIN_CREDENTIALS, CLOUDFLARE_TOKEN_ENV };

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

/**
 * The admin credentials those groups need, each once. With the stack's settings, a group whose admin credential is a
 * Secrets Manager secret (`rotation:adminSecrets`) or that needs none in the environment (Redis on ElastiCache) is
 * left out (rotation/adminCredentials.ts `requiredAdminEnv`).
 */
export function credentialsFor(groups: readonly Group[], settings?: Settings): string[] {
    return [...new Set(groups.flatMap((g) => (settings ? requiredAdminEnv(settings, g) : ADMIN_CREDENTIAL[g]) ?? []))];
}

/** Those of `required` that the environment lacks (unset or blank). Never reads more than whether a value exists. */
export function missingFrom(env: NodeJS.ProcessEnv, required: readonly string[]): string[] {
    return required.filter((name) => (env[name] ?? "").trim() === "");
}
