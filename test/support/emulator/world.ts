/**
 * ENGINE EMULATOR (tests only; it is not Pulumi): the parts of the outside world no real server runs for here.
 * Both are file-backed (JSON under the backend directory) so that successive updates run by separate processes see
 * the same world.
 *
 * - KubernetesObjectStore: an in-memory stand-in for an API server: namespaces, objects validated against the
 *   official OpenAPI schemas (kubernetes-models) on every write, server-side apply with field managers and
 *   conflicts, and Deployments whose pod-template changes start a simulated rollout.
 * - CloudflareTokenDouble: a TEST DOUBLE of Cloudflare's account-token API (issue, update, revoke).
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { Secret } from "kubernetes-models/v1/Secret";

function loadJson<T>(file: string, empty: T): T {
    return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as T) : empty;
}

function saveJson(file: string, value: unknown): void {
    mkdirSync(dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
    writeFileSync(tmp, JSON.stringify(value, null, 2), { mode: 0o600 });
    renameSync(tmp, file);
}

/** An error as the API server would return it (`reason` as in metav1.StatusReason). */
export class KubernetesApiError extends Error {
    constructor(
        readonly reason: "NotFound" | "AlreadyExists" | "Conflict" | "Invalid",
        message: string,
    ) {
        super(message);
    }
}

type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; [k: string]: any }; [k: string]: any };

interface StoredObject {
    object: K8sObject;
    /** Field path (dotted, from the object root) -> field manager that owns it. */
    managers: Record<string, string>;
}

interface Cluster {
    namespaces: string[];
    objects: Record<string, StoredObject>;
    /** Deployment key -> the rollout started by its last pod-template change. */
    rollouts: Record<string, { generation: number; startedAt: number }>;
}

/** The official schema of each kind the emulator stores. */
const MODELS: Record<string, new (data: any) => { validate(): void }> = {
    "v1/Secret": Secret,
    "v1/ConfigMap": ConfigMap,
    "v1/Namespace": Namespace,
    "apps/v1/Deployment": Deployment,
};

/** Field paths are JSON arrays of keys (annotation keys contain dots). Never owned: identity fields. */
const UNOWNED = new Set([["apiVersion"], ["kind"], ["metadata", "name"], ["metadata", "namespace"]].map((p) => JSON.stringify(p)));

function leaves(value: any, prefix: string[] = []): [string, unknown][] {
    if (value && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length > 0) {
        return Object.entries(value).flatMap(([k, v]) => leaves(v, [...prefix, k]));
    }
    return prefix.length > 0 ? [[JSON.stringify(prefix), value]] : [];
}

/** How the API server prints a field path (`.data.KEY`). */
function showPath(path: string): string {
    return `.${(JSON.parse(path) as string[]).join(".")}`;
}

function getPath(obj: any, path: string): unknown {
    return (JSON.parse(path) as string[]).reduce((node, part) => (node && typeof node === "object" ? node[part] : undefined), obj);
}

function setPath(obj: any, path: string, value: unknown): void {
    const parts = JSON.parse(path) as string[];
    let node = obj;
    for (const part of parts.slice(0, -1)) {
        if (!node[part] || typeof node[part] !== "object") node[part] = {};
        node = node[part];
    }
    node[parts[parts.length - 1]] = value;
}

function deletePath(obj: any, path: string): void {
    const parts = JSON.parse(path) as string[];
    const stack: any[] = [obj];
    for (const part of parts.slice(0, -1)) {
        const next = stack[stack.length - 1]?.[part];
        if (!next || typeof next !== "object") return;
        stack.push(next);
    }
    delete stack[stack.length - 1][parts[parts.length - 1]];
    // Drop maps left empty by the removal, as an apply of a smaller configuration would.
    for (let i = parts.length - 2; i >= 0; i--) {
        if (Object.keys(stack[i + 1]).length === 0) delete stack[i][parts[i]];
    }
}

export function objectKey(apiVersion: string, kind: string, namespace: string | undefined, name: string): string {
    return `${apiVersion}/${kind}/${namespace ?? ""}/${name}`;
}

/**
 * An in-memory stand-in for a Kubernetes API server (EMULATOR, not Kubernetes): one object store per cluster name
 * (the provider's `context`).
 */
export class KubernetesObjectStore {
    constructor(readonly file: string) {}

    private read(): Record<string, Cluster> {
        return loadJson<Record<string, Cluster>>(this.file, {});
    }

    private mutate<T>(cluster: string, fn: (c: Cluster) => T): T {
        const all = this.read();
        const c = (all[cluster] ??= { namespaces: [], objects: {}, rollouts: {} });
        const result = fn(c);
        saveJson(this.file, all);
        return result;
    }

