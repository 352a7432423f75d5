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
            credentials[slot] =
                args.group === "r2"
                    ? placeholderR2Credential(childName, keepers, this)
                    : { secret: randomSecret(childName, GENERATION[args.group].length, keepers, this) };
        }
        this.credentials = credentials;
        this.registerOutputs({});
    }
}

function randomSecret(name: string, length: number, keepers: { stamp: string }, parent: pulumi.Resource): pulumi.Output<string> {
    // Alphanumeric only: safe inside URLs, shells and YAML without escaping (URLs are encoded anyway).
    return new random.RandomPassword(name, { length, special: false, keepers }, { parent }).result;
}

/**
 * PLACEHOLDER for the R2 group until R2 keys are issued by Cloudflare (issue 4 replaces this function with one
 * Cloudflare API token per slot). It produces the right *shapes* — an access key id of 32 hex characters and a
 * secret access key that is the SHA-256 hex of a token value, as Cloudflare derives them — but these keys are not
 * known to Cloudflare, so publishing them does not grant access to R2.
 */
export function placeholderR2Credential(name: string, keepers: { stamp: string }, parent: pulumi.Resource): Credential {
    const tokenId = new random.RandomId(
        `${name}-token-id`,
        { byteLength: 16, keepers },
        { parent, additionalSecretOutputs: ["hex", "b64Std", "b64Url", "dec", "id"] },
    );
    const tokenValue = randomSecret(`${name}-token`, GENERATION.r2.length, keepers, parent);
    return {
        accessKeyId: pulumi.secret(tokenId.hex),
        secretAccessKey: pulumi.secret(tokenValue.apply((v) => createHash("sha256").update(v).digest("hex"))),
    };
}
