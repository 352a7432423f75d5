/**
 * No Kubernetes API server can run here, so the objects the program sends are validated against the official
 * OpenAPI schemas (kubernetes-models): the Secret as written, and each Deployment as it looks after our
 * server-side-apply patch lands on it.
 */
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { Secret } from "kubernetes-models/v1/Secret";
import { describe, expect, it } from "vitest";
import { RESTARTED_AT } from "../rotation/components/restarts";
import { T, ofType, runProgram, stackConfig } from "./support/pulumiProgram";

/** A Deployment as it might exist in the cluster before we patch it. */
const existing = (name: string, namespace: string) => ({
    metadata: { name, namespace },
    spec: {
        selector: { matchLabels: { app: name } },
        template: {
            metadata: { labels: { app: name }, annotations: { "prometheus.io/scrape": "true" } },
            spec: { containers: [{ name: "app", image: "buywhere/api:1", envFrom: [{ secretRef: { name: "buywhere-secrets" } }] }] },
        },
    },
});

describe.each(["staging", "production"] as const)("Kubernetes objects of the %s stack", (stack) => {
    it("the Secret patch is a valid v1 Secret with valid keys and base64 data", async () => {
        const run = await runProgram({ stack });
        const [patch] = ofType(run, T.secretPatch);
        const secret = new Secret({ ...patch.inputs });
        expect(() => secret.validate()).not.toThrow();
        for (const [key, value] of Object.entries(secret.data ?? {})) {
            expect(key).toMatch(/^[-._a-zA-Z0-9]+$/);
            expect(Buffer.from(value, "base64").toString("base64")).toBe(value);
        }
    });

    it("the created Secret (secretMode: create) is a valid v1 Secret", async () => {
        const k8s = stackConfig(stack)["rotation:kubernetes"] as Record<string, unknown>;
        const run = await runProgram({ stack, config: { "rotation:kubernetes": { ...k8s, secretMode: "create" } } });
        const [created] = ofType(run, T.secret);
        expect(() => new Secret({ ...created.inputs }).validate()).not.toThrow();
    });

    it("each Deployment stays valid with our restart patch applied, and only the restart annotation changes", async () => {
        const run = await runProgram({ stack });
        const patches = ofType(run, T.deploymentPatch);
        expect(patches.length).toBeGreaterThan(0);
        for (const p of patches) {
            const { name, namespace } = p.inputs.metadata;
            const before = existing(name, namespace);
            const annotations = p.inputs.spec.template.metadata.annotations;
            expect(Object.keys(annotations)).toEqual([RESTARTED_AT]);
            const after = structuredClone(before);
            Object.assign(after.spec.template.metadata.annotations, annotations);
            const deployment = new Deployment({ ...after });
            expect(() => deployment.validate()).not.toThrow();
            expect(deployment.spec?.template.metadata?.annotations).toEqual({ "prometheus.io/scrape": "true", [RESTARTED_AT]: annotations[RESTARTED_AT] });
        }
    });

    it("the schema check can fail: a non-string annotation is rejected", () => {
        const bad = existing("api", stack);
        (bad.spec.template.metadata.annotations as Record<string, unknown>)[RESTARTED_AT] = 42;
        expect(() => new Deployment({ ...bad } as never).validate()).toThrow(/must be string/);
    });
});