    /** Validates an object against its official schema, failing like the API server's validation. */
    static validate(object: K8sObject): void {
        const model = MODELS[`${object.apiVersion}/${object.kind}`];
        if (!model) throw new KubernetesApiError("Invalid", `the engine emulator has no schema for ${object.apiVersion}/${object.kind}`);
        try {
            new model(structuredClone(object)).validate();
        } catch (err) {
            const group = object.apiVersion.includes("/") ? `.${object.apiVersion.split("/")[0]}` : "";
            throw new KubernetesApiError("Invalid", `${object.kind}${group} "${object.metadata.name}" is invalid: ${(err as Error).message}`);
        }
    }

    createNamespace(cluster: string, namespace: string): void {
        this.mutate(cluster, (c) => {
            if (!c.namespaces.includes(namespace)) c.namespaces.push(namespace);
        });
    }

    /** Writes an object as someone else (kubectl, the seed) would: whole, owned by `manager`. */
    put(cluster: string, object: K8sObject, manager = "kubectl-create"): void {
        KubernetesObjectStore.validate(object);
        this.mutate(cluster, (c) => {
            this.requireNamespace(c, object);
            const managers = Object.fromEntries(leaves(object).filter(([p]) => !UNOWNED.has(p)).map(([p]) => [p, manager]));
            c.objects[objectKey(object.apiVersion, object.kind, object.metadata.namespace, object.metadata.name)] = { object: structuredClone(object), managers };
        });
    }

    get(cluster: string, apiVersion: string, kind: string, namespace: string | undefined, name: string): K8sObject | undefined {
        const stored = this.read()[cluster]?.objects[objectKey(apiVersion, kind, namespace, name)];
        return stored ? structuredClone(stored.object) : undefined;
    }

    /** Which field manager owns each field of an object (`.data.KEY` -> manager). */
    managers(cluster: string, apiVersion: string, kind: string, namespace: string | undefined, name: string): Record<string, string> {
        const managers = this.read()[cluster]?.objects[objectKey(apiVersion, kind, namespace, name)]?.managers ?? {};
        return Object.fromEntries(Object.entries(managers).map(([p, m]) => [showPath(p), m]));
    }

    private requireNamespace(c: Cluster, object: K8sObject): void {
        const ns = object.metadata.namespace;
        if (ns !== undefined && object.kind !== "Namespace" && !c.namespaces.includes(ns)) {
            throw new KubernetesApiError("NotFound", `namespaces "${ns}" not found`);
        }
    }

    /**
     * Server-side apply (PATCH with `application/apply-patch+yaml`): upserts the object; fields the configuration
     * sets that another manager owns with a different value are a conflict unless `force`; fields this manager
     * owned before and no longer sets are removed. Returns the object before and after.
     */
    apply(cluster: string, config: K8sObject, manager: string, force: boolean): { before?: K8sObject; after: K8sObject } {
        return this.mutate(cluster, (c) => {
            this.requireNamespace(c, config);
            const key = objectKey(config.apiVersion, config.kind, config.metadata.namespace, config.metadata.name);
            const existing = c.objects[key];
            const before = existing ? structuredClone(existing.object) : undefined;
            const object: K8sObject = existing
                ? structuredClone(existing.object)
                : { apiVersion: config.apiVersion, kind: config.kind, metadata: { name: config.metadata.name, namespace: config.metadata.namespace } };
            const managers = { ...(existing?.managers ?? {}) };
            const fields = leaves(config).filter(([p]) => !UNOWNED.has(p));
            const conflicts = fields.filter(([p, v]) => managers[p] && managers[p] !== manager && JSON.stringify(getPath(object, p)) !== JSON.stringify(v));
            if (conflicts.length > 0 && !force) {
                throw new KubernetesApiError(
                    "Conflict",
                    `Apply failed with ${conflicts.length} conflict${conflicts.length > 1 ? "s" : ""}: ${conflicts
                        .map(([p]) => `conflict with "${managers[p]}" using ${config.apiVersion}: ${showPath(p)}`)
                        .join("\n")}`,
                );
            }
            const owned = new Set(fields.map(([p]) => p));
            for (const [p, m] of Object.entries(managers)) {
                if (m === manager && !owned.has(p)) {
                    deletePath(object, p);
                    delete managers[p];
                }
            }
            for (const [p, v] of fields) {
                setPath(object, p, structuredClone(v));
                managers[p] = manager;
            }
            KubernetesObjectStore.validate(object);
            if (object.kind === "Deployment") this.trackRollout(c, key, before, object);
            c.objects[key] = { object, managers };
            return { before, after: structuredClone(object) };
        });
    }

    /** A plain create: fails if the object exists (the API server's AlreadyExists). */
    create(cluster: string, object: K8sObject, manager: string): K8sObject {
        return this.mutate(cluster, (c) => {
            this.requireNamespace(c, object);
            const key = objectKey(object.apiVersion, object.kind, object.metadata.namespace, object.metadata.name);
            if (c.objects[key]) {
                const plural = `${object.kind.toLowerCase()}s`;
                throw new KubernetesApiError("AlreadyExists", `${plural} "${object.metadata.name}" already exists`);
            }
            KubernetesObjectStore.validate(object);
            const managers = Object.fromEntries(leaves(object).filter(([p]) => !UNOWNED.has(p)).map(([p]) => [p, manager]));
            c.objects[key] = { object: structuredClone(object), managers };
            return structuredClone(object);
        });
    }

