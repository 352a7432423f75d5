import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { createHash } from "node:crypto";
import { CredentialField, GENERATION, Group, SLOTS, Slot } from "../catalog";

/** A slot's credential: the secret parts consumers are given. Every value is a Pulumi secret. */
export type Credential = Readonly<Partial<Record<CredentialField, pulumi.Output<string>>>>;

export interface CredentialSlotsArgs {
    /** The group whose two slots these are. */
    readonly group: Group;
    /**
     * Keeper of each slot. A slot's credential is generated anew exactly when its keeper changes, so a rotation
     * touches one slot and leaves the other (the one running consumers hold) as it was.
     */
    readonly keepers: Readonly<Record<Slot, { readonly stamp: string }>>;
    /** For the r2 group: how its tokens are issued. */
    readonly r2?: R2TokenSpec;
}

/**
 * The two credential slots of one group (`<name>-a`, `<name>-b`).
 *
 * Type token `buywhere:rotation:CredentialSlots`.
 */
export class CredentialSlots extends pulumi.ComponentResource {
    /** The credential in each slot. */
    public readonly credentials: Readonly<Record<Slot, Credential>>;

    constructor(name: string, args: CredentialSlotsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("buywhere:rotation:CredentialSlots", name, {}, opts);
        const credentials = {} as Record<Slot, Credential>;
        for (const slot of SLOTS) {
            const childName = `${name}-${slot}`;
            const keepers = { stamp: args.keepers[slot].stamp };
            if (args.group === "r2") {
                if (!args.r2) throw new Error("CredentialSlots: the r2 group needs its token spec");
                credentials[slot] = r2TokenCredential(childName, slot, keepers, args.r2, this);
            } else {
                credentials[slot] = { secret: randomSecret(childName, GENERATION[args.group].length, keepers, this) };
            }
        }
        this.credentials = credentials;
        this.registerOutputs({});
    }
}

function randomSecret(name: string, length: number, keepers: { stamp: string }, parent: pulumi.Resource): pulumi.Output<string> {
    // Alphanumeric only: safe inside URLs, shells and YAML without escaping (URLs are encoded anyway). Marked secret
    // here as well as by the provider, so every input it flows into (an applier's environment) is secret too.
    return pulumi.secret(new random.RandomPassword(name, { length, special: false, keepers }, { parent }).result);
}

/** How the r2 group's slots are issued: one Cloudflare account token per slot. */
export interface R2TokenSpec {
    readonly accountId: string;
    readonly buckets: readonly string[];
    readonly permissionGroupIds: readonly string[];
    /** Names tokens `buywhere-r2-<stack>-<slot>-<stamp>` so the Cloudflare dashboard says what each one is. */
    readonly stack: string;
}

/**
 * One R2 credential: a Cloudflare account token scoped to the account's buckets. R2's S3 access key id is the
 * token's id and the secret access key is the SHA-256 hex of the token's value. The token's name carries the
 * slot's stamp, and a change of name replaces the token — the new one is created before the old one (from two
 * rotations ago) is deleted.
 */
export function r2TokenCredential(name: string, slot: Slot, keepers: { stamp: string }, spec: R2TokenSpec, parent: pulumi.Resource): Credential {
    const resources = JSON.stringify(
        Object.fromEntries(spec.buckets.map((b) => [`com.cloudflare.edge.r2.bucket.${spec.accountId}_default_${b}`, "*"])),
    );
    const token = new cloudflare.AccountToken(
        name,
        {
            accountId: spec.accountId,
            name: `buywhere-r2-${spec.stack}-${slot}-${keepers.stamp}`,
            policies: [{ effect: "allow", permissionGroups: spec.permissionGroupIds.map((id) => ({ id })), resources }],
        },
        { parent, replaceOnChanges: ["name"], deleteBeforeReplace: false, additionalSecretOutputs: ["value"] },
    );
    return {
        accessKeyId: pulumi.secret(token.id),
        secretAccessKey: pulumi.secret(token.value.apply((v) => createHash("sha256").update(v).digest("hex"))),
    };
}
