/**
 * ENGINE EMULATOR (tests only; it is not Pulumi): the resource providers the program uses, emulated from their
 * source. Side effects are real where a real server runs here (local commands, Secrets Manager on moto) and go to
 * the emulator's world otherwise (Kubernetes object store, Cloudflare token double). Nothing runs in preview.
 *
 * Each provider sees plain values (secrets unwrapped) and returns plain outputs; the engine (update.ts) decides
 * which outputs are secret.
 */
import {
    CreateSecretCommand,
    DeleteSecretCommand,
    DescribeSecretCommand,
    GetSecretValueCommand,
    ListSecretsCommand,
    PutSecretValueCommand,
    SecretsManagerClient,
    TagResourceCommand,
    UntagResourceCommand,
    UpdateSecretCommand,
    UpdateSecretVersionStageCommand,
} from "@aws-sdk/client-secrets-manager";
import { randomBytes, randomInt, randomUUID } from "node:crypto";
import { spawn } from "node:child_process";
import { CloudflareTokenDouble, KubernetesApiError, KubernetesObjectStore } from "./world";
import { WireMap, changedKeys, plain } from "./wire";
import type { ResourceState } from "./backend";

/** How the emulated cluster's Deployments behave when their pod template changes. */
export interface RolloutBehaviour {
    /** How long the rollout takes to become ready (default 0). */
    readonly delayMs?: number;
    /** `stuck`: never becomes ready, so the provider's await times out. */
    readonly outcome?: "ready" | "stuck";
}

export interface KubernetesBehaviour {
    /** Per Deployment (`<namespace>/<name>`), or `*` for every other one. */
    readonly rollouts?: Readonly<Record<string, RolloutBehaviour>>;
    /**
     * EMULATOR DEVIATION, to keep tests fast: replaces the provider's await timeout (`pulumi.com/timeoutSeconds`,
     * customTimeouts, else 10 minutes: pulumi-kubernetes `provider/pkg/await`, `timeout := 10 * time.Minute`).
     */
    readonly awaitTimeoutMs?: number;
}

/** What providers may reach: the emulated `pulumi up` process's environment and the world. */
export interface ProviderHost {
    /** The environment of the emulated `pulumi up` (its plugins inherit it). */
    readonly env: NodeJS.ProcessEnv;
    /** The working directory of the emulated `pulumi up`: the project directory. */
    readonly cwd: string;
    /** A local AWS endpoint (moto). */
    readonly awsEndpoint?: string;
    readonly kubernetes: KubernetesObjectStore;
    readonly cloudflare: CloudflareTokenDouble;
    readonly kubernetesBehaviour: KubernetesBehaviour;
    /** Diagnostics a provider streams (command output, await status). */
    log(urn: string, message: string): void;
}

export interface ProviderRequest {
    readonly urn: string;
    readonly name: string;
    readonly type: string;
    /** Plain inputs (after check). */
    readonly inputs: Record<string, any>;
    /** The explicit provider resource's plain inputs, or `{}` for a default provider. */
    readonly config: Record<string, any>;
    readonly customTimeouts?: { readonly create?: string; readonly update?: string; readonly delete?: string };
    readonly host: ProviderHost;
}

export interface DiffResult {
    readonly changed: readonly string[];
    /** Changed properties that force a replacement (the provider's ForceNew / RequiresReplace / replaceOnChanges). */
    readonly replaces: readonly string[];
    /** The provider asks for delete-before-replace (overridable by the resource option). */
    readonly deleteBeforeReplace?: boolean;
}

/**
 * A failed operation. `partial` carries what the provider says exists despite the failure (a partial failure:
 * the engine records it, with `initErrors`, and retries it on the next update).
 */
export class ProviderError extends Error {
    constructor(
        message: string,
        readonly partial?: { readonly id?: string; readonly outputs: Record<string, any>; readonly initErrors: readonly string[] },
    ) {
        super(message);
    }
}

export interface EmulatedProvider {
    /** Output properties that are secret whatever the inputs (schema `Sensitive`/`secret`). */
    readonly secretOutputs?: readonly string[];
    /** Every output is secret when any input is (pulumi-go-provider `infer`: every output depends on every input). */
    readonly taintOutputs?: boolean;
    /** Provider Check: fills defaults such as auto-names (`old` is the previous state, for keeping an auto-name). */
    check?(inputs: WireMap, name: string, old?: ResourceState): WireMap;
    diff(olds: WireMap, news: WireMap, old: ResourceState): DiffResult;
    create(req: ProviderRequest): Promise<{ id: string; outputs: Record<string, any> }>;
    update(req: ProviderRequest, old: ResourceState): Promise<{ outputs: Record<string, any> }>;
    delete(req: ProviderRequest, old: ResourceState): Promise<void>;
    /** Read by id, for an import; undefined when the resource does not exist. */
    read?(req: ProviderRequest, id: string): Promise<{ id: string; inputs: Record<string, any>; outputs: Record<string, any> } | undefined>;
    /** Outputs a preview shows; absent keys are unknown (the SDK resolves missing outputs as unknown in preview). */
    preview?(op: "create" | "update", inputs: Record<string, any>, old?: ResourceState): Record<string, any>;
}

/** Diff by top-level key, replacing when any of `forceNew` changed. */
function keyDiff(forceNew: readonly string[] | "all") {
    return (olds: WireMap, news: WireMap): DiffResult => {
        const changed = changedKeys(olds, news);
        return { changed, replaces: forceNew === "all" ? changed : changed.filter((k) => forceNew.includes(k)) };
    };
}

/* ------------------------------------------------------------------------------------------------------------ */
/* random                                                                                                        */
/* ------------------------------------------------------------------------------------------------------------ */

