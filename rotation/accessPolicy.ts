/**
 * Least privilege per environment: the IAM policy and the Kubernetes RBAC one stack's rotation needs, generated
 * from its stack file, so staging's identity can touch nothing of production's and vice versa. Pure; the files in
 * policy/<stack>/ are this module's output (`secrets-rotation policy --stack <s> --write`), and test/policy.test.ts
 * checks both that they are up to date and that they grant exactly what the code calls. The trust policy says who may
 * assume that identity: only the stack's own GitHub environment of this repository (policy/ci.json).
 */
import { SECRETS } from "./catalog";
import { adminSecretArns } from "./adminCredentials";
import { ADMIN_SECRET_ACTIONS, ADMIN_SECRET_KMS_ACTIONS, AUDIT_ACTIONS, AWS_PROVIDER_ACTIONS, ECS_REDEPLOY_ACTIONS, ELASTICACHE_USER_ACTIONS, KMS_ACTIONS, KUBERNETES_PROVIDER_ACCESS } from "./providerPermissions";
import { Settings } from "./settings";

/** The CloudWatch Logs group the audit sink writes to when `ROTATION_AUDIT_LOG_GROUP` names it (README, "Audit trail"). */
export const AUDIT_LOG_GROUP = "/buywhere/secrets-rotation";

export interface IamStatement {
    readonly Sid: string;
    readonly Effect: "Allow";
    readonly Action: readonly string[];
    readonly Resource: string | readonly string[];
    readonly Condition?: Readonly<Record<string, Readonly<Record<string, string | readonly string[]>>>>;
}

export interface IamPolicy {
    readonly Version: "2012-10-17";
    readonly Statement: readonly IamStatement[];
}

const sorted = (xs: Iterable<string>) => [...new Set(xs)].sort();

/**
 * The secret's ARN pattern: Secrets Manager appends `-` and six random characters to a secret's name in its ARN, so
 * `-??????` matches exactly this secret and no secret whose name merely starts with it (a parent prefix such as
 * production's `buywhere/` can therefore never match staging's `buywhere/staging/...`)
 * (https://docs.aws.amazon.com/secretsmanager/latest/userguide/auth-and-access_examples.html#auth-and-access_examples_wildcard).
 */
export function secretArn(settings: Settings, name: string): string {
    return `arn:aws:secretsmanager:${settings.aws.region}:${accountOf(settings)}:secret:${settings.aws.secretPrefix}${name}-??????`;
}

function accountOf(settings: Settings): string {
    const account = settings.aws.accountId;
    if (account === undefined) throw new Error("`rotation:aws.accountId` is required to generate the stack's IAM policy");
    return account;
}

