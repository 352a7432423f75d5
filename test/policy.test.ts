/**
 * Least privilege: the IAM policy and the Kubernetes Role in policy/ grant exactly what the code uses. The AWS
 * actions are derived from the code — every AWS SDK v3 command our hooks and CLI send, plus what the providers call
 * for each resource type the program registers (rotation/providerPermissions.ts) — and compared both ways.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { Role } from "kubernetes-models/rbac.authorization.k8s.io/v1/Role";
import { RoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { AWS_PROVIDER_ACTIONS, KUBERNETES_PROVIDER_ACCESS } from "../rotation/providerPermissions";
import { ROOT, runProgram } from "./support/pulumiProgram";

/** IAM service prefix of each AWS SDK v3 client package. */
const SERVICE_PREFIX: Record<string, string> = {
    "@aws-sdk/client-secrets-manager": "secretsmanager",
    "@aws-sdk/client-ecs": "ecs",
    "@aws-sdk/client-cloudwatch-logs": "logs",
};

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
            if (!pkg) continue;
            expect(SERVICE_PREFIX[pkg], `unknown AWS client ${pkg} in ${file}`).toBeDefined();
            const action = `${SERVICE_PREFIX[pkg]}:${m[1]}`;
            found.set(action, [...(found.get(action) ?? []), relative(ROOT, file)]);
        }
    }
    return found;
}

interface Statement {
    Sid: string;
    Effect: string;
    Action: string[];
    Resource: string;
}
const policy = JSON.parse(readFileSync(join(ROOT, "policy", "iam-rotation-policy.json"), "utf8")) as { Statement: Statement[] };
const granted = policy.Statement.flatMap((s) => s.Action);

describe("IAM policy", () => {
    it("the scan finds the SDK calls it should (it can fail)", () => {
        const sdk = sdkActions();
        expect(sdk.get("ecs:UpdateService")).toEqual(["hooks/ecsRedeploy.ts"]);
        expect(sdk.get("secretsmanager:ListSecrets")).toEqual(["automation/actions/status.ts"]);
    });

    it("grants exactly the actions the code uses: SDK calls plus what the providers call for the resources registered", async () => {
        const types = new Set<string>();
        for (const stack of ["staging", "production"] as const) {
            const run = await runProgram({ stack });
            for (const r of run.registrations) {
                if (r.type.startsWith("aws:")) types.add(r.type);
            }
            for (const token of run.invokes) if (token.startsWith("aws:")) types.add(token);
        }
        for (const t of types) expect(AWS_PROVIDER_ACTIONS[t], `no provider actions listed for ${t}`).toBeDefined();
        const used = new Set([...sdkActions().keys(), ...[...types].flatMap((t) => AWS_PROVIDER_ACTIONS[t])]);
        expect([...granted].sort()).toEqual([...used].sort());
        expect(new Set(granted).size).toBe(granted.length);
    });

    it("scopes every action to the prefix, cluster or log group, except ListSecrets (no resource-level permissions)", () => {
        for (const s of policy.Statement) {
            expect(s.Effect).toBe("Allow");
            if (s.Action.some((a) => a.startsWith("secretsmanager:") && a !== "secretsmanager:ListSecrets")) {
                expect(s.Resource).toBe("arn:aws:secretsmanager:ap-southeast-1:*:secret:buywhere/*");
            }
            if (s.Resource === "*") expect(s.Action).toEqual(["secretsmanager:ListSecrets"]);
        }
    });
});

describe("Kubernetes RBAC", () => {
    const docs = parseAllDocuments(readFileSync(join(ROOT, "policy", "k8s-rbac.yaml"), "utf8")).map((d) => d.toJS());
    const roles = docs.filter((d) => d.kind === "Role");

    it("is valid against the official schemas and binds each Role in its namespace", () => {
        for (const d of docs) {
            const model = d.kind === "Role" ? new Role(d) : new RoleBinding(d);
            expect(() => model.validate()).not.toThrow();
        }
        expect(roles.map((r) => r.metadata.namespace).sort()).toEqual(["production", "staging"]);
        for (const b of docs.filter((d) => d.kind === "RoleBinding")) {
            expect(b.roleRef).toEqual({ kind: "Role", name: "secrets-rotation", apiGroup: "rbac.authorization.k8s.io" });
        }
    });

    it.each(["staging", "production"] as const)("grants in %s exactly what the program's Kubernetes resources need", async (stack) => {
        const run = await runProgram({ stack });
        const need = new Map<string, Set<string>>();
        for (const r of run.registrations.filter((r) => r.type.startsWith("kubernetes:") && !r.type.startsWith("pulumi:"))) {
            expect(KUBERNETES_PROVIDER_ACCESS[r.type], `no access listed for ${r.type}`).toBeDefined();
            for (const a of KUBERNETES_PROVIDER_ACCESS[r.type]) {
                const key = `${a.apiGroup}/${a.resource}`;
                need.set(key, new Set([...(need.get(key) ?? []), ...a.verbs]));
            }
        }
        const role = roles.find((r) => r.metadata.namespace === stack)!;
        const grants = new Map<string, Set<string>>();
        for (const rule of role.rules as { apiGroups: string[]; resources: string[]; verbs: string[] }[]) {
            for (const g of rule.apiGroups) for (const res of rule.resources) grants.set(`${g}/${res}`, new Set(rule.verbs));
        }
        const asObject = (m: Map<string, Set<string>>) => Object.fromEntries([...m].map(([k, v]) => [k, [...v].sort()]).sort());
        expect(asObject(grants)).toEqual(asObject(need));
    });
});