/** hashicorp/terraform-provider-random `internal/random/string.go` character sets. */
const CHARSETS = { lower: "abcdefghijklmnopqrstuvwxyz", upper: "ABCDEFGHIJKLMNOPQRSTUVWXYZ", numeric: "0123456789", special: "!@#$%&*()-_=+[]{}<>:?" };

function randomFrom(chars: string, n: number): string[] {
    return Array.from({ length: n }, () => chars[randomInt(chars.length)]);
}

/**
 * random.RandomPassword (pulumi-random bridges hashicorp/terraform-provider-random): every attribute is
 * RequiresReplace (`internal/provider/resource_password.go` passwordSchemaV3; keepers
 * RequiresReplaceIfValuesNotNull), so any change replaces; the value is crypto-random over the enabled sets with
 * the `min*` counts honoured; id is "none".
 */
const randomPassword: EmulatedProvider = {
    secretOutputs: ["result", "bcryptHash"],
    diff: keyDiff("all"),
    async create({ inputs }) {
        const length = Number(inputs.length);
        if (!Number.isInteger(length) || length < 1) throw new ProviderError("length must be at least 1");
        const on = (k: string) => inputs[k] !== false;
        const sets: [keyof typeof CHARSETS, number][] = [
            ["lower", on("lower") ? Number(inputs.minLower ?? 0) : 0],
            ["upper", on("upper") ? Number(inputs.minUpper ?? 0) : 0],
            ["numeric", on("numeric") && on("number") ? Number(inputs.minNumeric ?? 0) : 0],
            ["special", on("special") ? Number(inputs.minSpecial ?? 0) : 0],
        ];
        let all = "";
        if (on("lower")) all += CHARSETS.lower;
        if (on("upper")) all += CHARSETS.upper;
        if (on("numeric") && on("number")) all += CHARSETS.numeric;
        if (on("special")) all += typeof inputs.overrideSpecial === "string" && inputs.overrideSpecial !== "" ? inputs.overrideSpecial : CHARSETS.special;
        const required = sets.flatMap(([set, n]) => randomFrom(set === "special" && inputs.overrideSpecial ? inputs.overrideSpecial : CHARSETS[set], n));
        const chars = [...required, ...randomFrom(all, Math.max(0, length - required.length))];
        for (let i = chars.length - 1; i > 0; i--) {
            const j = randomInt(i + 1);
            [chars[i], chars[j]] = [chars[j], chars[i]];
        }
        return {
            id: "none",
            outputs: {
                lower: true, upper: true, numeric: true, number: true, special: true,
                minLower: 0, minUpper: 0, minNumeric: 0, minSpecial: 0,
                ...inputs,
                result: chars.join(""),
            },
        };
    },
    async update() {
        throw new ProviderError("random.RandomPassword has no in-place update (every property forces replacement)");
    },
    async delete() {},
};

/* ------------------------------------------------------------------------------------------------------------ */
/* command                                                                                                       */
/* ------------------------------------------------------------------------------------------------------------ */

/**
 * pulumi-command v1.2.1 `provider/pkg/provider/local/commandOutputs.go` run(): `/bin/sh -c <command>` (or
 * `interpreter`), in `dir` or the provider's working directory, `cmd.Env = os.Environ()` plus `environment`, plus
 * PULUMI_COMMAND_STDOUT/STDERR of the previous run unless `addPreviousOutputInEnv: false`; on failure
 * `fmt.Errorf("%w: running %q:\n%s", err, command, stdouterrbuf.String())`; stdout/stderr are outputs with one
 * trailing newline trimmed.
 */
function runCommand(
    command: string,
    inputs: Record<string, any>,
    previous: { stdout?: string; stderr?: string },
    req: ProviderRequest,
): Promise<{ stdout: string; stderr: string }> {
    if (inputs.assetPaths || inputs.archivePaths) throw new ProviderError("the engine emulator does not emulate assetPaths/archivePaths");
    const argv: string[] = Array.isArray(inputs.interpreter) && inputs.interpreter.length > 0 ? [...inputs.interpreter, command] : ["/bin/sh", "-c", command];
    const env: Record<string, string | undefined> = { ...req.host.env, ...(inputs.environment ?? {}) };
    if (inputs.addPreviousOutputInEnv !== false) {
        if (previous.stdout) env.PULUMI_COMMAND_STDOUT = previous.stdout;
        if (previous.stderr) env.PULUMI_COMMAND_STDERR = previous.stderr;
    }
    return new Promise((resolve, reject) => {
        const child = spawn(argv[0], argv.slice(1), { cwd: inputs.dir ?? req.host.cwd, env: env as NodeJS.ProcessEnv });
        let stdout = "";
        let stderr = "";
        let both = "";
        child.stdout.on("data", (d) => {
            stdout += d;
            both += d;
            if (inputs.logging !== "none" && inputs.logging !== "stderr") req.host.log(req.urn, String(d));
        });
        child.stderr.on("data", (d) => {
            stderr += d;
            both += d;
            // `logging` defaults to stdout and stderr: the provider streams them to the engine as info diagnostics.
            if (inputs.logging !== "none" && inputs.logging !== "stdout") req.host.log(req.urn, String(d));
        });
        if (typeof inputs.stdin === "string" && inputs.stdin !== "") child.stdin.end(inputs.stdin);
        else child.stdin.end();
        child.on("error", (err) => reject(new ProviderError(`${err.message}: running ${JSON.stringify(command)}:\n${both}`)));
        child.on("close", (code, signal) => {
            if (code === 0) {
                resolve({ stdout: stdout.replace(/\n$/, ""), stderr: stderr.replace(/\n$/, "") });
            } else {
                const status = signal ? `signal: ${signal}` : `exit status ${code}`;
                reject(new ProviderError(`${status}: running ${JSON.stringify(command)}:\n${both}`));
            }
        });
    });
}

