/**
 * What the Pulumi providers call on our behalf for each resource type this program registers: the source of the
 * least-privilege files in policy/ (a test derives the policy from these tables and from the AWS SDK calls in
 * hooks/ and automation/, and fails if the files grant more or less). A table, not a resource.
 */

/**
 * AWS API actions per resource type and invoke, from terraform-provider-aws (which @pulumi/aws wraps):
 * - `internal/service/secretsmanager/secret_version.go`: create is PutSecretValue followed by a read; read (and
 *   refresh) is GetSecretValue by version id. Update and delete (UpdateSecretVersionStage, ListSecretVersionIds) run
 *   only when `versionStages` is managed or the resource is deleted; we manage no stages and retain on delete.
 * - `internal/service/secretsmanager/secret.go`: create is CreateSecret; read (after create, on import and refresh)
 *   is DescribeSecret and GetResourcePolicy. Update runs only for attributes we set and do not ignore: none after
 *   creation (rotation/components/awsSecretStore.ts ignores every attribute of an adopted secret). Delete never
 *   runs: the secrets are protected and retained.
 * - `internal/service/secretsmanager/secrets_data_source.go` (`getSecrets`): ListSecrets.
 */
export const AWS_PROVIDER_ACTIONS: Readonly<Record<string, readonly string[]>> = {
    "aws:secretsmanager/secretVersion:SecretVersion": ["secretsmanager:PutSecretValue", "secretsmanager:GetSecretValue"],
    "aws:secretsmanager/secret:Secret": ["secretsmanager:CreateSecret", "secretsmanager:DescribeSecret", "secretsmanager:GetResourcePolicy"],
    "aws:secretsmanager/getSecrets:getSecrets": ["secretsmanager:ListSecrets"],
};

/**
 * With `rotation:aws.kmsKeyId`, Secrets Manager uses the key on the caller's behalf: GenerateDataKey to encrypt a
 * new value (CreateSecret, PutSecretValue) and Decrypt to read one (GetSecretValue)
 * (https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html#security-encryption-authz).
 */
export const KMS_ACTIONS: readonly string[] = ["kms:GenerateDataKey", "kms:Decrypt"];

/** What hooks/ecsRedeploy.ts sends (DescribeServices, UpdateService, the trigger tag; test/policy.test.ts scans it). */
export const ECS_REDEPLOY_ACTIONS: readonly string[] = ["ecs:DescribeServices", "ecs:ListTagsForResource", "ecs:TagResource", "ecs:UpdateService"];

/**
 * What hooks/elasticacheApply.ts sends (scanned the same way), on the stack's ElastiCache user only: both actions take
 * the user's ARN, `arn:aws:elasticache:<region>:<account>:user:<user id>` (the ARN DescribeUsers returns).
 */
export const ELASTICACHE_USER_ACTIONS: readonly string[] = ["elasticache:DescribeUsers", "elasticache:ModifyUser"];

/** What hooks/adminSecret.ts sends to read an admin credential (`rotation:adminSecrets`), on the named secrets only. */
export const ADMIN_SECRET_ACTIONS: readonly string[] = ["secretsmanager:GetSecretValue"];

/**
 * What Secrets Manager calls on the hook's behalf when it reads an admin secret encrypted with a customer-managed key
 * (`rotation:aws.adminSecretsKmsKeyArns`): Decrypt only, since the hooks never write those secrets
 * (https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html#security-encryption-authz).
 */
export const ADMIN_SECRET_KMS_ACTIONS: readonly string[] = ["kms:Decrypt"];

/** What the CloudWatch audit sink sends (automation/auditCloudWatch.ts; scanned the same way). */
export const AUDIT_ACTIONS: readonly string[] = ["logs:CreateLogStream", "logs:PutLogEvents"];

export interface KubernetesAccess {
    readonly apiGroup: string;
    readonly resource: string;
    readonly verbs: readonly string[];
}

const AWAIT_ROLLOUT: readonly KubernetesAccess[] = [
    // pulumi-kubernetes `provider/pkg/await/deployment.go`: informers on the Deployment, its ReplicaSets, Pods and PVCs.
    { apiGroup: "apps", resource: "deployments", verbs: ["get", "list", "watch"] },
    { apiGroup: "apps", resource: "replicasets", verbs: ["get", "list", "watch"] },
    { apiGroup: "", resource: "pods", verbs: ["get", "list", "watch"] },
    { apiGroup: "", resource: "persistentvolumeclaims", verbs: ["get", "list", "watch"] },
    // pulumi-kubernetes `provider/pkg/await/watchers.go` NewEventAggregator: the awaiter watches core/v1 Events to
    // report warnings while it waits (engine-behaviour.md §5).
    { apiGroup: "", resource: "events", verbs: ["list", "watch"] },
];

/** Kubernetes API access per resource type (server-side apply is a PATCH; the provider GETs live objects). */
export const KUBERNETES_PROVIDER_ACCESS: Readonly<Record<string, readonly KubernetesAccess[]>> = {
    "kubernetes:core/v1:SecretPatch": [{ apiGroup: "", resource: "secrets", verbs: ["get", "patch"] }],
    "kubernetes:core/v1:Secret": [{ apiGroup: "", resource: "secrets", verbs: ["get", "create", "patch"] }],
    "kubernetes:apps/v1:DeploymentPatch": [{ apiGroup: "apps", resource: "deployments", verbs: ["patch"] }, ...AWAIT_ROLLOUT],
};
