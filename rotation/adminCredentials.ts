/**
 * Which admin credential each group's apply-at-source step needs: the one list the program (which refuses an `up`
 * that lacks one) and the CLI's `preflight` (which checks before anything runs) both use. Pure.
 *
 * The variable names come from the code that reads them: each applier hook's contract (`adminEnv` in
 * hooks/contracts.ts: the hook inherits it from the environment of `pulumi up`), and for R2 the Cloudflare provider's
 * own token variable.
 */
import { postgresApplyContract, redisApplyContract, typesenseApplyContract } from "../hooks/contracts";
import { CLOUDFLARE_TOKEN_ENV } from "../hooks/adminEnv";
import { GROUPS, Group } from "./catalog";

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