/**
 * command.local.Command v1.2.1 (`provider/pkg/provider/local/commandController.go`): Create runs `create`;
 * Update runs `update`, or `create` if unset ("Use Create command if Update is unspecified"); Delete runs only
 * `delete`; "If in preview, don't run the command". `triggers` is `provider:"replaceOnChanges"`
 * (`provider/pkg/provider/common/inputs.go`); any other change is an update. The id is the resource name plus 8
 * random hex characters (`resource.NewUniqueHex(name, 8, 0)`).
 */
const localCommand: EmulatedProvider = {
    taintOutputs: true,
    diff: keyDiff(["triggers"]),
    async create(req) {
        const out = req.inputs.create ? await runCommand(req.inputs.create, req.inputs, {}, req) : { stdout: "", stderr: "" };
        return { id: `${req.name}${randomBytes(4).toString("hex")}`, outputs: { ...req.inputs, ...out } };
    },
    async update(req, old) {
        const previous = plain(old.outputs) as { stdout?: string; stderr?: string };
        const cmd = req.inputs.update ?? req.inputs.create;
        const out = cmd ? await runCommand(cmd, req.inputs, previous, req) : { stdout: previous.stdout ?? "", stderr: previous.stderr ?? "" };
        return { outputs: { ...req.inputs, ...out } };
    },
    async delete(req, old) {
        const outs = plain(old.outputs) as Record<string, any>;
        if (outs.delete) await runCommand(outs.delete, outs, outs, req);
    },
    preview(op, inputs, old) {
        // Update in preview keeps the previous stdout/stderr (`state := CommandOutputs{CommandInputs: news, BaseOutputs: olds.BaseOutputs}`).
        if (op === "update" && old) {
            const o = plain(old.outputs) as Record<string, any>;
            return { ...inputs, stdout: o.stdout, stderr: o.stderr };
        }
        return { ...inputs };
    },
};

/* ------------------------------------------------------------------------------------------------------------ */
/* aws                                                                                                           */
/* ------------------------------------------------------------------------------------------------------------ */

function localEndpoint(req: ProviderRequest): string {
    // An explicit provider's `endpoints` win over the environment, as in terraform-provider-aws
    // (https://registry.terraform.io/providers/hashicorp/aws/latest/docs/guides/custom-service-endpoints).
    // @pulumi/aws provider.js sends `endpoints` JSON-encoded (`pulumi.output(args?.endpoints).apply(JSON.stringify)`).
    const raw = req.config.endpoints;
    const endpoints = (typeof raw === "string" ? JSON.parse(raw) : raw) as Record<string, string | undefined>[] | undefined;
    const configured = endpoints?.find((e) => e.secretsmanager)?.secretsmanager;
    const endpoint = configured ?? req.host.awsEndpoint ?? req.host.env.AWS_ENDPOINT_URL_SECRETS_MANAGER ?? req.host.env.AWS_ENDPOINT_URL;
    if (!endpoint || !/^https?:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?\/?$/.test(endpoint)) {
        throw new ProviderError(`the engine emulator only talks to a local AWS endpoint (moto); got ${endpoint ? "a non-local one" : "none"}`);
    }
    return endpoint;
}

function secretsManager(req: ProviderRequest): { client: SecretsManagerClient; region: string } {
    const region = req.inputs.region ?? req.config.region ?? req.host.env.AWS_REGION ?? "us-east-1";
    const client = new SecretsManagerClient({
        region,
        endpoint: localEndpoint(req),
        credentials: { accessKeyId: req.host.env.AWS_ACCESS_KEY_ID ?? "testing", secretAccessKey: req.host.env.AWS_SECRET_ACCESS_KEY ?? "testing" },
    });
    return { client, region };
}

/** How the AWS SDK for Go v2 prints an API error (the provider wraps it). */
function awsError(operation: string, err: any): string {
    const status = err?.$metadata?.httpStatusCode;
    const requestId = err?.$metadata?.requestId ?? "";
    return `operation error Secrets Manager: ${operation}, https response error StatusCode: ${status}, RequestID: ${requestId}, ${err?.name}: ${err?.message}`;
}

/**
 * aws.secretsmanager.SecretVersion (hashicorp/terraform-provider-aws `internal/service/secretsmanager/secret_version.go`):
 * `secret_id`, `secret_string`, `secret_binary` are ForceNew, `version_stages` updates in place; Create is
 * PutSecretValue (no stages unless given) then a read by version id; the id is `<secret_id>|<version_id>`; Delete
 * removes every stage recorded in state except AWSCURRENT (`resourceSecretVersionDelete`).
 */
