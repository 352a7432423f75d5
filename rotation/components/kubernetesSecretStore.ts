import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

/**
 * The commit that last wrote the Secret's keys. A new value re-applies every key even when the engine's record of them
 * is unchanged: undoing an unfinished run whose write the engine never recorded writes the committed values back.
 */
export const WRITE_ANNOTATION = "buywhere.io/rotation-write";

export interface KubernetesSecretStoreArgs {
    readonly namespace: string;
    readonly secretName: string;
    /** `patch`: server-side-apply the keys into an existing Secret. `create`: own the whole Secret. */
    readonly mode: "patch" | "create";
    /** Key -> value; every value a Pulumi secret. */
    readonly values: Readonly<Record<string, pulumi.Input<string>>>;
    readonly after?: pulumi.Input<pulumi.Resource>[];
    /** The commit that last wrote one of the keys: a change re-applies every key (see the plan). */
    readonly writeSerial: number;
    /** `create` mode: the Secret exists but this stack never wrote it (an adopted environment): import it. */
    readonly importExisting?: boolean;
}

/**
 * Writes every key into the namespace's Secret (`<name>-secret`).
 *
 * Type token `buywhere:rotation:KubernetesSecretStore`.
 */
export class KubernetesSecretStore extends pulumi.ComponentResource {
    public readonly secret: k8s.core.v1.SecretPatch | k8s.core.v1.Secret;

    constructor(name: string, args: KubernetesSecretStoreArgs, opts?: pulumi.ComponentResourceOptions) {
        super("buywhere:rotation:KubernetesSecretStore", name, {}, opts);
        const data = pulumi.secret(
            pulumi.all(args.values).apply((values) =>
                Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Buffer.from(v, "utf8").toString("base64")])),
            ),
        );
        const childOpts: pulumi.CustomResourceOptions = {
            parent: this,
            dependsOn: args.after,
            // Never delete keys or Secrets that running pods read: dropping a namespace from config, or destroying
            // the stack, leaves them in place for an operator to remove deliberately.
            retainOnDelete: true,
        };
        this.secret =
            args.mode === "patch"
                ? new k8s.core.v1.SecretPatch(
                      `${name}-secret`,
                      {
                          metadata: {
                              name: args.secretName,
                              namespace: args.namespace,
                              // We own these keys; take them over from whoever set them by hand (kubectl, the seed):
                              // pulumi-kubernetes provider/pkg/gen/schema.go, "Conflicts will result in an error by
                              // default, but can be forced using the "pulumi.com/patchForce" annotation."
                              annotations: { "pulumi.com/patchForce": "true", [WRITE_ANNOTATION]: String(args.writeSerial) },
                          },
                          data,
                      },
                      childOpts,
                  )
                : new k8s.core.v1.Secret(
                      `${name}-secret`,
                      { metadata: { name: args.secretName, namespace: args.namespace, annotations: { [WRITE_ANNOTATION]: String(args.writeSerial) } }, type: "Opaque", data },
                      // pulumi-kubernetes imports a namespaced object by `<namespace>/<name>`; since pulumi/pulumi#19339
                      // (3.175) an import goes on with an ordinary diff, so the adopted Secret is then updated in place.
                      args.importExisting ? { ...childOpts, import: `${args.namespace}/${args.secretName}` } : childOpts,
                  );
        this.registerOutputs({});
    }
}
