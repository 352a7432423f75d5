/**
 * Least privilege per stack: the IAM policy and the Kubernetes Role in policy/<stack>/ are generated from the stack
 * file (rotation/accessPolicy.ts), stay in step with it, grant exactly what the code uses, and never overlap. The AWS
 * actions are derived from the code — every AWS SDK v3 command our hooks and CLI send, plus what the providers call
 * for each resource type the program registers (rotation/providerPermissions.ts) — and compared both ways.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { Role } from "kubernetes-models/rbac.authorization.k8s.io/v1/Role";
import { RoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { policyFiles } from "../automation/actions/policy";
import { ELASTICACHE_BOOTSTRAP_ACTIONS } from "../automation/elasticacheBootstrap";
import { loadSettings } from "../automation/stacks";
import { IamPolicy, IamStatement, TrustPolicy, iamPolicy, parseCiSettings, trustPolicy } from "../rotation/accessPolicy";
import { SECRETS } from "../rotation/catalog";
import { ADMIN_SECRET_ACTIONS, AUDIT_ACTIONS, AWS_PROVIDER_ACTIONS, ECS_REDEPLOY_ACTIONS, ELASTICACHE_USER_ACTIONS, KUBERNETES_PROVIDER_ACCESS } from "../rotation/providerPermissions";
import { parseSettings } from "../rotation/settings";
import { ROOT, runProgram, stackConfig } from "./support/pulumiProgram";

/** IAM service prefix of each AWS SDK v3 client package. */
const SERVICE_PREFIX: Record<string, string> = {
    "@aws-sdk/client-secrets-manager": "secretsmanager",
    "@aws-sdk/client-ecs": "ecs",
    "@aws-sdk/client-cloudwatch-logs": "logs",
    "@aws-sdk/client-sts": "sts",
    "@aws-sdk/client-elasticache": "elasticache",
};

/**
 * SDK clients that talk to something other than AWS, so need no IAM permission: hooks/r2Probe.ts signs S3 requests to
 * Cloudflare R2's S3-compatible endpoint with the new R2 token (https://developers.cloudflare.com/r2/api/s3/tokens/).
 */
const NOT_AWS: Readonly<Record<string, string>> = { "hooks/r2Probe.ts": "@aws-sdk/client-s3" };

/**
 * Code run with an operator's AWS credentials, never the rotation role's: `bootstrap`'s ElastiCache steps create the
 * RBAC user and add it to the cache's user group once per environment (automation/elasticacheBootstrap.ts). Their
 * actions are checked against their own table and kept out of the stacks' policies.
 */
const OPERATOR_ONLY = "automation/elasticacheBootstrap.ts";

/** Calls that need no IAM permission (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html). */
const NO_PERMISSION = new Set(["sts:GetCallerIdentity"]);

function sourceFiles(dir: string): string[] {
    return readdirSync(dir).flatMap((f) => {
        const p = join(dir, f);
        return statSync(p).isDirectory() ? sourceFiles(p) : p.endsWith(".ts") ? [p] : [];
    });
}