const secretVersion: EmulatedProvider = {
    secretOutputs: ["secretString", "secretBinary", "secretStringWo"],
    diff: keyDiff(["secretId", "secretString", "secretBinary", "secretStringWoVersion"]),
    async create(req) {
        const { client, region } = secretsManager(req);
        const secretId = String(req.inputs.secretId);
        try {
            let put;
            try {
                put = await client.send(
                    new PutSecretValueCommand({
                        ClientRequestToken: randomUUID(),
                        SecretId: secretId,
                        SecretString: req.inputs.secretString,
                        SecretBinary: req.inputs.secretBinary ? Buffer.from(req.inputs.secretBinary, "base64") : undefined,
                        VersionStages: req.inputs.versionStages?.length ? req.inputs.versionStages : undefined,
                    }),
                );
            } catch (err) {
                throw new ProviderError(`putting Secrets Manager Secret (${secretId}) value: ${awsError("PutSecretValue", err)}`);
            }
            const id = `${secretId}|${put.VersionId}`;
            const read = await client.send(new GetSecretValueCommand({ SecretId: secretId, VersionId: put.VersionId })).catch((err) => {
                throw new ProviderError(`reading Secrets Manager Secret Version (${id}): ${awsError("GetSecretValue", err)}`);
            });
            return {
                id,
                outputs: {
                    ...req.inputs,
                    arn: read.ARN,
                    secretArn: read.ARN,
                    region,
                    versionId: read.VersionId,
                    versionStages: read.VersionStages ?? [],
                    hasSecretStringWo: false,
                },
            };
        } finally {
            client.destroy();
        }
    },
    async read(req, id) {
        // Import and read (terraform-provider-aws internal/service/secretsmanager/secret_version.go
        // resourceSecretVersionRead): the id is `<secret_id>|<version_id>`; GetSecretValue by that VersionId; sets
        // secret_id (the id's first part), secret_string, version_id, version_stages, arn.
        const [secretId, versionId] = id.split("|");
        if (!secretId || !versionId) throw new ProviderError(`unexpected format for ID (${id}), expected secret_id|version_id`);
        const { client, region } = secretsManager(req);
        try {
            const read = await client.send(new GetSecretValueCommand({ SecretId: secretId, VersionId: versionId })).catch((err) => {
                if (err?.name === "ResourceNotFoundException") return undefined;
                throw new ProviderError(`reading Secrets Manager Secret Version (${id}): ${awsError("GetSecretValue", err)}`);
            });
            if (!read) return undefined;
            const inputs = { secretId, secretString: read.SecretString ?? "", versionStages: read.VersionStages ?? [] };
            return { id, inputs, outputs: { ...inputs, arn: read.ARN, secretArn: read.ARN, region, versionId: read.VersionId, hasSecretStringWo: false } };
        } finally {
            client.destroy();
        }
    },
    async update(req, old) {
        const { client } = secretsManager(req);
        const o = plain(old.outputs) as Record<string, any>;
        try {
            const before = new Set<string>(o.versionStages ?? []);
            const after = new Set<string>(req.inputs.versionStages ?? []);
            for (const stage of after) {
                if (!before.has(stage)) await client.send(new UpdateSecretVersionStageCommand({ SecretId: o.secretId, VersionStage: stage, MoveToVersionId: o.versionId }));
            }
            for (const stage of before) {
                if (!after.has(stage) && stage !== "AWSCURRENT") {
                    await client.send(new UpdateSecretVersionStageCommand({ SecretId: o.secretId, VersionStage: stage, RemoveFromVersionId: o.versionId }));
                }
            }
            const read = await client.send(new GetSecretValueCommand({ SecretId: o.secretId, VersionId: o.versionId }));
            return { outputs: { ...o, ...req.inputs, versionStages: read.VersionStages ?? [] } };
        } catch (err) {
            throw err instanceof ProviderError ? err : new ProviderError(`updating Secrets Manager Secret Version (${old.id}): ${awsError("UpdateSecretVersionStage", err)}`);
        } finally {
            client.destroy();
        }
    },
    async delete(req, old) {
        const { client } = secretsManager(req);
        const o = plain(old.outputs) as Record<string, any>;
        try {
            for (const stage of (o.versionStages ?? []) as string[]) {
                if (stage === "AWSCURRENT") continue; // "You can only move staging label AWSCURRENT to a different secret version."
                await client.send(new UpdateSecretVersionStageCommand({ SecretId: o.secretId, VersionStage: stage, RemoveFromVersionId: o.versionId })).catch((err) => {
                    if (err?.name !== "ResourceNotFoundException") throw new ProviderError(`deleting Secrets Manager Secret Version (${old.id}) stage (${stage}): ${awsError("UpdateSecretVersionStage", err)}`);
                });
            }
        } finally {
            client.destroy();
        }
    },
};

/**
 * aws.secretsmanager.Secret (terraform-provider-aws `internal/service/secretsmanager/secret.go`): `name` and
 * `name_prefix` are ForceNew; Create is CreateSecret (an existing name fails with ResourceExistsException),
 * the id is the ARN; Update calls UpdateSecret when description/kmsKeyId change and tags through
 * Tag/UntagResource; Delete is DeleteSecret with `recovery_window_in_days` (default 30; 0 forces). Without a
 * `name`, pulumi-aws auto-names it `<resource name>-<7 hex>` and keeps that name on later updates.
 */
