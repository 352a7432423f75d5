/**
 * What "apply at source" means for each group: which admin credential the step needs and what it does, in words.
 * Pure; the program builds the SourceApplier resources, `steps.ts` prints these descriptions.
 */
import { Group, Slot } from "./catalog";
import { Settings } from "./config";

export interface ApplierInfo {
    /** Environment variable holding the admin credential (inherited by the hook or read by the provider). */
    readonly adminEnv: string;
    /** What applying these regenerated slots does. */
    describe(settings: Settings, slots: readonly Slot[]): string;
}

/** Groups whose credentials must be made valid at a source; jwt and api-key have none (verifiers read the stores). */
export const APPLIERS: Readonly<Partial<Record<Group, ApplierInfo>>> = {
    database: {
        adminEnv: "ROTATION_PG_ADMIN_URL",
        describe: (s, slots) =>
            `PostgreSQL: set the password of ${slots.map((x) => s.database.roles[x]).join(", ")} (SCRAM verifier computed client-side) and log in with it; the other role is untouched`,
    },
    redis: {
        adminEnv: "ROTATION_REDIS_ADMIN_URL",
        describe: (s) => `Redis ACL user ${s.redis.user}: hold exactly the passwords of slots a and b (the stale one removed), AUTH with both`,
    },
    typesense: {
        adminEnv: "ROTATION_TYPESENSE_ADMIN_KEY",
        describe: (s, slots) => `Typesense ${s.typesense.url}: register slot ${slots.join(", ")}'s key, then delete that slot's previous key`,
    },
    r2: {
        adminEnv: "CLOUDFLARE_API_TOKEN",
        describe: (s, slots) =>
            `Cloudflare: issue an account token for slot ${slots.join(", ")} on ${s.r2.buckets.join(", ")} (access key id = token id, secret = SHA-256 of its value); the slot's old token is deleted after`,
    },
};