/** `prefix:Action` for every `new XxxCommand(` sent with an AWS SDK client, with the file it is in. */
function sdkActions(): Map<string, string[]> {
    const found = new Map<string, string[]>();
    for (const file of [...sourceFiles(join(ROOT, "hooks")), ...sourceFiles(join(ROOT, "automation"))]) {
        const text = readFileSync(file, "utf8");
        const imported = new Map<string, string>();
        for (const m of text.matchAll(/import\s*{([^}]*)}\s*from\s*"(@aws-sdk\/client-[a-z0-9-]+)"/g)) {
            for (const name of m[1].split(",").map((s) => s.trim()).filter(Boolean)) imported.set(name, m[2]);
        }
        // A command sent directly (`new ListSecretsCommand(`) or through the SDK's paginator (`paginateListSecrets(`).
        for (const m of [...text.matchAll(/new\s+(\w+)Command\s*\(/g), ...text.matchAll(/\bpaginate(\w+)\s*\(/g)]) {
            const pkg = imported.get(`${m[1]}Command`) ?? imported.get(`paginate${m[1]}`);
            if (!pkg || NOT_AWS[relative(ROOT, file)] === pkg) continue;
            expect(SERVICE_PREFIX[pkg], `unknown AWS client ${pkg} in ${file}`).toBeDefined();
            const action = `${SERVICE_PREFIX[pkg]}:${m[1]}`;
            found.set(action, [...(found.get(action) ?? []), relative(ROOT, file)]);
        }
    }
    return found;
}

const STACKS = ["staging", "production"] as const;
const generated = (stack: string) => policyFiles(stack, loadSettings(stack, {}));
const policyOf = (stack: string) => JSON.parse(readFileSync(join(ROOT, "policy", stack, "iam-policy.json"), "utf8")) as IamPolicy;
const resourcesOf = (s: IamStatement) => (typeof s.Resource === "string" ? [s.Resource] : [...s.Resource]);

/** IAM's ARN matching: `*` any run of characters, `?` exactly one. */
function arnMatches(pattern: string, arn: string): boolean {
    const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`);
    return re.test(arn);
}

describe("IAM policy, one per stack", () => {
    it.each(STACKS)("policy/%s/ is exactly what `secrets-rotation policy --write` generates from the stack file", (stack) => {
        for (const [path, text] of Object.entries(generated(stack))) {
            expect(readFileSync(join(ROOT, path), "utf8"), `${path} is stale: run secrets-rotation policy --stack ${stack} --write`).toBe(text);
        }
    });

    it("the scan finds the SDK calls it should (it can fail)", () => {
        const sdk = sdkActions();
        expect(sdk.get("ecs:UpdateService")).toEqual(["hooks/ecsRedeploy.ts"]);
        expect(sdk.get("secretsmanager:ListSecrets")).toEqual(["automation/actions/status.ts"]);
    });

    it("each declared action table is exactly what its code sends", () => {
        const sdk = sdkActions();
        const from = (file: string) => [...sdk].filter(([, files]) => files.includes(file)).map(([a]) => a).sort();
        expect(from("hooks/ecsRedeploy.ts").filter((a) => !NO_PERMISSION.has(a))).toEqual([...ECS_REDEPLOY_ACTIONS].sort());
        expect(from("hooks/ecsRedeploy.ts")).toContain("sts:GetCallerIdentity");
        expect(from("automation/auditCloudWatch.ts")).toEqual([...AUDIT_ACTIONS].sort());
        expect(from("hooks/elasticacheApply.ts")).toEqual([...ELASTICACHE_USER_ACTIONS].sort());
        expect(from("hooks/adminSecret.ts")).toEqual([...ADMIN_SECRET_ACTIONS].sort());
        expect(from(OPERATOR_ONLY)).toEqual([...ELASTICACHE_BOOTSTRAP_ACTIONS].sort());
    });

    it.each(STACKS)("%s: bootstrap's ElastiCache actions (an operator's, once) are not the rotation role's", (stack) => {
        const granted = policyOf(stack).Statement.flatMap((s) => s.Action);
        for (const a of ELASTICACHE_BOOTSTRAP_ACTIONS.filter((x) => !ELASTICACHE_USER_ACTIONS.includes(x))) expect(granted).not.toContain(a);
    });

    it.each(STACKS)("%s (Redis on ElastiCache): ModifyUser and DescribeUsers on its one RBAC user's ARN, nothing else of ElastiCache", (stack) => {
        const settings = loadSettings(stack, {});
        expect(settings.redis.kind).toBe("elasticache");
        const ec = policyOf(stack).Statement.filter((s) => s.Action.some((a) => a.startsWith("elasticache:")));
        expect(ec).toEqual([
            {
                Sid: "RotateElastiCacheUser",
                Effect: "Allow",
                Action: ["elasticache:DescribeUsers", "elasticache:ModifyUser"],
                Resource: `arn:aws:elasticache:ap-southeast-1:${settings.aws.accountId}:user:${settings.redis.userId}`,
            },
        ]);
        // A self-run Redis (`kind: acl`) needs no ElastiCache permission at all.
        const acl = iamPolicy({ ...settings, redis: { ...settings.redis, kind: "acl", userId: undefined } });
        expect(acl.Statement.some((s) => s.Action.some((a) => a.startsWith("elasticache:")))).toBe(false);
    });

    it("admin secrets (rotation:adminSecrets) add GetSecretValue on exactly those secrets", () => {
        const settings = loadSettings("staging", {});
        const pg = "arn:aws:secretsmanager:ap-southeast-1:111122223333:secret:rds!cluster-0a1b2c3d-aaaa-bbbb-cccc-0123456789ab-AbC123";
        const ts = "arn:aws:secretsmanager:ap-southeast-1:111122223333:secret:buywhere-admin/typesense-XyZ789";
        const policy = iamPolicy({ ...settings, adminSecrets: { database: pg, typesense: ts } });
        expect(policy.Statement.find((s) => s.Sid === "ReadAdminSecrets")).toEqual({
            Sid: "ReadAdminSecrets",
            Effect: "Allow",
            Action: ["secretsmanager:GetSecretValue"],
            Resource: [pg, ts].sort(),
        });
        expect(iamPolicy(settings).Statement.some((s) => s.Sid === "ReadAdminSecrets")).toBe(false);
    });

    it("admin secrets under customer-managed KMS keys (rotation:aws.adminSecretsKmsKeyArns) add kms:Decrypt on those keys, through Secrets Manager, for those secrets only", () => {
        const staging = stackConfig("staging");
        const pg = "arn:aws:secretsmanager:ap-southeast-1:111122223333:secret:rds!cluster-0a1b2c3d-aaaa-bbbb-cccc-0123456789ab-AbC123";
        const ts = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:buywhere-admin/typesense-XyZ789";
        const key = "arn:aws:kms:ap-southeast-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        const mrk = "arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab";
        const aws = staging["rotation:aws"] as Record<string, unknown>;
        const settings = parseSettings({ ...staging, "rotation:adminSecrets": { database: pg, typesense: ts }, "rotation:aws": { ...aws, adminSecretsKmsKeyArns: [mrk, key] } });
        const policy = iamPolicy(settings);
        expect(policy.Statement.find((s) => s.Sid === "DecryptAdminSecrets")).toEqual({
            Sid: "DecryptAdminSecrets",
            Effect: "Allow",
            Action: ["kms:Decrypt"],
            Resource: [key, mrk],
            Condition: {
                StringEquals: {
                    "kms:ViaService": ["secretsmanager.ap-southeast-1.amazonaws.com", "secretsmanager.eu-west-1.amazonaws.com"],
                    "kms:EncryptionContext:SecretARN": [pg, ts],
                },
            },
        });
        // One secret: a single ViaService value; never GenerateDataKey (the hooks only read admin secrets).
        const one = iamPolicy(parseSettings({ ...staging, "rotation:adminSecrets": { database: pg }, "rotation:aws": { ...aws, adminSecretsKmsKeyArns: [key] } }));
        expect(one.Statement.find((s) => s.Sid === "DecryptAdminSecrets")!.Condition).toEqual({
            StringEquals: { "kms:ViaService": "secretsmanager.ap-southeast-1.amazonaws.com", "kms:EncryptionContext:SecretARN": [pg] },
        });
        expect(one.Statement.flatMap((s) => s.Action)).not.toContain("kms:GenerateDataKey");
        // Without the key list, admin secrets grant no KMS action (the default aws/secretsmanager key needs none).
        expect(iamPolicy(parseSettings({ ...staging, "rotation:adminSecrets": { database: pg } })).Statement.some((s) => s.Action.some((a) => a.startsWith("kms:")))).toBe(false);
        // Refused: an alias (IAM authorises Decrypt against the key's ARN), and keys without any admin secret.
        const refusal = (raw: Record<string, unknown>) => {
            try {
                parseSettings(raw);
            } catch (err) {
                return (err as Error).message;
            }
            return "accepted";
        };
        expect(refusal({ ...staging, "rotation:adminSecrets": { database: pg }, "rotation:aws": { ...aws, adminSecretsKmsKeyArns: ["arn:aws:kms:ap-southeast-1:111122223333:alias/rds"] } })).toContain(
            "`rotation:aws.adminSecretsKmsKeyArns[0]` \"arn:aws:kms:ap-southeast-1:111122223333:alias/rds\" is not a KMS key's ARN",
        );
        expect(refusal({ ...staging, "rotation:aws": { ...aws, adminSecretsKmsKeyArns: [key] } })).toBe(
            "`rotation:aws.adminSecretsKmsKeyArns` is for the keys of `rotation:adminSecrets`, and the stack file names no admin secret; remove it",
        );
    });

    it.each(STACKS)("the %s policy grants exactly the actions the code uses: SDK calls plus what the providers call", async (stack) => {
        const run = await runProgram({ stack });
        const types = new Set<string>([...run.registrations.map((r) => r.type), ...run.invokes].filter((t) => t.startsWith("aws:")));
        for (const t of types) expect(AWS_PROVIDER_ACTIONS[t], `no provider actions listed for ${t}`).toBeDefined();
        const rotationCalls = [...sdkActions()].filter(([, files]) => files.some((f) => f !== OPERATOR_ONLY)).map(([a]) => a);
        const used = new Set([...rotationCalls.filter((a) => !NO_PERMISSION.has(a)), ...[...types].flatMap((t) => AWS_PROVIDER_ACTIONS[t])]);
        const granted = policyOf(stack).Statement.flatMap((s) => s.Action);
        expect([...new Set(granted)].sort()).toEqual([...used].sort());
    });

    it.each(STACKS)("the %s policy names exact resources: the catalog's secrets under its prefix, its services, the audit log group", (stack) => {
        const settings = loadSettings(stack, {});
        const policy = policyOf(stack);
        const secrets = policy.Statement.find((s) => s.Sid === "DeclareAndPublishSecrets")!;
        expect(resourcesOf(secrets)).toEqual(SECRETS.map((x) => `arn:aws:secretsmanager:ap-southeast-1:${settings.aws.accountId}:secret:${settings.aws.secretPrefix}${x.name}-??????`));
        const ecs = policy.Statement.find((s) => s.Sid === "RedeployEcsServices")!;
        expect(resourcesOf(ecs)).toEqual(settings.ecs!.services.map((x) => `arn:aws:ecs:ap-southeast-1:${settings.aws.accountId}:service/buywhere-api/${x.name}`));
        // Only ListSecrets (no resource-level permissions; names and metadata, never a value) is unscoped.
        for (const s of policy.Statement.filter((x) => resourcesOf(x).includes("*"))) expect(s.Action).toEqual(["secretsmanager:ListSecrets"]);
    });

    it("staging's identity can reach nothing of production's, and the other way round (even with production's parent prefix)", () => {
        const concrete = (stack: string) => {
            const settings = loadSettings(stack, {});
            return [
                ...SECRETS.map((x) => `arn:aws:secretsmanager:ap-southeast-1:${settings.aws.accountId}:secret:${settings.aws.secretPrefix}${x.name}-AbC123`),
                ...settings.ecs!.services.map((x) => `arn:aws:ecs:ap-southeast-1:${settings.aws.accountId}:service/buywhere-api/${x.name}`),
            ];
        };
        for (const [a, b] of [["staging", "production"], ["production", "staging"]] as const) {
            const patterns = policyOf(a).Statement.flatMap(resourcesOf).filter((r) => r !== "*");
            for (const arn of concrete(b)) {
                expect(patterns.filter((p) => arnMatches(p, arn)), `${a}'s policy reaches ${arn}`).toEqual([]);
            }
        }
        // The check can fail: a prefix wildcard such as the seed's `buywhere/*` would reach staging from production.
        expect(arnMatches("arn:aws:secretsmanager:ap-southeast-1:444455556666:secret:buywhere/*", "arn:aws:secretsmanager:ap-southeast-1:444455556666:secret:buywhere/staging/DATABASE_URL-AbC123")).toBe(true);
    });

    it("a KMS key adds exactly the KMS actions Secrets Manager uses, on that key", () => {
        const settings = loadSettings("staging", {});
        const key = "arn:aws:kms:ap-southeast-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        const kms = iamPolicy({ ...settings, aws: { ...settings.aws, kmsKeyId: key } }).Statement.find((s) => s.Sid === "UseSecretsKmsKey")!;
        expect(kms).toEqual({
            Sid: "UseSecretsKmsKey",
            Effect: "Allow",
            Action: ["kms:Decrypt", "kms:GenerateDataKey"],
            Resource: key,
            Condition: { StringEquals: { "kms:ViaService": "secretsmanager.ap-southeast-1.amazonaws.com" } },
        });
        expect(iamPolicy(settings).Statement.some((s) => s.Sid === "UseSecretsKmsKey")).toBe(false);
    });
});