const awsSecret: EmulatedProvider = {
    diff: keyDiff(["name", "namePrefix"]),
    check(inputs, name, old) {
        if (inputs.name !== undefined || inputs.namePrefix !== undefined) return inputs;
        const previous = old ? (plain(old.inputs) as Record<string, any>).name : undefined;
        return { ...inputs, name: previous ?? `${name}-${randomBytes(4).toString("hex").slice(0, 7)}` };
    },
    async create(req) {
        const { client, region } = secretsManager(req);
        const name = req.inputs.name ?? `${req.inputs.namePrefix}${randomBytes(13).toString("hex")}`;
        try {
            const created = await client
                .send(
                    new CreateSecretCommand({
                        ClientRequestToken: randomUUID(),
                        Name: name,
                        Description: req.inputs.description ?? "",
                        KmsKeyId: req.inputs.kmsKeyId,
                        Tags: Object.entries(req.inputs.tags ?? {}).map(([Key, Value]) => ({ Key, Value: String(Value) })),
                    }),
                )
                .catch((err) => {
                    throw new ProviderError(`creating Secrets Manager Secret (${name}): ${awsError("CreateSecret", err)}`);
                });
            return { id: created.ARN!, outputs: await describeSecret(client, created.ARN!, req.inputs, region) };
        } finally {
            client.destroy();
        }
    },
    async update(req, old) {
        const { client, region } = secretsManager(req);
        const olds = plain(old.inputs) as Record<string, any>;
        const arn = old.id!;
        try {
            if ((olds.description ?? "") !== (req.inputs.description ?? "") || olds.kmsKeyId !== req.inputs.kmsKeyId) {
                await client.send(new UpdateSecretCommand({ ClientRequestToken: randomUUID(), SecretId: arn, Description: req.inputs.description ?? "", KmsKeyId: req.inputs.kmsKeyId }));
            }
            const oldTags: Record<string, string> = olds.tags ?? {};
            const newTags: Record<string, string> = req.inputs.tags ?? {};
            const removed = Object.keys(oldTags).filter((k) => !(k in newTags));
            if (removed.length > 0) await client.send(new UntagResourceCommand({ SecretId: arn, TagKeys: removed }));
            const set = Object.entries(newTags).filter(([k, v]) => oldTags[k] !== v);
            if (set.length > 0) await client.send(new TagResourceCommand({ SecretId: arn, Tags: set.map(([Key, Value]) => ({ Key, Value: String(Value) })) }));
            return { outputs: await describeSecret(client, arn, req.inputs, region) };
        } catch (err) {
            throw err instanceof ProviderError ? err : new ProviderError(`updating Secrets Manager Secret (${arn}): ${awsError("UpdateSecret", err)}`);
        } finally {
            client.destroy();
        }
    },
    async read(req, id) {
        // Import (terraform-provider-aws ImportStatePassthroughContext, then resourceSecretRead by the ARN).
        const { client, region } = secretsManager(req);
        try {
            const outputs = await describeSecret(client, id, {}, region).catch((err) => {
                if (err?.name === "ResourceNotFoundException") return undefined;
                throw new ProviderError(`reading Secrets Manager Secret (${id}): ${awsError("DescribeSecret", err)}`);
            });
            if (!outputs) return undefined;
            const inputKeys = ["name", "description", "kmsKeyId", "policy", "recoveryWindowInDays", "forceOverwriteReplicaSecret", "replicas", "tags"];
            return { id: outputs.arn, inputs: Object.fromEntries(inputKeys.map((k) => [k, outputs[k]])), outputs };
        } finally {
            client.destroy();
        }
    },
    async delete(req, old) {
        const { client } = secretsManager(req);
        const window = Number((plain(old.inputs) as Record<string, any>).recoveryWindowInDays ?? 30);
        try {
            await client
                .send(new DeleteSecretCommand(window === 0 ? { SecretId: old.id, ForceDeleteWithoutRecovery: true } : { SecretId: old.id, RecoveryWindowInDays: window }))
                .catch((err) => {
                    if (err?.name !== "ResourceNotFoundException") throw new ProviderError(`deleting Secrets Manager Secret (${old.id}): ${awsError("DeleteSecret", err)}`);
                });
        } finally {
            client.destroy();
        }
    },
};

async function describeSecret(client: SecretsManagerClient, arn: string, inputs: Record<string, any>, region: string): Promise<Record<string, any>> {
    const d = await client.send(new DescribeSecretCommand({ SecretId: arn }));
    const tags = Object.fromEntries((d.Tags ?? []).map((t) => [t.Key!, t.Value!]));
    return {
        ...inputs,
        arn: d.ARN,
        name: d.Name,
        description: d.Description ?? "",
        kmsKeyId: d.KmsKeyId ?? "",
        policy: "",
        recoveryWindowInDays: inputs.recoveryWindowInDays ?? 30,
        forceOverwriteReplicaSecret: inputs.forceOverwriteReplicaSecret ?? false,
        replicas: [],
        region,
        tags,
        tagsAll: tags,
    };
}

/* ------------------------------------------------------------------------------------------------------------ */
/* kubernetes                                                                                                    */
/* ------------------------------------------------------------------------------------------------------------ */

const PATCH_FORCE = "pulumi.com/patchForce";
const SKIP_AWAIT = "pulumi.com/skipAwait";
const TIMEOUT_SECONDS = "pulumi.com/timeoutSeconds";

function cluster(req: ProviderRequest): string {
    return String(req.config.context ?? req.config.cluster ?? "default");
}

function asKubernetesError(err: unknown, manager: string): never {
    if (err instanceof KubernetesApiError && err.reason === "Conflict") {
        // pulumi-kubernetes `provider/pkg/await/await.go` handleSSAErr.
        throw new ProviderError(
            "server-side apply field conflict detected, see https://www.pulumi.com/registry/packages/kubernetes/how-to-guides/" +
                "managing-resources-with-server-side-apply/#handle-field-conflicts-on-existing-resources for troubleshooting help\n" +
                `The resource managed by field manager "${manager}" had an apply conflict: ${err.message}`,
        );
    }
    if (err instanceof KubernetesApiError && err.reason === "AlreadyExists") {
        // pulumi-kubernetes `provider/pkg/await/await.go` Creation.
        throw new ProviderError(
            `${err.message}\n\nThe resource already exists in the cluster. This can happen when:\n\n` +
                "  - Renaming a Pulumi resource: use an alias to preserve the identity,\n" +
                "    or use deleteBeforeReplace if the resource needs replacement.\n" +
                "  - Managing an existing resource: use a Patch resource (e.g. NamespacePatch)\n" +
                "    to manage specific fields without owning the resource lifecycle.\n" +
                "  - Adopting a resource into Pulumi: use `pulumi import`. Note that\n" +
                "    protected resources (e.g. kube-system) cannot be deleted on destroy.\n" +
                "  - Intentional upsert: set upsertExistingObjects on the provider to allow\n" +
                "    server-side apply to update existing objects on create.",
        );
    }
    throw err instanceof Error ? new ProviderError(err.message) : err;
}

function parseDuration(s: string | undefined): number | undefined {
    if (!s) return undefined;
    const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$/.exec(s);
    if (!m) return undefined;
    return ((Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)) * 60 + Number(m[3] ?? 0)) * 1000;
}

/**
 * Waits for a Deployment's rollout like pulumi-kubernetes `provider/pkg/await/deployment.go`: ready when the new
 * ReplicaSet is available; otherwise a timeoutError `'<name>' timed out waiting to be Ready` after the timeout
 * (`pulumi.com/timeoutSeconds`, customTimeouts, else 10 minutes), which is a partial error: the patch stays
 * applied and the engine records init errors. `pulumi.com/skipAwait: "true"` skips the wait.
 */
