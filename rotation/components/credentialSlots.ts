import * as aws from "@pulumi/aws";
import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { createHash } from "node:crypto";
import { adoptedPart } from "../adoption";
import { CredentialField, Slot } from "../catalog";
import { CredentialPlan } from "../plan";

/** A slot's credential: the secret parts consumers are given. Every value is a Pulumi secret. */
export type Credential = Readonly<Partial<Record<CredentialField, pulumi.Output<string>>>>;

export interface CredentialSlotsArgs {
    /** One plan per slot of the group, from the planner. */
    readonly slots: readonly CredentialPlan[];
    /** For an adopted slot: the ARN of each AWS secret (by AWS name) it reads, and the provider that reads them. */
    readonly adopted?: { readonly arnOf: (secretName: string) => string | undefined; readonly provider: aws.Provider };
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
    /** An adopted slot's copy of each secret it holds (catalog name -> value in use), a Pulumi secret. */
    public readonly adoptedValues: Readonly<Partial<Record<Slot, Readonly<Record<string, pulumi.Output<string>>>>>>;
    /** The ID of each generated slot's resource (the RandomPassword or the Cloudflare token): known once it exists. */
    public readonly issued: Readonly<Partial<Record<Slot, pulumi.Output<string>>>>;

    constructor(name: string, args: CredentialSlotsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("buywhere:rotation:CredentialSlots", name, {}, opts);
        const credentials: Partial<Record<Slot, Credential>> = {};
        const adoptedValues: Partial<Record<Slot, Record<string, pulumi.Output<string>>>> = {};
        const issued: Partial<Record<Slot, pulumi.Output<string>>> = {};
        for (const plan of args.slots) {
            if (plan.kind === "adopted") {
                if (!args.adopted) throw new Error(`${name}: an adopted slot needs the AWS provider that reads it`);
                adoptedValues[plan.slot] = adoptedSecretValues(plan, this, args.adopted);
                credentials[plan.slot] = adoptedCredential(plan, adoptedValues[plan.slot]!);
                if (plan.legacyToken) legacyAccountToken(plan, plan.legacyToken, this);
            } else {
                const made = plan.kind === "random" ? randomCredential(plan, this) : cloudflareTokenCredential(plan, this);
                credentials[plan.slot] = made.credential;
                issued[plan.slot] = made.resource.id;
            }
        }
        this.credentials = credentials;
        this.adoptedValues = adoptedValues;
        this.issued = issued;
        this.registerOutputs({});
    }
}

/** A generated slot's credential and the resource that holds it. */
interface Made {
    readonly credential: Credential;
    readonly resource: pulumi.CustomResource;
}

function randomCredential(plan: Extract<CredentialPlan, { kind: "random" }>, parent: pulumi.Resource): Made {
    // pulumi/pulumi-random schema.json, `keepers`: "Arbitrary map of values that, when changed, will trigger
    // recreation of resource" (create-before-delete). Alphanumeric only: safe inside URLs, shells and YAML. Marked
    // secret here as well as by the provider, so every input it flows into (an applier's environment) is secret too.
    const password = new random.RandomPassword(plan.name, { length: plan.length, special: false, keepers: { generation: plan.generation } }, { parent });
    return { credential: { secret: pulumi.secret(password.result) }, resource: password };
}

/**
 * One R2 credential: a Cloudflare account token scoped to the account's buckets. R2's S3 access key id is the
 * token's id and the secret access key is the SHA-256 hex of the token's value (cloudflare/cloudflare-docs
 * `src/content/docs/r2/api/tokens.mdx`). The token's name carries the slot's generation, and a new name replaces
 * the token: the new one is created before the old one (from two rotations ago) is deleted.
 */
function cloudflareTokenCredential(plan: Extract<CredentialPlan, { kind: "cloudflareToken" }>, parent: pulumi.Resource): Made {
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
        credential: {
            accessKeyId: pulumi.secret(token.id),
            secretAccessKey: pulumi.secret(token.value.apply((v) => createHash("sha256").update(v).digest("hex"))),
        },
        resource: token,
    };
}

/**
 * The values in use before the first deployment, each held by an `aws.secretsmanager.SecretVersion` that imports the
 * AWS version it was read from (`<secret arn>|<version id>`, the import id terraform-provider-aws
 * `internal/service/secretsmanager/secret_version.go` reads by: GetSecretValue with that VersionId). So each value lives
 * only in the engine's state, encrypted as a secret, and stays there unchanged while the slot is adopted: once the ID
 * is in the state the same option is no longer an import (pulumi/pulumi pkg/resource/deploy/step_generator.go
 * `isImport`), and `ignoreChanges` keeps every recorded input, so later runs neither read AWS again nor diff (AWS moves
 * the version's labels as new values are published). `retainOnDelete`: when the slot is regenerated the resource
 * leaves the program and the state (and the value with it) while the AWS version is left to AWS.
 */
function adoptedSecretValues(
    plan: Extract<CredentialPlan, { kind: "adopted" }>,
    parent: pulumi.Resource,
    adopted: NonNullable<CredentialSlotsArgs["adopted"]>,
): Record<string, pulumi.Output<string>> {
    const out: Record<string, pulumi.Output<string>> = {};
    for (const [name, versionId] of Object.entries(plan.versions)) {
        const arn = adopted.arnOf(name);
        if (arn === undefined) throw new Error(`${plan.name}: the adopted secret ${name} is no longer in Secrets Manager`);
        const version = new aws.secretsmanager.SecretVersion(
            `${plan.name}-adopted-${name}`,
            { secretId: arn, secretString: pulumi.secret("") },
            {
                parent,
                provider: adopted.provider,
                import: `${arn}|${versionId}`,
                ignoreChanges: ["secretId", "secretString", "secretBinary", "versionStages"],
                retainOnDelete: true,
                additionalSecretOutputs: ["secretString"],
            },
        );
        out[name] = pulumi.secret(version.secretString.apply((v) => v ?? ""));
    }
    return out;
}

function adoptedCredential(plan: Extract<CredentialPlan, { kind: "adopted" }>, values: Readonly<Record<string, pulumi.Output<string>>>): Credential {
    const credential: Partial<Record<CredentialField, pulumi.Output<string>>> = {};
    for (const [field, from] of Object.entries(plan.fields) as [CredentialField, { secret: string; part: "value" | "urlPassword" }][]) {
        const value = values[from.secret];
        if (value !== undefined) credential[field] = pulumi.secret(value.apply((v) => adoptedPart(v, from.part)));
    }
    return credential;
}

/**
 * The R2 token in use before `adopt`, imported under the name the slot's own token takes
 * (`cloudflare:index/accountToken:AccountToken`, import id `<account_id>/<token_id>`, @pulumi/cloudflare
 * accountToken.d.ts "Import"). Every input is ignored, so the import changes nothing about the token. When the slot
 * is regenerated, `cloudflareTokenCredential` declares the same resource with the slot's new name: `replaceOnChanges:
 * ["name"]` replaces it, the new token first, and the engine's delete of the old one revokes the legacy token.
 */
function legacyAccountToken(plan: Extract<CredentialPlan, { kind: "adopted" }>, token: { accountId: string; tokenId: string }, parent: pulumi.Resource): void {
    new cloudflare.AccountToken(
        plan.name,
        { accountId: token.accountId, name: "adopted", policies: [] },
        {
            parent,
            import: `${token.accountId}/${token.tokenId}`,
            ignoreChanges: ["accountId", "name", "policies", "condition", "expiresOn", "notBefore", "status"],
            additionalSecretOutputs: ["value"],
        },
    );
}
