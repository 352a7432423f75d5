/**
 * The Pulumi program: settings + what the last runs left + clock + request -> plan -> resources -> stack outputs.
 * Every decision is the planner's (rotation/plan.ts); this file only loops over the plan's entries and renders them.
 *
 * Order inside one `pulumi up`, each step a dependent of the one before:
 *   generate slot -> apply at source -> publish (Secrets Manager, K8s Secret) -> restart consumers -> health check
 *   -> commit (`rotationState`).
 */
import * as aws from "@pulumi/aws";
import * as cloudflare from "@pulumi/cloudflare";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as resproto from "@pulumi/pulumi/proto/resource_pb";
import { JavaScriptValue, Struct } from "google-protobuf/google/protobuf/struct_pb";
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { CONTRACTS } from "../hooks/contracts";
import { requiredAdminEnv } from "./adminCredentials";
import { Adoption, AwsCurrent, KubernetesCurrent, adoptedPart, judgeAdoption, secretsToAdopt } from "./adoption";
import { GROUPS, Group, Slot } from "./catalog";
import { Credential, CredentialSlots, CredentialSlotsArgs } from "./components/credentialSlots";
import { AwsSecretStore } from "./components/awsSecretStore";
import { HookInputs } from "./components/hookRun";
import { KubernetesSecretStore } from "./components/kubernetesSecretStore";
import { DeploymentRestart, EcsServiceRestart, HealthGate } from "./components/restarts";
import { SourceApplier } from "./components/sourceApplier";
import { postgresUrl, redisUrl } from "./connectionUrls";
import { RotationInputError } from "./errors";
import { contextServer, kubeconfigPaths } from "./kubeconfig";
import { isLoopbackHost } from "./rules";
import { CredentialRef, PerProvider, RotationPlan, SecretPlan, ValueRecipe, planRotation } from "./plan";
import { CONFIG_TERMS, RefusalError } from "./refusals";
import { REQUEST_ENV, parseRequest } from "./request";
import { EnvOverrides, LOCAL_STACK, Settings, parseSettings } from "./settings";
import { RotationRequest } from "./request";
import { ATTEMPT_OUTPUT, Attempt, RotationState, STATE_OUTPUT, StoredState, parseStored, pendingAttempt } from "./state";

/** What the composition root hands the program: the environment and the clock. */
export interface ProgramContext {
    /**
     * Overrides of the stack file (AWS_REGION, ECS_CLUSTER, K8S_CONTEXT), the CLI's request (ROTATION_REQUEST), and
     * the admin credentials the source appliers need (only checked for presence here: the hooks and the Cloudflare
     * provider read them from the environment themselves, so they never enter the stack's state).
     */
    readonly env: EnvOverrides & { readonly [key: string]: string | undefined };
    readonly now: Date;
}

/** Non-secret facts about one published secret (a stack output). */
export interface SecretOutput {
    readonly group: Group;
    readonly stamp: string;
    readonly activeSlot: Slot;
    /** The slot each provider publishes (differs from `activeSlot` while a provider is held back). */
    readonly publishedSlot: PerProvider<Slot>;
    readonly awsSecretId: string;
    readonly awsVersionId: pulumi.Output<string>;
    readonly version: PerProvider<string>;
}

export interface ProgramOutputs {
    /** The committed state: resolves only once every resource of the run succeeded. */
    readonly rotationState: pulumi.Output<RotationState>;
    /** `null`: a run that commits ends any earlier attempt. */
    readonly rotationAttempt: null;
    readonly secrets: Readonly<Record<string, SecretOutput>>;
    readonly restarts: Readonly<Record<string, { readonly trigger: string; readonly restarts: boolean }>>;
}

/**
 * Runs the rotation program. Input problems (config, stamps, refusals) fail with a one-line `RunError` before any
 * resource is registered, so nothing changes.
 */