async function awaitDeployment(req: ProviderRequest, object: any, op: "create" | "update"): Promise<any> {
    const annotations = req.inputs.metadata?.annotations ?? {};
    const { namespace, name } = object.metadata;
    if (annotations[SKIP_AWAIT] === "true") return object;
    const rollout = req.host.kubernetes.rollout(cluster(req), namespace, name);
    if (!rollout || Number(object.status?.observedGeneration ?? 0) >= rollout.generation) return object;
    const behaviour = req.host.kubernetesBehaviour.rollouts?.[`${namespace}/${name}`] ?? req.host.kubernetesBehaviour.rollouts?.["*"] ?? {};
    const timeoutMs =
        req.host.kubernetesBehaviour.awaitTimeoutMs ??
        (annotations[TIMEOUT_SECONDS] ? Number(annotations[TIMEOUT_SECONDS]) * 1000 : undefined) ??
        parseDuration(req.customTimeouts?.[op]) ??
        10 * 60 * 1000;
    const readyIn = behaviour.outcome === "stuck" ? Infinity : Math.max(0, rollout.startedAt + (behaviour.delayMs ?? 0) - Date.now());
    if (readyIn > timeoutMs) {
        await new Promise((r) => setTimeout(r, timeoutMs));
        const replicaSet = `${name}-${rollout.generation.toString(16).padStart(10, "0").slice(-10)}`;
        throw new ProviderError(`'${name}' timed out waiting to be Ready`, {
            outputs: object,
            initErrors: [`[ProgressDeadlineExceeded] ReplicaSet "${replicaSet}" has timed out progressing.`, `Minimum number of live Pods was not attained`],
        });
    }
    await new Promise((r) => setTimeout(r, readyIn));
    req.host.log(req.urn, `Deployment ${namespace}/${name} rolled out (generation ${rollout.generation})`);
    return req.host.kubernetes.completeRollout(cluster(req), namespace, name) ?? object;
}

function kubernetesObject(inputs: Record<string, any>): any {
    const { apiVersion, kind, metadata, ...rest } = inputs;
    return { apiVersion, kind, metadata: { ...metadata }, ...rest };
}

/**
 * pulumi-kubernetes, server-side apply mode (the v4 default): Patch resources are upserted with a server-side
 * apply PATCH by their own `pulumi-kubernetes-<random>` field manager, forced when `pulumi.com/patchForce` is
 * "true" (`provider/pkg/await/await.go` Creation: "we always send a PATCH request during creates with SSA
 * enabled"); other kinds are created with a plain create (AlreadyExists if the object exists) and updated by
 * server-side apply; deleting a Patch relinquishes its fields (`ssa.Relinquish`), deleting another kind deletes
 * the object. Diff (`provider/pkg/provider/provider.go` Diff, `diff.go` forceNewProperties): `.metadata.name` and
 * `.metadata.namespace` always replace; for a Secret (without enableSecretMutable) `.type`, `.data`,
 * `.stringData` replace too; a replaced, named object is delete-before-replace.
 */
function kubernetesProvider(kind: string): EmulatedProvider {
    const isPatch = kind.endsWith("Patch");
    const realKind = isPatch ? kind.slice(0, -"Patch".length) : kind;
    const isDeployment = realKind === "Deployment";
    const write = async (req: ProviderRequest, manager: string, creating: boolean) => {
        if (req.config.enableServerSideApply === false && isPatch) {
            throw new ProviderError("patch resources require Server-Side Apply mode, which is enabled using the `enableServerSideApply` Provider config");
        }
        const config = kubernetesObject(req.inputs);
        config.kind = realKind;
        const force = config.metadata.annotations?.[PATCH_FORCE] === "true" || req.config.enablePatchForce === true;
        let live;
        try {
            live = creating && !isPatch ? req.host.kubernetes.create(cluster(req), config, manager) : req.host.kubernetes.apply(cluster(req), config, manager, force).after;
        } catch (err) {
            asKubernetesError(err, manager);
        }
        if (isDeployment) live = await awaitDeployment(req, live, creating ? "create" : "update");
        return { ...live, __fieldManager: manager };
    };
    return {
        diff(olds, news) {
            const changed = changedKeys(olds, news);
            const o = plain(olds) as Record<string, any>;
            const n = plain(news) as Record<string, any>;
            const replaces = changedKeys({ name: o.metadata?.name, namespace: o.metadata?.namespace }, { name: n.metadata?.name, namespace: n.metadata?.namespace }).map(
                (k) => `metadata.${k}`,
            );
            if (!isPatch && realKind === "Secret") replaces.push(...changed.filter((k) => ["type", "data", "stringData"].includes(k)));
            return { changed, replaces, deleteBeforeReplace: replaces.length > 0 && !!n.metadata?.name && n.metadata?.name === o.metadata?.name && n.metadata?.namespace === o.metadata?.namespace };
        },
        async create(req) {
            const manager = isPatch ? `pulumi-kubernetes-${randomBytes(4).toString("hex")}` : "pulumi-kubernetes";
            const live = await write(req, manager, true);
            const id = live.metadata.namespace ? `${live.metadata.namespace}/${live.metadata.name}` : live.metadata.name;
            return { id, outputs: live };
        },
        async update(req, old) {
            const manager = (plain(old.outputs) as Record<string, any>).__fieldManager ?? "pulumi-kubernetes";
            return { outputs: await write(req, manager, false) };
        },
        async read(req, id) {
            // `<Kind>.get(name, id)` and `import`: a namespaced object's id is `<namespace>/<name>`
            // (pulumi-kubernetes provider/pkg/provider/provider.go Read: ParseFqName); the live object is the state.
            const [namespace, name] = id.includes("/") ? id.split("/", 2) : [undefined, id];
            const apiVersion = isDeployment ? "apps/v1" : "v1";
            const live = req.host.kubernetes.get(cluster(req), apiVersion, realKind, namespace, name);
            if (!live) return undefined;
            const { status: _status, ...inputs } = live as Record<string, any>;
            return { id, inputs, outputs: { ...live, __fieldManager: "pulumi-kubernetes" } };
        },
        async delete(req, old) {
            const o = plain(old.outputs) as Record<string, any>;
            if (isPatch) req.host.kubernetes.relinquish(cluster(req), o.apiVersion, realKind, o.metadata?.namespace, o.metadata?.name, o.__fieldManager);
            else req.host.kubernetes.delete(cluster(req), o.apiVersion, realKind, o.metadata?.namespace, o.metadata?.name);
        },
    };
}