/** The IAM policy of one stack's rotation identity. */
export function iamPolicy(settings: Settings): IamPolicy {
    const { region } = settings.aws;
    const account = accountOf(settings);
    const statements: IamStatement[] = [
        {
            Sid: "DeclareAndPublishSecrets",
            Effect: "Allow",
            Action: sorted([...AWS_PROVIDER_ACTIONS["aws:secretsmanager/secret:Secret"], ...AWS_PROVIDER_ACTIONS["aws:secretsmanager/secretVersion:SecretVersion"]]),
            Resource: SECRETS.map((s) => secretArn(settings, s.name)),
        },
        {
            // ListSecrets has no resource-level permissions; it returns names and metadata, never a value.
            Sid: "ListSecretMetadata",
            Effect: "Allow",
            Action: sorted(AWS_PROVIDER_ACTIONS["aws:secretsmanager/getSecrets:getSecrets"]),
            Resource: "*",
        },
    ];
    if (settings.ecs) {
        const cluster = settings.ecs.cluster;
        statements.push({
            Sid: "RedeployEcsServices",
            Effect: "Allow",
            Action: sorted(ECS_REDEPLOY_ACTIONS),
            Resource: settings.ecs.services.map((s) => `arn:aws:ecs:${region}:${account}:service/${cluster}/${s.name}`),
        });
    }
    if (settings.redis.kind === "elasticache") {
        // The one RBAC user whose passwords are the redis slots (hooks/elasticacheApply.ts); never its user group.
        statements.push({
            Sid: "RotateElastiCacheUser",
            Effect: "Allow",
            Action: sorted(ELASTICACHE_USER_ACTIONS),
            Resource: `arn:aws:elasticache:${region}:${account}:user:${settings.redis.userId}`,
        });
    }
    const adminSecrets = adminSecretArns(settings);
    if (adminSecrets.length > 0) {
        // Admin credentials the hooks read at run time (`rotation:adminSecrets`), by their complete ARNs. A secret
        // encrypted with a customer-managed KMS key also needs kms:Decrypt on that key (README, "Admin credentials").
        statements.push({ Sid: "ReadAdminSecrets", Effect: "Allow", Action: sorted(ADMIN_SECRET_ACTIONS), Resource: sorted(adminSecrets) });
        const keys = settings.aws.adminSecretsKmsKeyArns ?? [];
        if (keys.length > 0) {
            // GetSecretValue of a secret under a customer-managed key: Secrets Manager calls kms:Decrypt on the caller's
            // behalf (https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html#security-encryption-authz),
            // so only through Secrets Manager in the secrets' regions (kms:ViaService "secretsmanager.<region>.amazonaws.com",
            // https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service) and only
            // for these secrets: Secrets Manager's encryption context is {"SecretARN": <the secret's ARN>}, the key AWS's
            // own AWSSecretsManagerClientReadOnlyAccess policy conditions on (kms:EncryptionContext:SecretARN,
            // https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AWSSecretsManagerClientReadOnlyAccess.html).
            const regions = sorted(adminSecrets.map((arn) => `secretsmanager.${arn.split(":")[3]}.amazonaws.com`));
            statements.push({
                Sid: "DecryptAdminSecrets",
                Effect: "Allow",
                Action: sorted(ADMIN_SECRET_KMS_ACTIONS),
                Resource: sorted(keys),
                // Several values of one key are ORed (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-logic-multiple-context-keys-or-values.html).
                Condition: { StringEquals: { "kms:ViaService": regions.length === 1 ? regions[0] : regions, "kms:EncryptionContext:SecretARN": sorted(adminSecrets) } },
            });
        }
    }
    statements.push({
        Sid: "AuditTrail",
        Effect: "Allow",
        Action: sorted(AUDIT_ACTIONS),
        Resource: `arn:aws:logs:${region}:${account}:log-group:${AUDIT_LOG_GROUP}:*`,
    });
    const kms = settings.aws.kmsKeyId;
    if (kms !== undefined) {
        // KMS authorises against the key, not an alias; with an alias or bare id, any key used through Secrets
        // Manager in this region (kms:ViaService, https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service).
        const exact = /^arn:aws[a-z-]*:kms:[^:]+:\d{12}:key\//.test(kms);
        statements.push({
            Sid: "UseSecretsKmsKey",
            Effect: "Allow",
            Action: sorted(KMS_ACTIONS),
            Resource: exact ? kms : `arn:aws:kms:${region}:${account}:key/*`,
            Condition: { StringEquals: { "kms:ViaService": `secretsmanager.${region}.amazonaws.com` } },
        });
    }
    return { Version: "2012-10-17", Statement: statements };
}

/** The Kubernetes group the stack's rotation identity is mapped to: one per stack, never shared between them. */
export function rotationGroup(stack: string): string {
    return `buywhere:secrets-rotation:${stack}`;
}

/** Kubernetes objects: per namespace a Role limited to the stack's Secret and Deployments, bound to the stack's group. */
export function kubernetesRbac(settings: Settings, stack: string): object[] {
    return [...stackRbac(settings, stack), ...pgbouncerUserlistRbac(settings, stack)];
}