export async function rotationProgram(ctx: ProgramContext): Promise<ProgramOutputs> {
    let settings: Settings;
    let plan: RotationPlan;
    let providers: Providers | undefined;
    let existing: ReadonlyMap<string, string> | undefined;
    let committed: RotationState | undefined;
    let carried: CarriedOutputs = {};
    try {
        settings = parseSettings(pulumi.runtime.allConfig(), ctx.env, pulumi.getStack());
        if (pulumi.getStack() === LOCAL_STACK) requireLoopbackCluster(settings, ctx.env);
        const request = parseRequest(ctx.env[REQUEST_ENV]);
        const { stored, carried: last } = await readStored();
        carried = last;
        committed = stored.committed;
        // Only an adopt run reads the stores before planning (so its providers are registered before it can refuse);
        // any other run is judged before registering anything.
        let adoption: Adoption | undefined;
        if (adopting(request, stored)) {
            providers = declareProviders(settings);
            existing = await existingSecrets(settings, providers.aws);
            adoption = await readAdoption(settings, providers, existing);
        }
        const planned = planRotation({ settings, stored, now: ctx.now, request, stack: pulumi.getStack(), adoption });
        if (planned.refusal) throw new RefusalError(planned.refusal, CONFIG_TERMS);
        plan = planned.plan;
    } catch (err) {
        if (err instanceof RotationInputError) {
            throw new pulumi.RunError(err.message);
        }
        throw err;
    }
    // A CLI run (it sets REQUEST_ENV) prints the plan's warnings itself, once per command with the command that clears
    // them (automation/render.ts `warningLines`); a raw `pulumi up` gets them from here.
    for (const warning of ctx.env[REQUEST_ENV] === undefined ? plan.warnings : []) {
        pulumi.log.warn(warning);
    }
    if (plan.mode.kind === "resume" || plan.mode.kind === "abandon") {
        pulumi.log.info(`${plan.mode.kind === "resume" ? "resuming" : "rolling back"} an unfinished run: ${plan.mode.summary}`);
    }
    let progress: GenerationProgress | undefined;
    if (!pulumi.runtime.isDryRun()) {
        requireAdminCredentials(plan, ctx.env, settings);
        requireLocalR2Endpoint(plan, settings);
        const attempt = plan.attempt;
        if (attempt) {
            const record = (a: Attempt) => recordAttempt(a, committed, carried);
            await record(attempt);
            // What this run created supersedes what earlier runs recorded for a group. Unknown (an attempt recorded by
            // an older version) stays unknown: a rollback then keeps every slot the run meant to regenerate.
            const known = attempt.generated;
            if (known !== undefined) progress = (generated) => record({ ...attempt, generated: { ...known, ...generated } });
        }
    }
    providers ??= declareProviders(settings);
    existing ??= await existingSecrets(settings, providers.aws);
    return await declareResources(plan, providers, existing, progress);
}

/** Records which slots' new credentials exist so far (the attempt's `generated`), waiting until the engine has it. */
type GenerationProgress = (generated: NonNullable<Attempt["generated"]>) => Promise<void>;

interface Providers {
    readonly aws: aws.Provider;
    readonly k8s?: k8s.Provider;
    readonly cloudflare?: cloudflare.Provider;
}

/** The explicit providers, from the settings (the plan copies the same facts). */
function declareProviders(settings: Settings): Providers {
    // terraform-provider-aws refuses credentials of any account not listed (`allowed_account_ids`), before any call.
    const awsProvider = new aws.Provider("aws", {
        region: settings.aws.region as aws.Region,
        ...(settings.aws.accountId ? { allowedAccountIds: [settings.aws.accountId] } : {}),
        ...localAwsEndpoint(settings.aws.endpoint),
    });
    const kube = settings.kubernetes;
    const k8sProvider =
        kube &&
        new k8s.Provider("k8s", {
            context: kube.context,
            // pulumi-kubernetes provider/pkg/provider/provider.go: "patch resources require Server-Side Apply mode".
            enableServerSideApply: true,
            // Replace the provider (and so every object) only if the stack itself changes, never because the
            // kubeconfig path or context name differs between an SRE's laptop and CI.
            clusterIdentifier: `buywhere-${pulumi.getStack()}`,
            // Without it pulumi-kubernetes replaces a Secret whose data changed (see RotationPlan.kubernetes).
            ...(kube.secretMode === "create" ? { enableSecretMutable: true } : {}),
        });
    return { aws: awsProvider, k8s: k8sProvider, cloudflare: localCloudflare(settings.r2.apiBaseUrl) };
}

/** An `adopt` run that starts the stack (not one resuming an unfinished adopt: that one reads nothing again). */
function adopting(request: RotationRequest, stored: StoredState): boolean {
    return request.adopt !== undefined && stored.committed === undefined && pendingAttempt(stored) === undefined;
}

