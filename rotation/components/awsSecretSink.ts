import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

/** One value to publish to Secrets Manager. */
export interface AwsSecretValue {
    /** Catalog name, used for the child resource's name. */
    readonly name: string;
    /** The existing secret's name (`<prefix><name>`). */
    readonly secretId: string;
    /** The value; a Pulumi secret. */
    readonly value: pulumi.Input<string>;
    /** Resources that must finish first: the source applier that makes this credential valid. */
    readonly after?: readonly pulumi.Resource[];
}

export interface AwsSecretSinkArgs {
    readonly secrets: readonly AwsSecretValue[];
}

/**
 * Publishes values as new versions of existing AWS Secrets Manager secrets (`<name>-<SECRET>`).
 *
 * Type token `buywhere:rotation:AwsSecretSink`.
 */
export class AwsSecretSink extends pulumi.ComponentResource {
    /** The SecretVersion of each published secret, by catalog name. */
    public readonly versions: Readonly<Record<string, aws.secretsmanager.SecretVersion>>;

    constructor(name: string, args: AwsSecretSinkArgs, opts?: pulumi.ComponentResourceOptions) {
        super("buywhere:rotation:AwsSecretSink", name, {}, opts);
        const versions: Record<string, aws.secretsmanager.SecretVersion> = {};
        for (const s of args.secrets) {
            versions[s.name] = new aws.secretsmanager.SecretVersion(
                `${name}-${s.name}`,
                { secretId: s.secretId, secretString: pulumi.secret(s.value) },
                {
                    parent: this,
                    dependsOn: s.after ? [...s.after] : undefined,
                    // A new value replaces the SecretVersion. PutSecretValue moves AWSCURRENT to the new version and
                    // AWSPREVIOUS to the old one. Deleting the old resource would then call UpdateSecretVersionStage to
                    // strip every label recorded in *state* except AWSCURRENT (terraform-provider-aws
                    // resourceSecretVersionDelete); after a refresh that includes AWSPREVIOUS, and consumers reading
                    // the previous value would lose it. Retaining leaves label movement to AWS alone, which keeps
                    // AWSPREVIOUS on the version that was current, and lets AWS age out unlabelled versions.
                    retainOnDelete: true,
                },
            );
        }
        this.versions = versions;
        this.registerOutputs({});
    }
}
