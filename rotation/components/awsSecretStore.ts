import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

/** One value to publish to Secrets Manager. */
export interface AwsSecretValue {
    /** Catalog name, used for the child resources' names. */
    readonly name: string;
    /** The secret's name (`<prefix><name>`). */
    readonly secretId: string;
    /** The ARN of the secret when it already exists in AWS: it is adopted (imported), never recreated. */
    readonly existingArn?: string;
    /** The value; a Pulumi secret. */
    readonly value: pulumi.Input<string>;
    /** Replaces the version when it changes, even if the engine's record of the value is the same (see the plan). */
    readonly writeTrigger: string;
    /** Resources that must finish first: the source appliers that make this credential valid. */
    readonly after: readonly pulumi.Resource[];
}

export interface AwsSecretStoreArgs {
    readonly secrets: readonly AwsSecretValue[];
    /** A customer-managed KMS key for the secrets this component creates. */
    readonly kmsKeyId?: string;
    /** Stack name, for the description of created secrets. */
    readonly stack: string;
}

/**
 * Publishes values as new versions of AWS Secrets Manager secrets (`<name>-<SECRET>-secret` and
 * `<name>-<SECRET>`), declaring each secret so that a missing one is created and an existing one adopted.
 *
 * Type token `buywhere:rotation:AwsSecretStore`.
 */
export class AwsSecretStore extends pulumi.ComponentResource {
    /** The SecretVersion of each published secret, by catalog name. */
    public readonly versions: Readonly<Record<string, aws.secretsmanager.SecretVersion>>;
    /** Every resource this store registered. */
    public readonly resources: readonly pulumi.Resource[];

    constructor(name: string, args: AwsSecretStoreArgs, opts?: pulumi.ComponentResourceOptions) {
        super("buywhere:rotation:AwsSecretStore", name, {}, opts);
        const versions: Record<string, aws.secretsmanager.SecretVersion> = {};
        const resources: pulumi.Resource[] = [];
        for (const s of args.secrets) {
            const secret = new aws.secretsmanager.Secret(
                `${name}-${s.name}-secret`,
                { name: s.secretId, description: `BuyWhere ${s.name} (rotated by buywhere-secrets-rotation, stack ${args.stack})`, kmsKeyId: args.kmsKeyId },
                {
                    parent: this,
                    // Production secrets outlive this program: no `destroy` and no config change (a new prefix would
                    // replace the resource) may delete one. `protect` makes the engine refuse the delete;
                    // `retainOnDelete` keeps the secret if protection is ever lifted.
                    protect: true,
                    retainOnDelete: true,
                    // An existing secret is adopted: with an ID the engine imports instead of creating, and once the ID
                    // is in the state the same option is no longer an import (pulumi/pulumi
                    // pkg/resource/deploy/step_generator.go: `isImport := goal.Custom && goal.ID != "" && (old == nil
                    // || old.External || oldImportID != goal.ID)`). Since 3.175 an import continues with an ordinary
                    // diff (pulumi/pulumi#19339), and every attribute of an adopted secret is ignored below, so
                    // adopting changes nothing about it.
                    import: s.existingArn,
                    ignoreChanges: ["description", "kmsKeyId", "tags", "tagsAll", "policy", "replicas", "recoveryWindowInDays", "forceOverwriteReplicaSecret"],
                },
            );
            versions[s.name] = new aws.secretsmanager.SecretVersion(
                `${name}-${s.name}`,
                { secretId: secret.name, secretString: pulumi.secret(s.value) },
                {
                    parent: this,
                    dependsOn: [...s.after],
                    // A new value replaces the SecretVersion. PutSecretValue moves AWSCURRENT to the new version and
                    // AWSPREVIOUS to the old one. Deleting the old resource would then call UpdateSecretVersionStage to
                    // strip every label recorded in *state* except AWSCURRENT (terraform-provider-aws
                    // resourceSecretVersionDelete); after a refresh that includes AWSPREVIOUS, and consumers reading
                    // the previous value would lose it. Retaining leaves label movement to AWS alone, which keeps
                    // AWSPREVIOUS on the version that was current, and lets AWS age out unlabelled versions.
                    retainOnDelete: true,
                    // pulumi/pulumi pkg/resource/deploy/step_generator.go `shouldTriggerReplace`: a changed trigger
                    // replaces the resource (engine >= 3.208, pulumi/pulumi#20936) whatever its recorded inputs say.
                    replacementTrigger: s.writeTrigger,
                },
            );
            resources.push(secret, versions[s.name]);
        }
        this.versions = versions;
        this.resources = resources;
        this.registerOutputs({});
    }
}
