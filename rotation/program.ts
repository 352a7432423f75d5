/**
 * The Pulumi program: settings + last state + clock -> plan -> resources -> stack outputs.
 *
 * Order inside one `pulumi up`, each step a dependent of the one before:
 *   generate slot -> apply at source -> publish (Secrets Manager, K8s Secret) -> restart consumers -> health check.
 */
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { APPLIERS } from "./appliers";
import { GROUPS, Group, SLOTS, Slot, ValueSource, otherSlot } from "./catalog";
import { AwsSecretSink } from "./components/awsSecretSink";
import { Credential, CredentialSlots } from "./components/credentialSlots";
import { KubernetesSecretSink } from "./components/kubernetesSecretSink";
import { DeploymentRestart, EcsServiceRestart, HealthGate } from "./components/restarts";
import { SourceApplier } from "./components/sourceApplier";
import { databaseAddress, postgresUrl, redisUrl } from "./compose";
import { EnvOverrides, Provider, REQUEST_ENV, Settings, parseRequest, parseSettings } from "./config";
import { RotationInputError } from "./errors";
import { PerProvider, RotationPlan, RotationState, SecretPlan, planRotation } from "./plan";
import { STATE_OUTPUT, parseState } from "./state";

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
    readonly rotationState: RotationState;
    readonly secrets: Readonly<Record<string, SecretOutput>>;
    readonly restarts: Readonly<Record<string, { readonly trigger: string; readonly restarts: boolean }>>;
}

/**
 * Runs the rotation program. Input problems (config, stamps) fail with a one-line `RunError` before any resource
 * is registered, so nothing changes.
 */
export async function rotationProgram(ctx: ProgramContext): Promise<ProgramOutputs> {
    let settings: Settings;
    let plan: RotationPlan;
    try {
        settings = parseSettings(pulumi.runtime.allConfig(), ctx.env);
        const request = parseRequest(ctx.env[REQUEST_ENV]);
        plan = planRotation(settings, await readLastState(), ctx.now, request);
    } catch (err) {
        if (err instanceof RotationInputError) {
            throw new pulumi.RunError(err.message);
        }
        throw err;
    }
    for (const warning of plan.warnings) {
        pulumi.log.warn(warning);
    }
    if (!pulumi.runtime.isDryRun()) {
        requireAdminCredentials(plan, ctx.env);
    }
    return deployRotation(settings, plan);
}

/** An `up` that applies a group's regenerated slots needs that group's admin credential; say so before starting. */
function requireAdminCredentials(plan: RotationPlan, env: ProgramContext["env"]): void {
    for (const group of GROUPS) {
        const applier = APPLIERS[group];
        if (applier && plan.groups[group].regenerate.length > 0 && !env[applier.adminEnv]) {
            throw new pulumi.RunError(
                `environment variable \`${applier.adminEnv}\` is required: this run regenerates ${group} slot ` +
                    `${plan.groups[group].regenerate.join(", ")} and must make it valid at its source first (README, "Source appliers")`,
            );
        }
    }
}

/** Reads the state the last successful run of this stack left, through a StackReference to the stack itself. */
async function readLastState(): Promise<RotationState | undefined> {
    const org = pulumi.getOrganization();
    const self = `${org ? `${org}/` : ""}${pulumi.getProject()}/${pulumi.getStack()}`;
    const ref = new pulumi.StackReference("rotation-last-state", { name: self });
    const value: unknown = await ref.getOutputValue(STATE_OUTPUT);
    return value === undefined ? undefined : parseState(value);
}