/**
 * PgBouncer's userlist Secret (`rotation:database.pgbouncer.authFile.secret`): the PostgreSQL applier reads it and
 * replaces it (hooks/pgbouncerAuthFile.ts: GET, then PUT with its resourceVersion), so `get` and `update` on that one
 * Secret, in a Role of its own, bound to the stack's group.
 */
function pgbouncerUserlistRbac(settings: Settings, stack: string): object[] {
    const secret = settings.database.pgbouncer?.authFile.secret;
    if (!secret) return [];
    const name = "secrets-rotation-pgbouncer-userlist";
    return [
        {
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "Role",
            metadata: { name, namespace: secret.namespace },
            rules: [{ apiGroups: [""], resources: ["secrets"], resourceNames: [secret.name], verbs: ["get", "update"] }],
        },
        {
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "RoleBinding",
            metadata: { name, namespace: secret.namespace },
            subjects: [{ kind: "Group", name: rotationGroup(stack), apiGroup: "rbac.authorization.k8s.io" }],
            roleRef: { kind: "Role", name, apiGroup: "rbac.authorization.k8s.io" },
        },
    ];
}

function stackRbac(settings: Settings, stack: string): object[] {
    const group = rotationGroup(stack);
    const k8s = settings.kubernetes;
    if (!k8s) return [];
    const secretType = k8s.secretMode === "patch" ? "kubernetes:core/v1:SecretPatch" : "kubernetes:core/v1:Secret";
    return k8s.namespaces.flatMap((namespace) => {
        const deployments = k8s.deployments.filter((d) => d.namespace === namespace).map((d) => d.name);
        const rules: object[] = [];
        for (const a of KUBERNETES_PROVIDER_ACCESS[secretType]) {
            // `create` cannot be limited by name (the name is not in the request's URL); get/patch can.
            const named = a.verbs.filter((v) => v !== "create");
            if (named.length > 0) rules.push({ apiGroups: [a.apiGroup], resources: [a.resource], resourceNames: [k8s.secretName], verbs: named });
            if (a.verbs.includes("create")) rules.push({ apiGroups: [a.apiGroup], resources: [a.resource], verbs: ["create"] });
        }
        if (deployments.length > 0) {
            for (const a of KUBERNETES_PROVIDER_ACCESS["kubernetes:apps/v1:DeploymentPatch"]) {
                // get/patch of the named Deployments only; the rollout await lists and watches the namespace's
                // Deployments, ReplicaSets, Pods, claims and Events, which RBAC cannot limit by name.
                const named: string[] = a.resource === "deployments" ? a.verbs.filter((v) => v === "get" || v === "patch") : [];
                const rest = a.verbs.filter((v) => !named.includes(v));
                if (named.length > 0) rules.push({ apiGroups: [a.apiGroup], resources: [a.resource], resourceNames: deployments, verbs: named });
                if (rest.length > 0) rules.push({ apiGroups: [a.apiGroup], resources: [a.resource], verbs: rest });
            }
        }
        return [
            { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata: { name: "secrets-rotation", namespace }, rules: mergeRules(rules) },
            {
                apiVersion: "rbac.authorization.k8s.io/v1",
                kind: "RoleBinding",
                metadata: { name: "secrets-rotation", namespace },
                subjects: [{ kind: "Group", name: group, apiGroup: "rbac.authorization.k8s.io" }],
                roleRef: { kind: "Role", name: "secrets-rotation", apiGroup: "rbac.authorization.k8s.io" },
            },
        ];
    });
}

/** One rule per (apiGroup, resource, names), verbs merged and sorted. */
function mergeRules(rules: object[]): object[] {
    const out = new Map<string, { apiGroups: string[]; resources: string[]; resourceNames?: string[]; verbs: string[] }>();
    for (const r of rules as { apiGroups: string[]; resources: string[]; resourceNames?: string[]; verbs: string[] }[]) {
        const key = JSON.stringify([r.apiGroups, r.resources, r.resourceNames ?? null]);
        const prev = out.get(key);
        out.set(key, { ...r, verbs: sorted([...(prev?.verbs ?? []), ...r.verbs]) });
    }
    return [...out.values()];
}