/* ------------------------------------------------------------------------------------------------------------ */
/* cloudflare                                                                                                    */
/* ------------------------------------------------------------------------------------------------------------ */

/**
 * cloudflare.AccountToken (cloudflare/terraform-provider-cloudflare `internal/services/account_token/schema.go`):
 * `account_id` RequiresReplace, `value` Sensitive and returned only on create (Read/Update keep the value from
 * prior state, `resource.go`); deleting revokes the token. The provider reads CLOUDFLARE_API_TOKEN from its
 * environment.
 */
const accountToken: EmulatedProvider = {
    secretOutputs: ["value"],
    diff: keyDiff(["accountId"]),
    async create(req) {
        if (!req.host.env.CLOUDFLARE_API_TOKEN) throw new ProviderError("the Cloudflare provider needs CLOUDFLARE_API_TOKEN in its environment");
        if (req.config.baseUrl) {
            const token = await cloudflareApi(req, "POST", `/accounts/${req.inputs.accountId}/tokens`, { name: req.inputs.name, policies: req.inputs.policies });
            return { id: token.id, outputs: { ...req.inputs, value: token.value, status: token.status, issuedOn: token.issued_on, modifiedOn: token.modified_on, lastUsedOn: "" } };
        }
        const { token, value } = req.host.cloudflare.issue(req.inputs.accountId, req.inputs.name, req.inputs.policies);
        return { id: token.id, outputs: { ...req.inputs, value, status: "active", issuedOn: token.issuedOn, modifiedOn: token.modifiedOn, lastUsedOn: "" } };
    },
    async update(req, old) {
        if (!req.host.env.CLOUDFLARE_API_TOKEN) throw new ProviderError("the Cloudflare provider needs CLOUDFLARE_API_TOKEN in its environment");
        if (req.config.baseUrl) {
            const token = await cloudflareApi(req, "PUT", `/accounts/${req.inputs.accountId}/tokens/${old.id}`, { name: req.inputs.name, policies: req.inputs.policies });
            return { outputs: { ...(plain(old.outputs) as Record<string, any>), ...req.inputs, modifiedOn: token.modified_on } };
        }
        const token = req.host.cloudflare.update(old.id!, req.inputs.name, req.inputs.policies);
        return { outputs: { ...(plain(old.outputs) as Record<string, any>), ...req.inputs, modifiedOn: token.modifiedOn } };
    },
    async delete(req, old) {
        if (!req.host.env.CLOUDFLARE_API_TOKEN) throw new ProviderError("the Cloudflare provider needs CLOUDFLARE_API_TOKEN in its environment");
        if (req.config.baseUrl) {
            await cloudflareApi(req, "DELETE", `/accounts/${(plain(old.outputs) as Record<string, any>).accountId}/tokens/${old.id}`);
            return;
        }
        req.host.cloudflare.revoke(old.id!);
    },
    async read(req, id) {
        // Import by `<account_id>/<token_id>` (@pulumi/cloudflare accountToken.d.ts "Import"); a read never returns
        // the value (Cloudflare shows it only on create).
        if (!req.host.env.CLOUDFLARE_API_TOKEN) throw new ProviderError("the Cloudflare provider needs CLOUDFLARE_API_TOKEN in its environment");
        const [accountId, tokenId] = id.split("/");
        if (!accountId || !tokenId) throw new ProviderError(`invalid ID "${id}": expected <account_id>/<token_id>`);
        let token: { name: string; policies: unknown; issuedOn: string; modifiedOn: string } | undefined;
        if (req.config.baseUrl) {
            const t = await cloudflareApi(req, "GET", `/accounts/${accountId}/tokens/${tokenId}`).catch(() => undefined);
            token = t && { name: t.name, policies: t.policies, issuedOn: t.issued_on, modifiedOn: t.modified_on };
        } else {
            token = req.host.cloudflare.active().find((t) => t.id === tokenId && t.accountId === accountId);
        }
        if (!token) return undefined;
        const inputs = { accountId, name: token.name, policies: token.policies };
        return { id: tokenId, inputs, outputs: { ...inputs, status: "active", issuedOn: token.issuedOn, modifiedOn: token.modifiedOn, lastUsedOn: "" } };
    },
};

/**
 * An explicit Cloudflare provider with `baseUrl` (the `local` stack) calls that API over HTTP with the bearer token
 * CLOUDFLARE_API_TOKEN (test/support/cloudflareTokensDouble.ts serves it); the v4 envelope's `result` is returned.
 */
async function cloudflareApi(req: ProviderRequest, method: string, path: string, body?: unknown): Promise<Record<string, any>> {
    const base = String(req.config.baseUrl).replace(/\/$/, "");
    if (!/^https?:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?\//.test(`${base}/`)) throw new ProviderError("the engine emulator only talks to a local Cloudflare API (a double)");
    const res = await fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${req.host.env.CLOUDFLARE_API_TOKEN}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
    });
    const doc = (await res.json()) as { success: boolean; errors: { code: number; message: string }[]; result: Record<string, any> };
    if (!doc.success) throw new ProviderError(`${method} ${path}: ${res.status} ${doc.errors.map((e) => `${e.message} (${e.code})`).join("; ")}`);
    return doc.result;
}