/**
 * Reads the values in use for `adopt`: each secret's AWSCURRENT (the `getSecretVersion` invoke; invokes run in
 * previews too) and each namespace's Kubernetes Secret (a read, `k8s.core.v1.Secret.get`: "Unlike most steps, Read
 * steps run during previews", pulumi/pulumi pkg/resource/deploy/step.go), and judges them (rotation/adoption.ts). The
 * values stay in this process's memory; only the version ids go on.
 */
async function readAdoption(settings: Settings, providers: Providers, existing: ReadonlyMap<string, string>): Promise<Adoption> {
    const awsRead: Record<string, AwsCurrent | undefined> = {};
    for (const name of secretsToAdopt()) {
        const id = `${settings.aws.secretPrefix}${name}`;
        if (!existing.has(id)) {
            awsRead[name] = undefined;
            continue;
        }
        // terraform-provider-aws data source aws_secretsmanager_secret_version: version_stage defaults to AWSCURRENT.
        const v = await aws.secretsmanager.getSecretVersion({ secretId: id }, { provider: providers.aws });
        awsRead[name] = v.secretString === undefined || v.secretString === "" ? undefined : { versionId: v.versionId, value: v.secretString };
    }
    const k8sRead: Record<string, KubernetesCurrent | undefined> = {};
    const kube = settings.kubernetes;
    if (kube && providers.k8s) {
        for (const namespace of kube.namespaces) {
            const secret = k8s.core.v1.Secret.get(`adopt-read-${namespace}`, `${namespace}/${kube.secretName}`, { provider: providers.k8s });
            k8sRead[namespace] = await new Promise<KubernetesCurrent>((resolve) =>
                pulumi.all([secret.metadata, secret.data]).apply(([metadata, data]) =>
                    resolve({
                        resourceVersion: metadata?.resourceVersion ?? "?",
                        data: Object.fromEntries(Object.entries(data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")])),
                    }),
                ),
            );
        }
    }
    return judgeAdoption(settings, { aws: awsRead, kubernetes: k8sRead });
}

/**
 * The `local` stack's AWS provider calls moto (rotation/settings.ts allows `rotation:aws.endpoint` only there, and
 * only loopback). `endpoints` sets the provider's per-service endpoints, which win over `AWS_ENDPOINT_URL*`
 * (https://www.pulumi.com/registry/packages/aws/api-docs/provider/#endpoints,
 * https://registry.terraform.io/providers/hashicorp/aws/latest/docs/guides/custom-service-endpoints): Secrets Manager,
 * ECS, and STS and IAM, which the provider asks for the account id (`allowedAccountIds`, credentials validation).
 * `skipMetadataApiCheck` keeps it away from the EC2 instance metadata service, 169.254.169.254 (@pulumi/aws
 * provider.d.ts: "Skip the AWS Metadata API check").
 */
function localAwsEndpoint(endpoint: string | undefined): Partial<aws.ProviderArgs> {
    if (endpoint === undefined) return {};
    return { endpoints: [{ secretsmanager: endpoint, ecs: endpoint, sts: endpoint, iam: endpoint }], skipMetadataApiCheck: true };
}

/**
 * The `local` stack's Cloudflare provider: `baseUrl` ("Value to override the default HTTP client base URL", @pulumi/cloudflare
 * provider.d.ts) at the sandbox's token-API double. Other stacks keep the default provider (no explicit provider,
 * so their tokens' provider never changes).
 */
function localCloudflare(baseUrl: string | undefined): cloudflare.Provider | undefined {
    return baseUrl === undefined ? undefined : new cloudflare.Provider("cloudflare-local", { baseUrl });
}

/**
 * The `local` stack may use Kubernetes only on a cluster of this machine (kind, minikube, k3d): the kubeconfig
 * context the provider will use (the same files and merge rules, rotation/kubeconfig.ts) must name a loopback server.
 */
function requireLoopbackCluster(settings: Settings, env: ProgramContext["env"]): void {
    // The PostgreSQL applier's PgBouncer userlist Secret is reached through the same kubeconfig and context, even
    // without `rotation:kubernetes` (then in-cluster, which a laptop has not: refused below as no context).
    const usesCluster = settings.kubernetes !== undefined || settings.database.pgbouncer?.authFile.secret !== undefined;
    if (!usesCluster) return;
    const key = "rotation:kubernetes.context";
    const files = kubeconfigPaths(env.KUBECONFIG, env.HOME ?? homedir()).filter((f) => existsSync(f)).map((f) => readFileSync(f, "utf8"));
    const found = contextServer(files, settings.kubernetes?.context);
    if ("problem" in found) throw new RotationInputError(key, `the \`${LOCAL_STACK}\` stack's Kubernetes cluster cannot be told: ${found.problem}`);
    let host = "";
    try {
        host = new URL(found.server).hostname;
    } catch {
        // not a URL: refused below
    }
    if (!isLoopbackHost(host)) {
        throw new RotationInputError(key, `the \`${LOCAL_STACK}\` stack's Kubernetes context talks to ${JSON.stringify(found.server)}, not a loopback address: the \`${LOCAL_STACK}\` stack reaches only this machine`);
    }
}

/**
 * The `local` stack probes new R2 keys only against a local S3 endpoint (ROTATION_R2_ENDPOINT, loopback-checked by
 * rotation/settings.ts): without it the probe would try them at `<account>.r2.cloudflarestorage.com`.
 */
function requireLocalR2Endpoint(plan: RotationPlan, settings: Settings): void {
    if (pulumi.getStack() === LOCAL_STACK && plan.groups.r2.regenerate.length > 0 && settings.r2.endpoint === undefined) {
        throw new pulumi.RunError(`environment variable \`ROTATION_R2_ENDPOINT\` is required for the \`${LOCAL_STACK}\` stack: a local S3 endpoint for the R2 probe (\`npm run sandbox\` prints it)`);
    }
}

/** An `up` that applies a group's new slots needs that group's admin credential; say so before starting. */
function requireAdminCredentials(plan: RotationPlan, env: ProgramContext["env"], settings: Settings): void {
    for (const group of GROUPS) {
        // None where the stack names an admin secret or Redis is ElastiCache: the hook reads the secret / calls AWS.
        const name = requiredAdminEnv(settings, group);
        const slots = plan.groups[group].regenerate;
        if (name && slots.length > 0 && !env[name]) {
            throw new pulumi.RunError(
                `environment variable \`${name}\` is required: this run regenerates ${group} slot ` +
                    `${slots.join(", ")} and must make it valid at its source first (README, "Source appliers")`,
            );
        }
    }
}

/**
 * Reads what the last runs left (committed state and attempt), through a StackReference to the stack itself
 * (pulumi/pulumi pkg/resource/deploy/builtins.go `readStackReference`: a stack may read its own last checkpoint;
 * reads also run during previews, pkg/resource/deploy/step.go "Unlike most steps, Read steps run during previews").
 */
async function readStored(): Promise<{ stored: StoredState; carried: CarriedOutputs }> {
    // runtime/settings.js getOrganization() throws rather than return nothing (engine-behaviour.md §1).
    const self = `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`;
    const ref = new pulumi.StackReference("rotation-last-state", { name: self });
    const [state, attempt, ...rest] = await Promise.all([STATE_OUTPUT, ATTEMPT_OUTPUT, ...CARRIED_OUTPUTS].map((name) => ref.getOutputValue(name)));
    const carried = Object.fromEntries(CARRIED_OUTPUTS.flatMap((name, i) => (rest[i] === undefined || rest[i] === null ? [] : [[name, rest[i]]])));
    return { stored: parseStored(state, attempt), carried };
}

/**
 * The other outputs of the last committed run (non-secret facts: each secret's AWS version id, each consumer's
 * trigger), sent again with every attempt event so that a cancelled update, whose outputs become exactly the last
 * event taken (`recordAttempt`), keeps them: `status` reads the version ids from them.
 */
const CARRIED_OUTPUTS = ["secrets", "restarts"] as const satisfies readonly (keyof ProgramOutputs)[];
type CarriedOutputs = Partial<Record<(typeof CARRIED_OUTPUTS)[number], unknown>>;

/**
 * Records the attempt as the stack's `rotationAttempt` output *before* the first change, and waits until the engine
 * has it.
 *
 * Why this is the one way a failed run can leave a record: the Node SDK sends the stack's outputs once, after every
 * exported output resolved (@pulumi/pulumi runtime/stack.js `initialize`: `outputs = await massage(...)`, then
 * `registerOutputs` in `finally`), and the engine stops taking program events at the first failed step
 * (pulumi/pulumi pkg/resource/deploy/deployment_executor.go: the step executor's `cancelDueToError` cancels the
 * context the main loop selects on). The engine keeps the *last* root-stack outputs event it took and, when the
 * update failed, merges it over the old outputs (pkg/resource/deploy/step_executor.go
 * `executeRegisterResourceOutputs`: `outs = oldOuts.Copy(); maps.Copy(outs, e.Outputs())`, pulumi/pulumi#15754).
 * So an event sent now, before any resource is registered, survives any later failure, while the SDK's final event,
 * which carries the committed state, is taken only when every resource succeeded.
 *
 * A cancelled update (Ctrl-C) is not a failed one: the main loop returns `canceled` with no error, so `errored` is
 * false when the stack outputs are finalized and the last event taken becomes the outputs *exactly*
 * (deployment_executor.go `Execute`: `errored := err != nil || stepExecutorError != nil || ex.stepGen.Errored()`).
 * Hence the event also carries the committed state it started from: after a Ctrl-C the stack keeps it and the
 * attempt (found by test/cliEndToEnd.test.ts through the pulumi CLI double; without it the stack looked never deployed),
 * and the committed run's other outputs (`CARRIED_OUTPUTS`).
 */
async function recordAttempt(attempt: Attempt, committed: RotationState | undefined, carried: CarriedOutputs): Promise<void> {
    const stack = pulumi.runtime.getStackResource();
    const monitor = pulumi.runtime.getMonitor();
    if (stack === undefined || monitor === undefined) throw new Error("the rotation program must run inside a Pulumi stack");
    const req = new resproto.RegisterResourceOutputsRequest();
    req.setUrn(await new Promise<string>((resolve) => stack.urn.apply(resolve)));
    const outputs: Record<string, JavaScriptValue> = { ...(JSON.parse(JSON.stringify(carried)) as Record<string, JavaScriptValue>), [ATTEMPT_OUTPUT]: JSON.parse(JSON.stringify(attempt)) };
    if (committed !== undefined) outputs[STATE_OUTPUT] = JSON.parse(JSON.stringify(committed));
    req.setOutputs(Struct.fromJavaScript(outputs));
    await new Promise<void>((resolve, reject) => monitor.registerResourceOutputs(req, (err: Error | null) => (err ? reject(err) : resolve())));
}

/**
 * The ARNs of the secrets that already exist in AWS (they are adopted, the others created), by name. Invokes run
 * during previews too.
 */
async function existingSecrets(settings: Settings, provider: aws.Provider): Promise<ReadonlyMap<string, string>> {
    // ListSecrets' `name` filter is a case-insensitive prefix match
    // (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_Filter.html); names are compared exactly below.
    const found = await aws.secretsmanager.getSecrets({ filters: [{ name: "name", values: [settings.aws.secretPrefix] }] }, { provider });
    const byName = new Map<string, string>();
    (found.names ?? []).forEach((name, i) => {
        const arn = found.arns?.[i];
        if (arn && name.startsWith(settings.aws.secretPrefix)) byName.set(name, arn);
    });
    return byName;
}

/** Turns a plan into resources. Decides nothing the plan has not decided. */
async function declareResources(
    plan: RotationPlan,
    providers: Providers,
    existing: ReadonlyMap<string, string>,
    progress: GenerationProgress | undefined,
): Promise<ProgramOutputs> {
    const awsProvider = providers.aws;
    const awsName = (name: string) => plan.secrets.find((s) => s.spec.name === name)?.awsSecretId ?? name;
    const credentials = await declareCredentials(plan, providers.cloudflare, { provider: awsProvider, arnOf: (name) => existing.get(awsName(name)) }, progress);
    const render = (recipe: ValueRecipe) => renderValue(recipe, credentials);
    const appliers = declareAppliers(plan, credentials);
    const after = (groups: readonly Group[]) => groups.flatMap((g) => appliers[g] ?? []);

    // Adopting publishes nothing: the values in use stay exactly as they are, in both stores.
    const awsStore = new AwsSecretStore(
        "aws",
        {
            stack: pulumi.getStack(),
            kmsKeyId: plan.aws.kmsKeyId,
            secrets: (plan.publishes ? plan.secrets : []).map((s) => ({
                name: s.spec.name,
                secretId: s.awsSecretId,
                existingArn: existing.get(s.awsSecretId),
                value: render(s.recipe.aws),
                writeTrigger: `${s.version.aws}@${s.writeSerial.aws}`,
                after: after([s.spec.group]),
            })),
        },
        { providers: [awsProvider] },
    );
    const storeWrites: pulumi.Resource[] = [...awsStore.resources];

    const k8sStores = new Map<string, KubernetesSecretStore>();
    const k8sProvider = providers.k8s;
    if (plan.kubernetes && k8sProvider) {
        for (const store of plan.kubernetes.stores) {
            const k8sStore = new KubernetesSecretStore(
                store.name,
                {
                    namespace: store.namespace,
                    secretName: store.secretName,
                    mode: store.mode,
                    values: Object.fromEntries(plan.secrets.map((s) => [s.k8sKey, render(s.recipe.k8s)])),
                    writeSerial: store.writeSerial,
                    importExisting: store.importExisting,
                    after: after(GROUPS),
                },
                { providers: [k8sProvider] },
            );
            k8sStores.set(store.namespace, k8sStore);
            storeWrites.push(k8sStore.secret);
        }
    }

    const restarts: pulumi.Resource[] = [];
    for (const r of plan.restarts) {
        if (r.provider === "aws") {
            restarts.push(new EcsServiceRestart(r.name, { input: r.input, trigger: r.trigger, after: r.secrets.map((name) => awsStore.versions[name]) }).command);
        } else {
            restarts.push(
                new DeploymentRestart(
                    r.name,
                    { namespace: r.namespace, deployment: r.deployment, trigger: r.trigger, timeoutSeconds: r.timeoutSeconds, after: [k8sStores.get(r.namespace)!.secret] },
                    { providers: [k8sProvider!] },
                ).patch,
            );
        }
    }
    const gate = new HealthGate("health", { input: plan.health.input, trigger: plan.health.trigger, after: restarts.length > 0 ? restarts : storeWrites });
    const all = [...Object.values(appliers).flat(), ...storeWrites, ...restarts, gate.command];

    return {
        // Committed only when every resource of the run succeeded (see recordAttempt for the engine's rule).
        rotationState: pulumi.all(all.map((r) => r.urn)).apply(() => plan.nextState),
        rotationAttempt: null,
        secrets: Object.fromEntries(
            plan.secrets.map((s) => [
                s.spec.name,
                secretOutput(plan, s, awsStore.versions[s.spec.name]?.versionId ?? pulumi.output(plan.groups[s.spec.group].next.adopted?.versions[s.spec.name] ?? "")),
            ]),
        ),
        restarts: Object.fromEntries(plan.restarts.map((r) => [r.id, { trigger: r.trigger, restarts: r.restarts }])),
    };
}

interface Credentials {
    readonly bySlot: ReadonlyMap<string, Credential>;
    /** An adopted slot's copy of each secret it holds, by `<group>/<slot>/<secret>`. */
    readonly adopted: ReadonlyMap<string, pulumi.Output<string>>;
}
const credentialKey = (group: Group, slot: Slot) => `${group}/${slot}`;

/**
 * Declares every group's credential slots. In a live run (`progress` given) the slots a group regenerates are created
 * before the next group's are declared and before anything that applies or publishes a credential, and after each
 * group the attempt is recorded again with every slot created so far (`Attempt.generated`).
 *
 * Why: a rollback of a run that failed needs to know which new credentials exist. One the run created may have been
 * applied or published, so the rollback keeps it; one it never created must not be created by the rollback, which
 * would change `JWT_SECRET_KEY_PREVIOUS` or `BUYWHERE_API_KEY_PREVIOUS` (rotation/plan.ts `heldGenerations`). Only
 * the engine's state knows, and a program cannot read it; the stack outputs event is the one record a failed run
 * leaves (`recordAttempt`). An event is taken while no step has failed, so with nothing else registered yet a group's
 * slots are recorded exactly when they were created: a failure to create one stops the run before the event, and the
 * groups recorded before it are exact. What is not exact: a group that regenerates both slots (only a first
 * deployment, whose rollback is refused) and a Ctrl-C in the milliseconds between a creation and its event (the
 * rollback then generates that slot under its committed label; it was never applied or published).
 */
async function declareCredentials(
    plan: RotationPlan,
    cloudflareProvider: cloudflare.Provider | undefined,
    adopted: NonNullable<CredentialSlotsArgs["adopted"]>,
    progress: GenerationProgress | undefined,
): Promise<Credentials> {
    const bySlot = new Map<string, Credential>();
    const adoptedValues = new Map<string, pulumi.Output<string>>();
    const generated: NonNullable<Attempt["generated"]> = {};
    // A component's `providers` reach its children by package (the R2 tokens): @pulumi/pulumi resource.js, a child
    // starts from its parent's `__providers` and takes the one of its package.
    const opts = cloudflareProvider ? { providers: [cloudflareProvider] } : undefined;
    for (const group of GROUPS) {
        const slots = new CredentialSlots(`${group}-slots`, { slots: plan.credentials.filter((c) => c.group === group), adopted }, opts);
        for (const [slot, credential] of Object.entries(slots.credentials) as [Slot, Credential][]) bySlot.set(credentialKey(group, slot), credential);
        for (const [slot, values] of Object.entries(slots.adoptedValues) as [Slot, Record<string, pulumi.Output<string>>][]) {
            for (const [secret, value] of Object.entries(values)) adoptedValues.set(`${credentialKey(group, slot)}/${secret}`, value);
        }
        const created = plan.groups[group].regenerate.filter((slot) => slots.issued[slot] !== undefined);
        if (progress && created.length > 0) {
            // A resource's ID resolves once the engine has created it (or found it unchanged). When the creation fails
            // it never resolves: the engine stops the run and the SDK the program.
            await Promise.all(created.map((slot) => new Promise<void>((resolve) => slots.issued[slot]!.apply(() => resolve()))));
            generated[group] = created;
            await progress({ ...generated });
        }
    }
    return { bySlot, adopted: adoptedValues };
}

function credential(ref: CredentialRef, credentials: Credentials): pulumi.Output<string> {
    const value = credentials.bySlot.get(credentialKey(ref.group, ref.slot))?.[ref.field];
    if (value === undefined) throw new Error(`the plan refers to ${ref.group} slot ${ref.slot}'s ${ref.field}, which no credential has`);
    return value;
}

/** The applier commands of each group, from the plan's applier runs. */
function declareAppliers(plan: RotationPlan, credentials: Credentials): Partial<Record<Group, pulumi.Resource[]>> {
    const out: Partial<Record<Group, pulumi.Resource[]>> = {};
    for (const group of GROUPS) {
        const runs = plan.appliers.filter((r) => r.group === group);
        if (runs.length === 0) continue;
        const contract = CONTRACTS[runs[0].hook];
        const applier = new SourceApplier(`${group}-apply`, {
            contract,
            runs: runs.map((run) => ({
                name: run.name,
                inputs: Object.fromEntries(
                    Object.entries(run.inputs).map(([k, v]) => [k, isCredentialRef(v) ? credential(v, credentials) : v]),
                ) as HookInputs<typeof contract>,
                triggers: run.triggers,
            })),
        });
        out[group] = [...applier.commands];
    }
    return out;
}

function isCredentialRef(value: unknown): value is CredentialRef {
    return typeof value === "object" && value !== null && "group" in value && "slot" in value && "field" in value;
}

/** The value a recipe describes, as a Pulumi secret. */
function renderValue(recipe: ValueRecipe, credentials: Credentials): pulumi.Output<string> {
    switch (recipe.kind) {
        case "credential":
            return pulumi.secret(credential(recipe.ref, credentials));
        case "text":
            return pulumi.secret(pulumi.output(recipe.value));
        case "postgresUrl":
            return pulumi.secret(credential(recipe.password, credentials).apply((p) => postgresUrl(recipe.parts, p)));
        case "redisUrl":
            return pulumi.secret(credential(recipe.password, credentials).apply((p) => redisUrl(recipe.parts, p)));
        case "adopted": {
            const value = credentials.adopted.get(`${credentialKey(recipe.group, recipe.slot)}/${recipe.secret}`);
            if (value === undefined) throw new Error(`the plan publishes ${recipe.secret} from ${recipe.group}'s adopted slot ${recipe.slot}, which holds no such value`);
            return pulumi.secret(value.apply((v) => adoptedPart(v, recipe.part)));
        }
    }
}

function secretOutput(plan: RotationPlan, s: SecretPlan, awsVersionId: pulumi.Output<string>): SecretOutput {
    const group = plan.groups[s.spec.group].next;
    return {
        group: s.spec.group,
        stamp: group.stamp,
        activeSlot: group.active,
        publishedSlot: s.slot,
        awsSecretId: s.awsSecretId,
        awsVersionId,
        version: s.version,
    };
}
