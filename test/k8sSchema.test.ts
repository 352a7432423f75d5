/**
 * No Kubernetes API server can run here, so the objects the program registers are validated against the official
 * OpenAPI schemas (kubernetes-models): the Secret as written, and each Deployment patch exactly as registered.
 */
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { Secret } from "kubernetes-models/v1/Secret";
import { describe, expect, it } from "vitest";
import { RESTARTED_AT } from "../rotation/components/restarts";
import { T, ofType, runProgram, stackConfig } from "./support/pulumiProgram";

interface SchemaError {
    readonly instancePath: string;
    readonly keyword: string;
    readonly params: { readonly missingProperty?: string };
    readonly message?: string;
}

/** The official schema's complaints about `model` (kubernetes-models throws ajv's errors). */
function schemaErrors(model: { validate(): void }): SchemaError[] {
    try {
        model.validate();
        return [];
    } catch (err) {
        const errors = (err as { errors?: SchemaError[] }).errors;
        if (!errors) throw err;
        return errors;
    }
}

/**
 * A server-side-apply patch is an apply configuration: the schema of its kind with every field optional (the live
 * object supplies the rest). So it must satisfy the schema in everything but `required`, which is listed apart.
 */
function asApplyConfiguration(errors: SchemaError[]): { invalid: SchemaError[]; notSet: string[] } {
    return {
        invalid: errors.filter((e) => e.keyword !== "required"),
        notSet: errors.filter((e) => e.keyword === "required").map((e) => `${e.instancePath}/${e.params.missingProperty}`),
    };
}

describe.each(["staging", "production"] as const)("Kubernetes objects of the %s stack", (stack) => {
    const deployments = (stackConfig(stack)["rotation:kubernetes"] as { deployments: { namespace: string; name: string }[] }).deployments;

    it("the Secret patch is a valid v1 Secret with valid keys and base64 data", async () => {
        const run = await runProgram({ stack });
        const [patch] = ofType(run, T.secretPatch);
        const secret = new Secret({ ...patch.inputs });
        expect(schemaErrors(secret)).toEqual([]);
        for (const [key, value] of Object.entries(secret.data ?? {})) {
            expect(key).toMatch(/^[-._a-zA-Z0-9]+$/);
            expect(Buffer.from(value, "base64").toString("base64")).toBe(value);
        }
    });

    it("the created Secret (secretMode: create) is a valid v1 Secret", async () => {
        const k8s = stackConfig(stack)["rotation:kubernetes"] as Record<string, unknown>;
        const run = await runProgram({ stack, config: { "rotation:kubernetes": { ...k8s, secretMode: "create" } } });
        const [created] = ofType(run, T.secret);
        expect(schemaErrors(new Secret({ ...created.inputs }))).toEqual([]);
    });

    it("each Deployment patch, as registered, is a valid apps/v1 Deployment apply configuration that sets only the restart annotation", async () => {
        const run = await runProgram({ stack });
        const patches = ofType(run, T.deploymentPatch);
        expect(patches.map((p) => `${p.inputs.metadata.namespace}/${p.inputs.metadata.name}`).sort()).toEqual(
            deployments.map((d) => `${d.namespace}/${d.name}`).sort(),
        );
        for (const p of patches) {
            const { invalid, notSet } = asApplyConfiguration(schemaErrors(new Deployment({ ...p.inputs })));
            expect(invalid, p.name).toEqual([]);
            // The one required field left to the live object is the selector, which is immutable: a patch must not touch it.
            expect(notSet, p.name).toEqual(["/spec/selector"]);
            expect(p.inputs).toEqual({
                apiVersion: "apps/v1",
                kind: "Deployment",
                metadata: { name: p.inputs.metadata.name, namespace: p.inputs.metadata.namespace, annotations: { "pulumi.com/patchForce": "true" } },
                spec: { template: { metadata: { annotations: { [RESTARTED_AT]: expect.stringMatching(/^rotation-[0-9a-f]{16}$/) } } } },
            });
        }
    });

    it("the schema check can fail: a registered patch with a non-string annotation or a mistyped field is invalid", async () => {
        const run = await runProgram({ stack });
        const [p] = ofType(run, T.deploymentPatch);
        const numeric = structuredClone(p.inputs);
        numeric.spec.template.metadata.annotations[RESTARTED_AT] = 42;
        expect(asApplyConfiguration(schemaErrors(new Deployment(numeric))).invalid).toEqual([
            expect.objectContaining({ instancePath: `/spec/template/metadata/annotations/${RESTARTED_AT.replace("/", "~1")}`, keyword: "type" }),
        ]);
        const mistyped = { ...structuredClone(p.inputs), spec: { ...p.inputs.spec, replicas: "3" } };
        expect(asApplyConfiguration(schemaErrors(new Deployment(mistyped))).invalid).toEqual([
            expect.objectContaining({ instancePath: "/spec/replicas", keyword: "type" }),
        ]);
    });
});