/** Turns a plan into resources. Decides nothing the plan has not decided. */
export function deployRotation(settings: Settings, plan: RotationPlan): ProgramOutputs {
    const awsProvider = new aws.Provider("aws", { region: settings.aws.region as aws.Region });

    const credentials = {} as Record<Group, Record<Slot, Credential>>;
    for (const group of GROUPS) {
        credentials[group] = new CredentialSlots(`${group}-slots`, {
            group,
            keepers: plan.groups[group].keepers,
            r2: group === "r2" ? { ...settings.r2, stack: pulumi.getStack() } : undefined,
        }).credentials;
    }
    // Every store write of a group waits for its applier, so a credential is valid at its source before anyone is
    // told about it. (R2's tokens are issued by Cloudflare as they are generated: no separate step.)
    const appliers = sourceAppliers(settings, plan, credentials);

    const valueFor = (s: SecretPlan, provider: Provider) => publishedValue(settings, s.slot[provider], s.spec.source, credentials[s.spec.group]);

    const awsSink = new AwsSecretSink(
        "aws",
        {
            secrets: plan.secrets.map((s) => ({
                name: s.spec.name,
                secretId: s.awsSecretId,
                value: valueFor(s, "aws"),
                after: appliers[s.spec.group],
            })),
        },
        { providers: [awsProvider] },
    );

    const k8sSinks = new Map<string, KubernetesSecretSink>();
    const k8sSettings = settings.kubernetes;
    let k8sProvider: k8s.Provider | undefined;
    if (k8sSettings) {
        k8sProvider = new k8s.Provider("k8s", {
            context: k8sSettings.context,
            enableServerSideApply: true,
            // Replace the provider (and so every object) only if the stack itself changes, never because the
            // kubeconfig path or context name differs between an SRE's laptop and CI.
            clusterIdentifier: `buywhere-${pulumi.getStack()}`,
        });
        for (const namespace of k8sSettings.namespaces) {
            k8sSinks.set(
                namespace,
                new KubernetesSecretSink(
                    `k8s-${namespace}`,
                    {
                        namespace,
                        secretName: k8sSettings.secretName,
                        mode: k8sSettings.secretMode,
                        values: Object.fromEntries(plan.secrets.map((s) => [s.k8sKey, valueFor(s, "k8s")])),
                        after: GROUPS.flatMap((g) => appliers[g] ?? []),
                    },
                    { providers: [k8sProvider] },
                ),
            );
        }
    }

    const restarts: pulumi.Resource[] = [];
    for (const consumer of plan.consumers) {
        if (consumer.provider === "aws") {
            const ecs = settings.ecs!;
            restarts.push(
                new EcsServiceRestart(`ecs-${consumer.name}`, {
                    region: settings.aws.region,
                    cluster: ecs.cluster,
                    service: consumer.name,
                    trigger: consumer.trigger,
                    stableTimeoutSeconds: ecs.stableTimeoutSeconds,
                    pollSeconds: ecs.pollSeconds,
                    after: consumer.secrets.map((name) => awsSink.versions[name]),
                }).command,
            );
        } else {
            const sink = k8sSinks.get(consumer.namespace!)!;
            restarts.push(
                new DeploymentRestart(
                    `k8s-${consumer.namespace}-${consumer.name}`,
                    { namespace: consumer.namespace!, deployment: consumer.name, trigger: consumer.trigger, after: [sink.secret] },
                    { providers: [k8sProvider!] },
                ).patch,
            );
        }
    }

    const storeWrites: pulumi.Resource[] = [
        ...Object.values(awsSink.versions),
        ...[...k8sSinks.values()].map((s) => s.secret),
    ];
    new HealthGate("health", {
        ...settings.health,
        trigger: plan.health.trigger,
        after: restarts.length > 0 ? restarts : storeWrites,
    });

    return {
        rotationState: plan.nextState,
        secrets: Object.fromEntries(
            plan.secrets.map((s) => {
                const group = plan.groups[s.spec.group].next;
                const out: SecretOutput = {
                    group: s.spec.group,
                    stamp: group.stamp,
                    activeSlot: group.active,
                    publishedSlot: s.slot,
                    awsSecretId: s.awsSecretId,
                    awsVersionId: awsSink.versions[s.spec.name].versionId,
                    version: s.version,
                };
                return [s.spec.name, out];
            }),
        ),
        restarts: Object.fromEntries(plan.consumers.map((c) => [c.id, { trigger: c.trigger, restarts: c.restarts }])),
    };
}

/** The applier commands of each group that has a source, from the plan's keepers and the slots' credentials. */
function sourceAppliers(
    settings: Settings,
    plan: RotationPlan,
    credentials: Readonly<Record<Group, Readonly<Record<Slot, Credential>>>>,
): Partial<Record<Group, pulumi.Resource[]>> {
    const keeper = (g: Group, slot: Slot) => plan.groups[g].keepers[slot].stamp;
    const db = settings.database;
    const database = new SourceApplier("database-apply", {
        hook: "postgresApply",
        runs: SLOTS.map((slot) => ({
            suffix: slot,
            environment: { PG_ROLE: db.roles[slot], PG_PASSWORD: credentials.database[slot].secret! },
            triggers: [keeper("database", slot)],
        })),
    });
    const redis = new SourceApplier("redis-apply", {
        hook: "redisApply",
        runs: [
            {
                suffix: "acl",
                environment: {
                    REDIS_USER: settings.redis.user,
                    REDIS_PASSWORD_A: credentials.redis.a.secret!,
                    REDIS_PASSWORD_B: credentials.redis.b.secret!,
                },
                triggers: SLOTS.map((slot) => keeper("redis", slot)),
            },
        ],
    });
    const ts = settings.typesense;
    const typesense = new SourceApplier("typesense-apply", {
        hook: "typesenseApply",
        runs: SLOTS.map((slot) => ({
            suffix: slot,
            environment: {
                TYPESENSE_URL: ts.url,
                TYPESENSE_STACK: pulumi.getStack(),
                TYPESENSE_SLOT: slot,
                TYPESENSE_SLOT_STAMP: keeper("typesense", slot),
                TYPESENSE_KEY_VALUE: credentials.typesense[slot].secret!,
                TYPESENSE_ACTIONS: JSON.stringify(ts.actions),
                TYPESENSE_COLLECTIONS: JSON.stringify(ts.collections),
            },
            triggers: [keeper("typesense", slot)],
        })),
    });
    return { database: [...database.commands], redis: [...redis.commands], typesense: [...typesense.commands] };
}

/** The value a secret is published with, when `active` is the slot the provider publishes as current. */
function publishedValue(
    settings: Settings,
    active: Slot,
    source: ValueSource,
    credentials: Readonly<Record<Slot, Credential>>,
): pulumi.Output<string> {
    if (source.kind === "credential") {
        const slot = source.slot === "current" ? active : otherSlot(active);
        return pulumi.secret(credentials[slot][source.field]!);
    }
    const db = settings.database;
    const role = db.roles[active];
    if (source.kind === "role") {
        return pulumi.secret(pulumi.output(role));
    }
    const password = credentials[active].secret!;
    if (source.endpoint === "redis") {
        return pulumi.secret(password.apply((p) => redisUrl(settings.redis, p)));
    }
    const { host, port } = databaseAddress(db, source.endpoint);
    return pulumi.secret(password.apply((p) => postgresUrl(db, host, port, role, p)));
}
