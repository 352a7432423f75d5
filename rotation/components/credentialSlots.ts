import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { createHash } from "node:crypto";
import { CredentialField, Slot } from "../catalog";
import { CredentialPlan } from "../plan";

/** A slot's credential: the secret parts consumers are given. Every value is a Pulumi secret. */
export type Credential = Readonly<Partial<Record<CredentialField, pulumi.Output<string>>>>;

export interface CredentialSlotsArgs {
    /** One plan per slot of the group, from the planner. */
    readonly slots: readonly CredentialPlan[];
}

/**
 * The credential slots of one group (`<group>-slots-<slot>`). A slot's credential is generated anew exactly when
 * its generation changes, so a rotation touches one slot and leaves the other (the one running consumers hold) as
 * it was.
 *
 * Type token `buywhere:rotation:CredentialSlots`.
 */
export class CredentialSlots extends pulumi.ComponentResource {
    /** The credential in each slot. */
    public readonly credentials: Readonly<Partial<Record<Slot, Credential>>>;

    constructor(name: string, args: CredentialSlotsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("buywhere:rotation:CredentialSlots", name, {}, opts);
        const credentials: Partial<Record<Slot, Credential>> = {};
        for (const plan of args.slots) {
            credentials[plan.slot] = plan.kind === "random" ? randomCredential(plan, this) : cloudflareTokenCredential(plan, this);
        }
        this.credentials = credentials;
        this.registerOutputs({});
    }
}

function randomCredential(plan: Extract<CredentialPlan, { kind: "random" }>, parent: pulumi.Resource): Credential {
    // pulumi/pulumi-random schema.json, `keepers`: "Arbitrary map of values that, when changed, will trigger
    // recreation of resource" (create-before-delete). Alphanumeric only: safe inside URLs, shells and YAML. Marked
    // secret here as well as by the provider, so every input it flows into (an applier's environment) is secret too.
    const password = new random.RandomPassword(plan.name, { length: plan.length, special: false, keepers: { generation: plan.generation } }, { parent });
    return { secret: pulumi.secret(password.result) };
}

/**
 * One R2 credential: a Cloudflare account token scoped to the account's buckets. R2's S3 access key id is the
 * token's id and the secret access key is the SHA-256 hex of the token's value (cloudflare/cloudflare-docs
 * `src/content/docs/r2/api/tokens.mdx`). The token's name carries the slot's generation, and a new name replaces
 * the token: the new one is created before the old one (from two rotations ago) is deleted.
 */
function cloudflareTokenCredential(plan: Extract<CredentialPlan, { kind: "cloudflareToken" }>, parent: pulumi.Resource): Credential {
    const token = new cloudflare.AccountToken(
        plan.name,
        {
            accountId: plan.accountId,
            name: plan.tokenName,
            policies: [{ effect: "allow", permissionGroups: plan.permissionGroupIds.map((id) => ({ id })), resources: JSON.stringify(plan.resources) }],
        },
        // @pulumi/cloudflare accountToken.js marks `value` secret itself; repeated here so the intent is visible.
        { parent, replaceOnChanges: ["name"], deleteBeforeReplace: false, additionalSecretOutputs: ["value"] },
    );
    return {
        accessKeyId: pulumi.secret(token.id),
        secretAccessKey: pulumi.secret(token.value.apply((v) => createHash("sha256").update(v).digest("hex"))),
    };
}