describe("Kubernetes RBAC, one per stack", () => {
    const docsOf = (stack: string) => parseAllDocuments(readFileSync(join(ROOT, "policy", stack, "k8s-rbac.yaml"), "utf8")).map((d) => d.toJS());

    it.each(STACKS)("%s: valid against the official schemas, bound in its own namespace to its own group", (stack) => {
        const docs = docsOf(stack);
        for (const d of docs) {
            const model = d.kind === "Role" ? new Role(d) : new RoleBinding(d);
            expect(() => model.validate()).not.toThrow();
            expect(d.metadata.namespace).toBe(stack);
        }
        const binding = docs.find((d) => d.kind === "RoleBinding");
        expect(binding.subjects).toEqual([{ kind: "Group", name: `buywhere:secrets-rotation:${stack}`, apiGroup: "rbac.authorization.k8s.io" }]);
    });

    it.each(STACKS)("%s: grants exactly what the program's Kubernetes resources need, get/patch only on its Secret and Deployments", async (stack) => {
        const run = await runProgram({ stack });
        const settings = loadSettings(stack, {});
        const need = new Map<string, Set<string>>();
        for (const r of run.registrations.filter((r) => r.type.startsWith("kubernetes:") && !r.type.startsWith("pulumi:"))) {
            expect(KUBERNETES_PROVIDER_ACCESS[r.type], `no access listed for ${r.type}`).toBeDefined();
            for (const a of KUBERNETES_PROVIDER_ACCESS[r.type]) {
                const key = `${a.apiGroup}/${a.resource}`;
                need.set(key, new Set([...(need.get(key) ?? []), ...a.verbs]));
            }
        }
        const role = docsOf(stack).find((d) => d.kind === "Role");
        const grants = new Map<string, Set<string>>();
        for (const rule of role.rules as { apiGroups: string[]; resources: string[]; resourceNames?: string[]; verbs: string[] }[]) {
            for (const g of rule.apiGroups) {
                for (const res of rule.resources) {
                    grants.set(`${g}/${res}`, new Set([...(grants.get(`${g}/${res}`) ?? []), ...rule.verbs]));
                    if (rule.verbs.some((v) => v === "get" || v === "patch") && (res === "secrets" || res === "deployments")) {
                        const names = res === "secrets" ? [settings.kubernetes!.secretName] : settings.kubernetes!.deployments.map((d) => d.name);
                        expect(rule.resourceNames).toEqual(names);
                    }
                }
            }
        }
        const asObject = (m: Map<string, Set<string>>) => Object.fromEntries([...m].map(([k, v]) => [k, [...v].sort()]).sort());
        expect(asObject(grants)).toEqual(asObject(need));
    });
});