    delete(cluster: string, apiVersion: string, kind: string, namespace: string | undefined, name: string): boolean {
        return this.mutate(cluster, (c) => {
            const key = objectKey(apiVersion, kind, namespace, name);
            const had = key in c.objects;
            delete c.objects[key];
            return had;
        });
    }

    /** Applies an empty configuration as `manager`: fields only it owned are removed (server-side apply). */
    relinquish(cluster: string, apiVersion: string, kind: string, namespace: string | undefined, name: string, manager: string): void {
        this.mutate(cluster, (c) => {
            const stored = c.objects[objectKey(apiVersion, kind, namespace, name)];
            if (!stored) return;
            for (const [p, m] of Object.entries(stored.managers)) {
                if (m === manager) {
                    deletePath(stored.object, p);
                    delete stored.managers[p];
                }
            }
        });
    }

    /** The Deployment controller: a new pod template bumps the generation and starts a rollout. */
    private trackRollout(c: Cluster, key: string, before: K8sObject | undefined, after: K8sObject): void {
        const generation = Number(before?.metadata.generation ?? 0);
        const templateChanged = !before || JSON.stringify(before.spec?.template) !== JSON.stringify(after.spec?.template);
        after.metadata.generation = templateChanged ? generation + 1 : generation || 1;
        if (templateChanged) c.rollouts[key] = { generation: after.metadata.generation, startedAt: Date.now() };
    }

    /** The rollout a Deployment is in (started by its last pod-template change), if any. */
    rollout(cluster: string, namespace: string, name: string): { generation: number; startedAt: number } | undefined {
        return this.read()[cluster]?.rollouts[objectKey("apps/v1", "Deployment", namespace, name)];
    }

    /** Marks a Deployment's rollout as finished (status as the Deployment controller would write it). */
    completeRollout(cluster: string, namespace: string, name: string): K8sObject | undefined {
        return this.mutate(cluster, (c) => {
            const stored = c.objects[objectKey("apps/v1", "Deployment", namespace, name)];
            if (!stored) return undefined;
            const replicas = Number(stored.object.spec?.replicas ?? 1);
            stored.object.status = {
                observedGeneration: stored.object.metadata.generation,
                replicas,
                updatedReplicas: replicas,
                readyReplicas: replicas,
                availableReplicas: replicas,
                conditions: [
                    { type: "Available", status: "True", reason: "MinimumReplicasAvailable" },
                    { type: "Progressing", status: "True", reason: "NewReplicaSetAvailable" },
                ],
            };
            return structuredClone(stored.object);
        });
    }
}

/** An account token as the double keeps it. The value itself is only returned when it is issued. */
export interface CloudflareToken {
    readonly id: string;
    readonly accountId: string;
    name: string;
    policies: unknown;
    /** SHA-256 hex of the value: what R2 uses as the secret access key. */
    readonly valueSha256: string;
    status: "active" | "revoked";
    readonly issuedOn: string;
    modifiedOn: string;
}

/** CloudflareTokenDouble: a TEST DOUBLE of Cloudflare's account-token API (EMULATOR, not Cloudflare). */
export class CloudflareTokenDouble {
    constructor(readonly file: string) {}

    tokens(): CloudflareToken[] {
        return loadJson<CloudflareToken[]>(this.file, []);
    }

    active(): CloudflareToken[] {
        return this.tokens().filter((t) => t.status === "active");
    }

    /** Issues a token: id 32 hex, value 40 characters (Cloudflare's shapes). */
    issue(accountId: string, name: string, policies: unknown): { token: CloudflareToken; value: string } {
        const value = randomBytes(30).toString("base64url").slice(0, 40);
        const now = new Date().toISOString();
        const token: CloudflareToken = {
            id: randomBytes(16).toString("hex"),
            accountId,
            name,
            policies,
            valueSha256: createHash("sha256").update(value).digest("hex"),
            status: "active",
            issuedOn: now,
            modifiedOn: now,
        };
        saveJson(this.file, [...this.tokens(), token]);
        return { token, value };
    }

    update(id: string, name: string, policies: unknown): CloudflareToken {
        const all = this.tokens();
        const token = all.find((t) => t.id === id && t.status === "active");
        if (!token) throw new Error(`Cloudflare: token ${id} not found (10000)`);
        Object.assign(token, { name, policies, modifiedOn: new Date().toISOString() });
        saveJson(this.file, all);
        return token;
    }

    revoke(id: string): void {
        const all = this.tokens();
        const token = all.find((t) => t.id === id);
        if (token) token.status = "revoked";
        saveJson(this.file, all);
    }
}
