/**
 * Which admin credential each group's apply-at-source step needs: the one list the program (which refuses an `up`
 * that lacks one) and the CLI's `preflight` (which checks before anything runs) both use. Pure.
 *
 * The variable names come from the code that reads them: each applier hook's contract (`adminEnv` in
 * hooks/contracts.ts: the hook inherits it from the environment of `pulumi up`), and for R2 the Cloudflare provider's
 * own token variable.
 */
import { postgresApplyContract, redisApplyContract, typesenseApplyContract } from "../hooks/contracts";
import { GROUPS, Group } from "./catalog";

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