describe("trust policy, one per stack: only the stack's own GitHub environment of this repository", () => {
    const ci = parseCiSettings(JSON.parse(readFileSync(join(ROOT, "policy", "ci.json"), "utf8")));
    const trustOf = (stack: string) => JSON.parse(readFileSync(join(ROOT, "policy", stack, "trust-policy.json"), "utf8")) as TrustPolicy;

    /**
     * Whether IAM would let this web-identity request assume the role: some Allow statement whose principal is the
     * provider the token comes from, for AssumeRoleWithWebIdentity, with every StringEquals condition met exactly
     * (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_String).
     */
    function allows(policy: TrustPolicy, request: { provider: string; aud: string; sub: string }): boolean {
        const claims: Record<string, string> = { "token.actions.githubusercontent.com:aud": request.aud, "token.actions.githubusercontent.com:sub": request.sub };
        return policy.Statement.some((s) => {
            const keys = Object.keys(s.Condition);
            if (s.Effect !== "Allow" || s.Action !== "sts:AssumeRoleWithWebIdentity" || s.Principal.Federated !== request.provider) return false;
            if (keys.some((k) => k !== "StringEquals")) return false; // anything else (StringLike: wildcards) is out
            return Object.entries(s.Condition.StringEquals).every(([k, v]) => claims[k] === v);
        });
    }

    const provider = (stack: string) => `arn:aws:iam::${loadSettings(stack, {}).aws.accountId}:oidc-provider/token.actions.githubusercontent.com`;
    const token = (stack: string, sub: string, aud = "sts.amazonaws.com") => ({ provider: provider(stack), aud, sub });

    it.each(STACKS)("%s's role accepts its own environment's token and nothing else", (stack) => {
        const other = stack === "staging" ? "production" : "staging";
        const policy = trustOf(stack);
        const [owner, name] = ci.repository.split("/");
        expect(policy).toEqual(trustPolicy(loadSettings(stack, {}), stack, ci));
        expect(allows(policy, token(stack, `repo:${ci.repository}:environment:${stack}`))).toBe(true);
        for (const sub of [
            `repo:${ci.repository}:environment:${other}`, // the other stack's environment
            `repo:${ci.repository}:environment:${stack.toUpperCase()}`,
            `repo:${ci.repository}:ref:refs/heads/main`, // a job on main outside any environment
            `repo:${ci.repository}:pull_request`,
            `repo:${owner}/${name}-fork:environment:${stack}`, // another repository with an environment of that name
            `repo:someone-else/${name}:environment:${stack}`,
            `repo:${ci.repository}:environment:${stack}:extra`,
        ]) {
            expect(allows(policy, token(stack, sub)), sub).toBe(false);
        }
        expect(allows(policy, token(stack, `repo:${ci.repository}:environment:${stack}`, "https://github.com/" + owner))).toBe(false); // GitHub's default audience
        expect(allows(policy, { ...token(stack, `repo:${ci.repository}:environment:${stack}`), provider: provider(other) })).toBe(false); // the other account's provider
    });

    it("the two roles trust disjoint subjects, each in its own stack's account", () => {
        const subs = STACKS.map((s) => trustOf(s).Statement.map((st) => st.Condition.StringEquals["token.actions.githubusercontent.com:sub"]));
        expect(subs[0].filter((x) => subs[1].includes(x))).toEqual([]);
        for (const stack of STACKS) expect(trustOf(stack).Statement.map((st) => st.Principal.Federated)).toEqual([provider(stack)]);
        // The evaluator can fail: a wildcard subject would let the other environment in.
        const loose = { ...trustOf("staging"), Statement: trustOf("staging").Statement.map((st) => ({ ...st, Condition: { StringEquals: { ...st.Condition.StringEquals, "token.actions.githubusercontent.com:sub": `repo:${ci.repository}:environment:production` } } })) };
        expect(allows(loose, token("staging", `repo:${ci.repository}:environment:production`))).toBe(true);
    });

    it.each([
        [{ repository: "buywhere" }, "`repository` must be the GitHub repository the workflows run in"],
        [{ repository: "owner/name/extra" }, "`repository` must be"],
        [{ repository: "owner/na me" }, "`repository` must be"],
        [{ repository: "-owner/name" }, "`repository` must be"],
        [{}, "`repository` must be"],
        [{ repository: "owner/name", branch: "main" }, "unknown key `branch`"],
    ])("policy/ci.json %j is refused", (raw, message) => {
        expect(() => parseCiSettings(raw)).toThrow(message);
    });
});
