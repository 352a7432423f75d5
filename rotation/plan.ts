/**
 * The rotation plan: from validated settings, the program's last state and the clock, everything one run will do.
 *
 * Pure (no resources, no I/O): the Pulumi program turns this plan into resources, and the CLI prints it offline.
 * A secret's *version* and a consumer's *trigger* are digests of non-secret facts (slot, slot stamp, composition
 * config), so the plan knows exactly which stores are written and which consumers restart without ever seeing a
 * credential.
 */
import { createHash } from "node:crypto";
import { Endpoint, GENERATION, GROUPS, Group, SECRETS, SLOTS, SecretSpec, Slot, ValueSource, otherSlot } from "./catalog";
import { NAMESPACE, NO_REQUEST, PROVIDERS, Provider, RESTART_SCOPES, RestartScope, RotationRequest, Settings } from "./config";
import { RotationInputError } from "./errors";
import { databaseAddress, redisUrlParts } from "./compose";
import { GroupChange, GroupState, publishedSlot, slotKeeper, transitionGroup } from "./slots";
import { compareStamps, laterStamp, parseStamp } from "./stamp";

/** Version of the {@link RotationState} layout, bumped on incompatible change. */
export const STATE_SCHEMA = 1;

/** Per provider: the same fact for what AWS (Secrets Manager + ECS) and Kubernetes are given. */
export type PerProvider<T> = Readonly<Record<Provider, T>>;

/** What the program remembers between runs. A non-secret stack output, read back through a StackReference. */
export interface RotationState {
    readonly schema: typeof STATE_SCHEMA;
    readonly groups: Readonly<Record<Group, GroupState>>;
    /** Version digest of every published secret, per provider (they differ while one is held back). */
    readonly secrets: PerProvider<Readonly<Record<string, string>>>;
    /** Restart trigger of every consumer, by consumer id. */
    readonly consumers: Readonly<Record<string, string>>;
    readonly health: string;
    /** The latest restart stamp of each scope ever applied (restart stamps, like rotation stamps, never go back). */
    readonly restarts: Readonly<Partial<Record<RestartScope, string>>>;
}

export interface GroupPlan {
    readonly group: Group;
    readonly change: GroupChange;
    readonly last?: GroupState;
    readonly next: GroupState;
    readonly regenerate: readonly Slot[];
    /** Keeper of each slot's random credential. */
    readonly keepers: Readonly<Record<Slot, { readonly stamp: string }>>;
}

export interface SecretPlan {
    readonly spec: SecretSpec;
    readonly awsSecretId: string;
    readonly k8sKey: string;
    /** The slot each provider publishes. */
    readonly slot: PerProvider<Slot>;
    /** Digest of the non-secret facts that determine the value each provider publishes. */
    readonly version: PerProvider<string>;
    /** Whether this run writes a new value to the provider's store. */
    readonly changed: PerProvider<boolean>;
}

export interface ConsumerPlan {
    /** `ecs:<service>` or `k8s:<namespace>/<deployment>`. */
    readonly id: string;
    readonly provider: Provider;
    readonly name: string;
    readonly namespace?: string;
    readonly consumes: readonly Group[];
    readonly secrets: readonly string[];
    readonly trigger: string;
    readonly restarts: boolean;
    /** Why it restarts: the changed secrets and bumped restart stamps. Empty when it does not. */
    readonly reasons: readonly string[];
}

export interface HealthPlan {
    readonly urls: readonly string[];
    readonly trigger: string;
    readonly runs: boolean;
}

export interface RotationPlan {
    readonly groups: Readonly<Record<Group, GroupPlan>>;
    readonly secrets: readonly SecretPlan[];
    readonly consumers: readonly ConsumerPlan[];
    readonly health: HealthPlan;
    /** Stores written: K8s namespaces whose Secret changes. */
    readonly k8sNamespacesChanged: readonly string[];
    readonly nextState: RotationState;
    /** Non-fatal notes for the operator (never secret). */
    readonly warnings: readonly string[];
}

/**
 * Plans one run.
 *
 * The stack file's stamps are a floor: a group rotates when they are later than its last stamp, and a stale stack
 * file (older than what a CLI run since deployed) changes nothing. A request's stamps are strict: older than the
 * group's last stamp is an error.
 *
 * @param settings validated settings of the stack
 * @param last     the state the last successful run left (undefined on first deployment)
 * @param now      the clock; a stamp may not label a period that has not started
 * @param request  what this run asks for on top of the stack file (the CLI's rotate/rollback/restart)
 * @throws RotationInputError for a backwards, future or otherwise impossible stamp
 */
