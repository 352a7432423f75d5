/**
 * Adoption: what the first deployment of an environment in use reads, and when it must refuse. Pure: the program
 * reads the stores (rotation/program.ts `readAdoption`) and hands the values here; nothing is read or written here.
 *
 * Every secret an adopted slot holds (rotation/catalog.ts `adoptedSecrets`: all but the `*_PREVIOUS` ones) must have
 * a current value in Secrets Manager and, where Kubernetes is configured, the same value under its key in every
 * namespace's Secret. Where they disagree the run is refused, naming the secret, the AWS version id and the
 * Kubernetes Secret's resourceVersion, never a value.
 */
import { ADOPTED_CREDENTIAL, ADOPTED_FALLBACK, GROUPS, Group, adoptedSecrets } from "./catalog";
import { RotationInputError } from "./errors";
import { Settings } from "./settings";

/** A secret's AWSCURRENT version as read from Secrets Manager; undefined when the secret or its value is missing. */
export interface AwsCurrent {
    readonly versionId: string;
    readonly value: string;
}

/** A namespace's Kubernetes Secret as read; undefined when it does not exist. */
export interface KubernetesCurrent {
    readonly resourceVersion: string;
    /** Key -> decoded value. */
    readonly data: Readonly<Record<string, string>>;
}

export interface AdoptionRead {
    /** By secret name (catalog name, not the AWS name). */
    readonly aws: Readonly<Record<string, AwsCurrent | undefined>>;
    /** By namespace; empty when Kubernetes is not configured. */
    readonly kubernetes: Readonly<Record<string, KubernetesCurrent | undefined>>;
}

/** The non-secret facts an adopt run records: the AWS version id of every secret adopted. */
export interface Adoption {
    readonly versions: Readonly<Record<string, string>>;
}

/** The secrets an adopt run reads, in catalog order. */
export function secretsToAdopt(): readonly string[] {
    return GROUPS.flatMap((g) => adoptedSecrets(g).map((s) => s.name));
}

/**
 * Judges what an adopt run read.
 * @throws RotationInputError (one line, no value) for a missing secret, a disagreement between the stores, or a
 *   Redis URL whose user is not the one the stack file rotates.
 */
export function judgeAdoption(settings: Settings, read: AdoptionRead): Adoption {
    const versions: Record<string, string> = {};
    for (const name of secretsToAdopt()) {
        const awsId = `${settings.aws.secretPrefix}${name}`;
        const current = read.aws[name];
        const fallback = ADOPTED_FALLBACK[name];
        if (current === undefined && fallback !== undefined) {
            // A secret the system before this one did not have: missing everywhere is fine (its value in use is read
            // from another secret); present in Kubernetes only is a disagreement.
            const holder = Object.entries(read.kubernetes).find(([, secret]) => secret?.data[name] !== undefined);
            if (holder) {
                throw new RotationInputError(
                    name,
                    `cannot adopt: Kubernetes Secret ${holder[0]}/${settings.kubernetes?.secretName} (resourceVersion ${holder[1]!.resourceVersion}) has a key ${name}, while Secrets Manager has no \`${awsId}\`; make them agree, then adopt`,
                );
            }
            continue;
        }
        if (current === undefined) {
            throw new RotationInputError(name, `cannot adopt: Secrets Manager secret \`${awsId}\` has no current value (AWSCURRENT); adopt takes the values in use, so every secret must exist`);
        }
        for (const [namespace, secret] of Object.entries(read.kubernetes)) {
            const where = `Kubernetes Secret ${namespace}/${settings.kubernetes?.secretName}`;
            if (secret === undefined) throw new RotationInputError(name, `cannot adopt: ${where} does not exist, while Secrets Manager holds \`${awsId}\``);
            const value = secret.data[name];
            if (value === undefined) {
                throw new RotationInputError(name, `cannot adopt: ${where} (resourceVersion ${secret.resourceVersion}) has no key ${name}, while \`${awsId}\` has version ${current.versionId}`);
            }
            if (value !== current.value) {
                throw new RotationInputError(
                    name,
                    `cannot adopt: ${name} differs between \`${awsId}\` (version ${current.versionId}) and ${where} (resourceVersion ${secret.resourceVersion}); make them agree, then adopt`,
                );
            }
        }
        versions[name] = current.versionId;
    }
    const legacyUser = settings.database.legacyUser;
    const login = read.aws.POSTGRES_USER ?? { versionId: read.aws.DATABASE_URL!.versionId, value: adoptedPart(read.aws.DATABASE_URL!.value, "urlUser") };
    const loginFrom = read.aws.POSTGRES_USER ? "POSTGRES_USER" : "the user of DATABASE_URL";
    if (legacyUser !== undefined && login.value !== legacyUser) {
        throw new RotationInputError(
            "POSTGRES_USER",
            `cannot adopt: ${loginFrom} (version ${login.versionId}) is not \`rotation:database.legacyUser\` ${legacyUser}: the login adopted must be the legacy user the stack file names`,
        );
    }
    const tokenId = settings.r2.legacyTokenId;
    const accessKey = read.aws.R2_ACCESS_KEY_ID!;
    if (tokenId !== undefined && accessKey.value !== tokenId) {
        throw new RotationInputError(
            "R2_ACCESS_KEY_ID",
            `cannot adopt: R2_ACCESS_KEY_ID (version ${accessKey.versionId}) is not \`rotation:r2.legacyTokenId\` ${tokenId}: the token adopted must be the one in use`,
        );
    }
    const redis = read.aws[ADOPTED_CREDENTIAL.redis.secret!.secret]!;
    const redisUser = urlUser(redis.value);
    if (redisUser !== settings.redis.user) {
        throw new RotationInputError(
            "REDIS_URL",
            `cannot adopt: the user in REDIS_URL (version ${redis.versionId}) is not \`rotation:redis.user\` ${settings.redis.user}: the ACL user that rotates must be the one in use (a requirepass-only \`default\` user cannot hold two passwords)`,
        );
    }
    return { versions };
}

/** The user name in a connection URL (`default` when the URL names none, as Redis assumes). */
function urlUser(value: string): string | undefined {
    try {
        const url = new URL(value);
        return url.username === "" ? "default" : decodeURIComponent(url.username);
    } catch {
        return undefined;
    }
}

/** The part of an adopted secret's value an adopted credential field (or a published value) takes. */
export function adoptedPart(value: string, part: "value" | "urlPassword" | "urlUser"): string {
    if (part === "value") return value;
    try {
        const url = new URL(value);
        return decodeURIComponent(part === "urlUser" ? url.username : url.password);
    } catch {
        // Never echo the value: it is a credential.
        throw new Error("an adopted connection URL is not a URL");
    }
}

/** The groups an adopted state still holds adopted values for. */
export function adoptedGroups(groups: Readonly<Record<Group, { readonly adopted?: unknown }>>): Group[] {
    return GROUPS.filter((g) => groups[g].adopted !== undefined);
}