/* ------------------------------------------------------------------------------------------------------------ */
/* provider resources                                                                                            */
/* ------------------------------------------------------------------------------------------------------------ */

/**
 * Explicit provider resources (`pulumi:providers:<pkg>`): no side effect; a config change updates them, except a
 * Kubernetes provider's `clusterIdentifier`, which replaces it (pulumi-kubernetes `provider.go` DiffConfig).
 * Their ids are UUIDs, as the engine's are.
 */
function providerResource(pkg: string): EmulatedProvider {
    return {
        diff(olds, news) {
            const changed = changedKeys(olds, news);
            return { changed, replaces: pkg === "kubernetes" ? changed.filter((k) => k === "clusterIdentifier") : [] };
        },
        async create(req) {
            return { id: randomUUID(), outputs: { ...req.inputs } };
        },
        async update(req) {
            return { outputs: { ...req.inputs } };
        },
        async delete() {},
    };
}

const PROVIDERS: Record<string, EmulatedProvider> = {
    "random:index/randomPassword:RandomPassword": randomPassword,
    "command:local:Command": localCommand,
    "aws:secretsmanager/secretVersion:SecretVersion": secretVersion,
    "aws:secretsmanager/secret:Secret": awsSecret,
    "kubernetes:core/v1:SecretPatch": kubernetesProvider("SecretPatch"),
    "kubernetes:core/v1:Secret": kubernetesProvider("Secret"),
    "kubernetes:core/v1:ConfigMap": kubernetesProvider("ConfigMap"),
    "kubernetes:core/v1:ConfigMapPatch": kubernetesProvider("ConfigMapPatch"),
    "kubernetes:apps/v1:DeploymentPatch": kubernetesProvider("DeploymentPatch"),
    "kubernetes:apps/v1:Deployment": kubernetesProvider("Deployment"),
    "cloudflare:index/accountToken:AccountToken": accountToken,
};

/** The emulated provider of a custom resource type; throws for a type the emulator does not emulate. */
export function providerFor(type: string): EmulatedProvider {
    if (type.startsWith("pulumi:providers:")) return providerResource(type.slice("pulumi:providers:".length));
    const p = PROVIDERS[type];
    if (!p) throw new ProviderError(`the engine emulator does not emulate resource type ${type}`);
    return p;
}

/** An emulated provider function (invoke). Invokes run in previews too. */
export type EmulatedInvoke = (args: Record<string, any>, req: Omit<ProviderRequest, "inputs" | "urn" | "name" | "type">) => Promise<Record<string, any>>;

/**
 * aws.secretsmanager.getSecrets (terraform-provider-aws `internal/service/secretsmanager/secrets_data_source.go`):
 * ListSecrets with the filters, every page; returns the ARNs and names, id = the region.
 */
const getSecrets: EmulatedInvoke = async (args, req) => {
    const { client, region } = secretsManager({ ...req, inputs: {}, urn: "", name: "", type: "" });
    try {
        const arns: string[] = [];
        const names: string[] = [];
        let NextToken: string | undefined;
        do {
            const page = await client
                .send(
                    new ListSecretsCommand({
                        Filters: (args.filters ?? []).map((f: { name: string; values: string[] }) => ({ Key: f.name, Values: f.values })),
                        NextToken,
                    }),
                )
                .catch((err) => {
                    throw new ProviderError(`listing Secrets Manager Secrets: ${awsError("ListSecrets", err)}`);
                });
            for (const s of page.SecretList ?? []) {
                arns.push(s.ARN!);
                names.push(s.Name!);
            }
            NextToken = page.NextToken;
        } while (NextToken);
        return { arns, names, filters: args.filters, id: region };
    } finally {
        client.destroy();
    }
};

/**
 * aws.secretsmanager.getSecretVersion (terraform-provider-aws `internal/service/secretsmanager/secret_version_data_source.go`):
 * GetSecretValue of `secret_id` at `version_id`, else at `version_stage` (default AWSCURRENT); returns the value, the
 * version id and stages; id `<secret arn>|<stage or version>`. A missing secret fails the invoke.
 */
const getSecretVersion: EmulatedInvoke = async (args, req) => {
    const { client } = secretsManager({ ...req, inputs: {}, urn: "", name: "", type: "" });
    try {
        const stage = args.versionId ? undefined : (args.versionStage ?? "AWSCURRENT");
        const read = await client.send(new GetSecretValueCommand({ SecretId: args.secretId, VersionId: args.versionId, VersionStage: stage })).catch((err) => {
            throw new ProviderError(`reading Secrets Manager Secret (${args.secretId}) version (${args.versionId ?? stage}): ${awsError("GetSecretValue", err)}`);
        });
        return {
            arn: read.ARN,
            createdDate: read.CreatedDate?.toISOString(),
            id: `${read.ARN}|${args.versionId ?? stage}`,
            secretId: args.secretId,
            secretString: read.SecretString ?? "",
            secretBinary: read.SecretBinary ? Buffer.from(read.SecretBinary).toString("base64") : "",
            versionId: read.VersionId,
            versionStage: stage,
            versionStages: read.VersionStages ?? [],
        };
    } finally {
        client.destroy();
    }
};

const INVOKES: Record<string, EmulatedInvoke> = {
    "aws:secretsmanager/getSecrets:getSecrets": getSecrets,
    "aws:secretsmanager/getSecretVersion:getSecretVersion": getSecretVersion,
};

export function invokeFor(token: string): EmulatedInvoke | undefined {
    return INVOKES[token];
}