export function planRotation(
    settings: Settings,
    last: RotationState | undefined,
    now: Date,
    request: RotationRequest = NO_REQUEST,
): RotationPlan {
    const warnings: string[] = [];
    const groups = {} as Record<Group, GroupPlan>;
    for (const group of GROUPS) {
        groups[group] = planGroup(settings, request, group, last?.groups[group], now, warnings);
    }
    const restartStamps = planRestarts(settings, request, last, now);

    const secrets = SECRETS.map((spec): SecretPlan => {
        const next = groups[spec.group].next;
        const slot = perProvider((p) => publishedSlot(next, p));
        const version = perProvider((p) => digest({ name: spec.name, ...valueFacts(settings, next, slot[p], spec.source, spec.group) }));
        return {
            spec,
            awsSecretId: `${settings.aws.secretPrefix}${spec.name}`,
            k8sKey: spec.name,
            slot,
            version,
            changed: perProvider((p) => last?.secrets[p][spec.name] !== version[p]),
        };
    });
    const byName = new Map(secrets.map((s) => [s.spec.name, s]));

    const consumers = consumerSpecs(settings).map((c): ConsumerPlan => {
        const consumed = SECRETS.filter((s) => c.consumes.includes(s.group)).map((s) => byName.get(s.name)!);
        const bumps = restartBumps(restartStamps, c.provider, c.consumes);
        const trigger = digest({ secrets: consumed.map((s) => [s.spec.name, s.version[c.provider]]), restart: bumps });
        const restarts = last?.consumers[c.id] !== trigger;
        const changed = consumed.filter((s) => s.changed[c.provider]).map((s) => `${s.spec.name} changed`);
        const reasons = !restarts
            ? []
            : last?.consumers[c.id] === undefined
              ? ["first deployment of this consumer"]
              : changed.length > 0
                ? changed
                : ["a restart stamp was bumped"];
        return { ...c, secrets: consumed.map((s) => s.spec.name), trigger, restarts, reasons };
    });

    const healthTrigger = digest({ consumers: consumers.map((c) => [c.id, c.trigger]), health: settings.health });
    const health: HealthPlan = {
        urls: settings.health.urls,
        trigger: healthTrigger,
        runs: last?.health !== healthTrigger,
    };

    const k8sNamespacesChanged = secrets.some((s) => s.changed.k8s) ? (settings.kubernetes?.namespaces ?? []) : [];

    const nextState: RotationState = {
        schema: STATE_SCHEMA,
        groups: Object.fromEntries(GROUPS.map((g) => [g, groups[g].next])) as Record<Group, GroupState>,
        secrets: perProvider((p) => Object.fromEntries(secrets.map((s) => [s.spec.name, s.version[p]]))),
        consumers: Object.fromEntries(consumers.map((c) => [c.id, c.trigger])),
        health: healthTrigger,
        restarts: restartStamps,
    };
    return { groups, secrets, consumers, health, k8sNamespacesChanged, nextState, warnings };
}

function planGroup(
    settings: Settings,
    request: RotationRequest,
    group: Group,
    last: GroupState | undefined,
    now: Date,
    warnings: string[],
): GroupPlan {
    const override = settings.groupStamps[group];
    let stamp = laterStamp(settings.stamp, override);
    let stampKey = stamp === settings.stamp ? `${NAMESPACE}:stamp` : `${NAMESPACE}:groupStamps.${group}`;
    if (override !== undefined && compareStamps(override, settings.stamp) < 0) {
        warnings.push(`\`${NAMESPACE}:groupStamps.${group}\` ${override} is older than \`${NAMESPACE}:stamp\` and has no effect`);
    }
    const requested = request.stamps[group];
    if (requested !== undefined) {
        // Strict: not older than the stack file's stamp here, nor than the last stamp in the transition below.
        if (compareStamps(requested, stamp) < 0) {
            throw new RotationInputError(
                request.label,
                `\`${request.label}\` ${requested} is earlier than ${group}'s stamp ${stamp} in the stack file (\`${stampKey}\`); stamps never go backwards`,
            );
        }
        stamp = requested;
        stampKey = request.label;
    } else if (last !== undefined && compareStamps(stamp, last.stamp) < 0) {
        warnings.push(
            `\`${stampKey}\` ${stamp} is older than ${group}'s last stamp ${last.stamp} (a later rotation was requested ` +
                `since); nothing to rotate`,
        );
        stamp = last.stamp;
    }
    notInFuture(stamp, stampKey, now);
    const transition = transitionGroup(
        group,
        last,
        {
            stamp,
            stampKey,
            rollback: request.rollback[group] ?? settings.rollback[group],
            rollbackKey: request.rollback[group] !== undefined ? request.label : `${NAMESPACE}:rollback.${group}`,
            hold: request.hold[group] ?? settings.hold[group],
            holdKey: request.hold[group] !== undefined ? request.label : `${NAMESPACE}:hold.${group}`,
        },
        now,
    );
    const keepers = Object.fromEntries(SLOTS.map((s) => [s, { stamp: slotKeeper(transition.next, s) }])) as Record<
        Slot,
        { stamp: string }
    >;
    return { group, last, ...transition, keepers };
}