/** The issuer of GitHub Actions' OIDC tokens, also the prefix of their claims' IAM condition keys. */
export const GITHUB_OIDC_PROVIDER = "token.actions.githubusercontent.com";

/** The audience `aws-actions/configure-aws-credentials` requests (its `audience` input's default). */
export const GITHUB_OIDC_AUDIENCE = "sts.amazonaws.com";

/** What the trust policies need to know about CI: the repository whose workflows may assume the stacks' roles. */
export interface CiSettings {
    /** `owner/name` on github.com, exactly as GitHub spells it (the `sub` claim is compared case-sensitively). */
    readonly repository: string;
}

/**
 * Parses policy/ci.json. An owner is 1-39 letters, digits or hyphens; a repository name letters, digits, `.`, `_`, `-`.
 * @throws Error naming the key and what it must be.
 */
export function parseCiSettings(raw: unknown, source = "policy/ci.json"): CiSettings {
    const repository = (raw as { repository?: unknown } | null)?.repository;
    if (typeof repository !== "string" || !/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})\/[A-Za-z0-9._-]{1,100}$/.test(repository)) {
        throw new Error(`${source}: \`repository\` must be the GitHub repository the workflows run in, as "owner/name" (got ${JSON.stringify(repository)})`);
    }
    const unknown = Object.keys(raw as object).filter((k) => k !== "repository" && k !== "$comment");
    if (unknown.length > 0) throw new Error(`${source}: unknown key \`${unknown[0]}\` (allowed: repository, $comment)`);
    return { repository };
}

/**
 * The `sub` claim of a job that runs in a GitHub environment: `repo:<owner>/<name>:environment:<environment>`
 * (https://docs.github.com/en/actions/reference/security/oidc#example-subject-claims; with the repository's default
 * subject template).
 */
export function environmentSubject(ci: CiSettings, environment: string): string {
    return `repo:${ci.repository}:environment:${environment}`;
}

export interface TrustPolicy {
    readonly Version: "2012-10-17";
    readonly Statement: readonly {
        readonly Sid: string;
        readonly Effect: "Allow";
        readonly Principal: { readonly Federated: string };
        readonly Action: "sts:AssumeRoleWithWebIdentity";
        readonly Condition: { readonly StringEquals: Readonly<Record<string, string>> };
    }[];
}

/**
 * The trust policy of one stack's rotation role: GitHub's OIDC provider in the stack's account may assume it only for
 * a token whose audience is STS and whose subject is a job of this repository running in the GitHub environment named
 * after the stack. Exact matches (`StringEquals`), no wildcard: another repository, another environment, a branch or
 * a pull request's token is refused
 * (https://docs.github.com/en/actions/how-tos/secure-your-work/security-harden-deployments/oidc-in-aws: "If you use a
 * workflow with an environment, the sub field must reference the environment name"). The environment is what GitHub
 * protects (deployment branch rule, reviewers: README, "GitHub Actions"); the `sub` claim does not name the branch.
 * No `sts:TagSession`: configure-aws-credentials does not tag sessions it assumes with OIDC.
 */
export function trustPolicy(settings: Settings, stack: string, ci: CiSettings): TrustPolicy {
    return {
        Version: "2012-10-17",
        Statement: [
            {
                Sid: `GitHubActionsEnvironment${stack.replace(/[^A-Za-z0-9]/g, "").replace(/^./, (c) => c.toUpperCase())}`,
                Effect: "Allow",
                Principal: { Federated: `arn:aws:iam::${accountOf(settings)}:oidc-provider/${GITHUB_OIDC_PROVIDER}` },
                Action: "sts:AssumeRoleWithWebIdentity",
                Condition: {
                    StringEquals: {
                        [`${GITHUB_OIDC_PROVIDER}:aud`]: GITHUB_OIDC_AUDIENCE,
                        [`${GITHUB_OIDC_PROVIDER}:sub`]: environmentSubject(ci, stack),
                    },
                },
            },
        ],
    };
}