function notInFuture(stamp: string, key: string, now: Date): void {
    if (parseStamp(stamp, key).start.getTime() > now.getTime()) {
        throw new RotationInputError(
            key,
            `\`${key}\` ${stamp} labels a period that starts in the future (now ${now.toISOString()}); use the current or an earlier period`,
        );
    }
}

/** The restart stamp of each scope: the latest of the stack file's, the request's and the last applied one. */
function planRestarts(
    settings: Settings,
    request: RotationRequest,
    last: RotationState | undefined,
    now: Date,
): Partial<Record<RestartScope, string>> {
    const out: Partial<Record<RestartScope, string>> = {};
    for (const scope of RESTART_SCOPES) {
        const requested = request.restartStamps[scope];
        const previous = last?.restarts[scope];
        if (requested !== undefined) {
            notInFuture(requested, request.label, now);
            if (previous !== undefined && compareStamps(requested, previous) <= 0) {
                throw new RotationInputError(
                    request.label,
                    `\`${request.label}\` restart stamp ${requested} for ${scope} is not later than the last one, ${previous}`,
                );
            }
        }
        const configured = settings.restartStamps[scope];
        if (configured !== undefined) {
            notInFuture(configured, `${NAMESPACE}:restartStamps.${scope}`, now);
        }
        let stamp = previous;
        for (const candidate of [configured, requested]) {
            if (candidate !== undefined) stamp = stamp === undefined ? candidate : laterStamp(stamp, candidate);
        }
        if (stamp !== undefined) out[scope] = stamp;
    }
    return out;
}

/**
 * The non-secret facts that determine a published value: which slot and generation, and how it is composed.
 * `current` is the slot the provider publishes as current.
 */
function valueFacts(settings: Settings, state: GroupState, current: Slot, source: ValueSource, group: Group): object {
    const slotFacts = (slot: Slot) => ({ slot, generation: slotKeeper(state, slot), length: GENERATION[group].length });
    if (source.kind === "credential") {
        const slot = source.slot === "current" ? current : otherSlot(current);
        return { ...slotFacts(slot), field: source.field };
    }
    if (source.kind === "role") {
        return { slot: current, role: settings.database.roles[current] };
    }
    return { ...slotFacts(current), endpoint: source.endpoint, compose: endpointConfig(settings, source.endpoint) };
}

function perProvider<T>(f: (p: Provider) => T): PerProvider<T> {
    return Object.fromEntries(PROVIDERS.map((p) => [p, f(p)])) as Record<Provider, T>;
}

/** The non-secret config a composed URL is made of (and nothing else, so unrelated settings restart nobody). */
function endpointConfig(settings: Settings, endpoint: Endpoint): object {
    if (endpoint === "redis") {
        return redisUrlParts(settings.redis);
    }
    const db = settings.database;
    return { scheme: db.scheme, ...databaseAddress(db, endpoint), name: db.name, roles: db.roles, params: db.params };
}

interface ConsumerSpec {
    readonly id: string;
    readonly provider: Provider;
    readonly name: string;
    readonly namespace?: string;
    readonly consumes: readonly Group[];
}

function consumerSpecs(settings: Settings): ConsumerSpec[] {
    const ecs = (settings.ecs?.services ?? []).map((s) => ({
        id: `ecs:${s.name}`,
        provider: "aws" as const,
        name: s.name,
        consumes: s.consumes ?? GROUPS,
    }));
    const k8s = (settings.kubernetes?.deployments ?? []).map((d) => ({
        id: `k8s:${d.namespace}/${d.name}`,
        provider: "k8s" as const,
        name: d.name,
        namespace: d.namespace,
        consumes: d.consumes ?? GROUPS,
    }));
    return [...ecs, ...k8s];
}

/** The restart stamps that apply to a consumer: everything's, its provider's, and those of groups it consumes. */
function restartBumps(
    stamps: Partial<Record<RestartScope, string>>,
    provider: Provider,
    consumes: readonly Group[],
): [RestartScope, string | undefined][] {
    const scopes: RestartScope[] = ["all", provider, ...consumes, ...consumes.map((g) => `${provider}/${g}` as const)];
    return scopes.map((scope) => [scope, stamps[scope]]);
}

/** A short, stable digest of non-secret facts. */
export function digest(facts: unknown): string {
    return createHash("sha256").update(stableJson(facts)).digest("hex").slice(0, 16);
}

function stableJson(value: unknown): string {
    if (Array.isArray(value)) {
        return `[${value.map(stableJson).join(",")}]`;
    }
    if (value !== null && typeof value === "object") {
        const entries = Object.entries(value as Record<string, unknown>)
            .filter(([, v]) => v !== undefined)
            .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
        return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(",")}}`;
    }
    return JSON.stringify(value ?? null);
}
