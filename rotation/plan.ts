/**
 * The rotation planner: from validated settings, what the last runs left, the clock and the request, the complete
 * non-secret blueprint of one run: every credential, applier run, store write, restart and the health gate, each
 * with the inputs its resource gets. rotation/program.ts only turns these entries into resources, rotation/steps.ts
 * only describes them, and the CLI only words what the planner refuses. Pure: no resources, no I/O.
 *
 * A published value is a *recipe* (a slot's credential field, a role name, URL parts plus a credential); its digest
 * is the secret's *version*, so the plan knows which stores are written and which consumers restart without seeing
 * a credential.
 */
import { createHash } from "node:crypto";
import { elasticacheOpenSessionsWarning } from "./elasticacheSessions";
import { CONTRACTS, FieldValue, HookContract, HookInput } from "../hooks/contracts";
import {
    ADOPTED_CREDENTIAL,
    ADOPTED_FALLBACK,
    ADOPTED_GENERATION,
    CredentialField,
    GENERATION,
    GROUPS,
    GROUP_SOURCES,
    Group,
    PROVIDERS,
    Provider,
    RESTART_SCOPES,
    RestartScope,
    SECRETS,
    SLOTS,
    SecretSpec,
    Slot,
    adoptedSecrets,
    otherSlot,
} from "./catalog";
import { adminSecretInputs } from "./adminCredentials";
import { PostgresUrlParts, RedisUrlParts } from "./connectionUrls";
import { Refusal, Source } from "./refusals";
import { NO_REQUEST, RotationRequest, isEmptyRequest } from "./request";
import { NAMESPACE, Settings } from "./settings";
import { GroupChange, GroupIntent, GroupTransition, isRefusal, publishedSlot, transitionGroup } from "./slots";
import { Attempt, GroupState, RotationState, STATE_VERSION, StoredState, pendingAttempt } from "./state";
import { compareStamps, laterStamp, onDemandStamp, parseStamp, scheduledStamp } from "./stamp";
import { postgresProofInputs } from "./postgresProofs";

/** Per provider: the same fact for what AWS (Secrets Manager + ECS) and Kubernetes are given. */
export type PerProvider<T> = Readonly<Record<Provider, T>>;

/** A part of one slot's credential. */
export interface CredentialRef {
    readonly group: Group;
    readonly slot: Slot;
    readonly field: CredentialField;
}

/** How one slot's credential comes to be. Its `generation` is the keeper: a new label replaces the credential. */
export type CredentialPlan =
    | {
          readonly kind: "random";
          readonly group: Group;
          readonly slot: Slot;
          /** Resource name, `<group>-slots-<slot>`. */
          readonly name: string;
          readonly generation: string;
          readonly length: number;
      }
    | {
          readonly kind: "cloudflareToken";
          readonly group: Group;
          readonly slot: Slot;
          readonly name: string;
          readonly generation: string;
          /** The token's name in Cloudflare; carries the generation, so a new generation replaces the token. */
          readonly tokenName: string;
          readonly accountId: string;
          /** Resource -> `*`, the R2 buckets the token may use. */
          readonly resources: Readonly<Record<string, string>>;
          readonly permissionGroupIds: readonly string[];
      }
    | {
          /**
           * The values in use before the stack's first deployment, read from the AWS versions named in `versions`
           * (secret name -> version id) by resources that import them, so the values live only in the engine's
           * encrypted state. Each credential field comes from one of those secrets (see ADOPTED_CREDENTIAL).
           */
          readonly kind: "adopted";
          readonly group: Group;
          readonly slot: Slot;
          readonly name: string;
          readonly generation: string;
          readonly versions: Readonly<Record<string, string>>;
          readonly fields: (typeof ADOPTED_CREDENTIAL)[Group];
          /**
           * R2: the legacy account token, imported under the slot's token resource (`<account_id>/<token_id>`), so the
           * slot's first regeneration replaces, and so revokes, it.
           */
          readonly legacyToken?: { readonly accountId: string; readonly tokenId: string };
      };

/** What a published value is made of. Secret parts are references to a slot's credential, never values. */
export type ValueRecipe =
    | { readonly kind: "credential"; readonly ref: CredentialRef }
    | { readonly kind: "text"; readonly value: string }
    | { readonly kind: "postgresUrl"; readonly parts: PostgresUrlParts; readonly password: CredentialRef }
    | { readonly kind: "redisUrl"; readonly parts: RedisUrlParts; readonly password: CredentialRef }
    /** The value in use before the first deployment, verbatim: the adopted slot's copy of one secret's AWS version. */
    | {
          readonly kind: "adopted";
          readonly group: Group;
          readonly slot: Slot;
          readonly secret: string;
          readonly versionId: string;
          /** The whole value, or the user of a URL (POSTGRES_USER where only DATABASE_URL existed: ADOPTED_FALLBACK). */
          readonly part: "value" | "urlUser";
      };

/** An applier hook's inputs in the plan: secret fields are credential references, the others plain values. */
export type PlanInputs<C extends HookContract> = {
    readonly [K in keyof C["fields"]]: C["fields"][K]["secret"] extends true
        ? CredentialRef
        : C["fields"][K]["optional"] extends true
          ? FieldValue<C, K> | undefined
          : FieldValue<C, K>;
};

/** The hooks that make a slot valid at its source. */
export type ApplierHook = "postgresApply" | "redisApply" | "elasticacheApply" | "typesenseApply" | "r2Probe";

/** One run of an applier hook (a `command.local.Command`). */
export interface ApplierRun {
    readonly hook: ApplierHook;
    readonly group: Group;
    /** Resource name, e.g. `database-apply-b`. */
    readonly name: string;
    /** Field -> plain value or credential reference (see {@link PlanInputs}). */
    readonly inputs: Readonly<Record<string, unknown>>;
    /** The run repeats when these change: the generations of the slots it applies. */
    readonly triggers: readonly string[];
    /** The slots this run applies that this run generates anew (empty: it only re-checks). */
    readonly regenerates: readonly Slot[];
}

export interface SecretPlan {
    readonly spec: SecretSpec;
    readonly awsSecretId: string;
    readonly k8sKey: string;
    /** The slot each provider publishes. */
    readonly slot: PerProvider<Slot>;
    /** What each provider publishes. */
    readonly recipe: PerProvider<ValueRecipe>;
    /** Digest of the recipe (and the credentials it refers to): changes exactly when the published value does. */
    readonly version: PerProvider<string>;
    /** Whether this run may write a new value to the provider's store. */
    readonly changed: PerProvider<boolean>;
    /**
     * The commit that writes the value each provider publishes: this run's when `changed`, else the one recorded. The
     * store write is replaced whenever it changes, even if the engine's record of the value is the same (a write an
     * unfinished run made that the engine never recorded is then written back).
     */
    readonly writeSerial: PerProvider<number>;
}

/** A Kubernetes Secret this run writes (one per namespace, every key). */
export interface KubernetesStorePlan {
    /**
     * Whether the Secret exists but was never written by this stack (an adopted environment in `create` mode): the
     * first write imports it instead of creating it, which would fail with "already exists".
     */
    readonly importExisting: boolean;
    readonly namespace: string;
    readonly secretName: string;
    readonly mode: "patch" | "create";
    /** Resource name, `k8s-<namespace>`. */
    readonly name: string;
    readonly changed: boolean;
    /** The latest commit that wrote one of its keys (see {@link SecretPlan.writeSerial}). */
    readonly writeSerial: number;
}

interface RestartBase {
    /** `ecs:<service>` or `k8s:<namespace>/<deployment>`. */
    readonly id: string;
    /** Component name, `ecs-<service>` or `k8s-<namespace>-<deployment>`. */
    readonly name: string;
    readonly consumes: readonly Group[];
    readonly secrets: readonly string[];
    /** Digest of what the consumer runs with, unique to the committed run that last changed it. */
    readonly trigger: string;
    readonly restarts: boolean;
    /** Why it restarts: changed secrets, bumped restart stamps. Empty when it does not. */
    readonly reasons: readonly string[];
}

/** A consumer to restart when what it consumes changes. */
export type RestartPlan =
    | (RestartBase & {
          readonly provider: "aws";
          readonly input: PlanInputs<typeof CONTRACTS.ecsRedeploy>;
      })
    | (RestartBase & {
          readonly provider: "k8s";
          readonly namespace: string;
          readonly deployment: string;
          readonly timeoutSeconds: number;
      });

export interface HealthPlan {
    readonly input: HookInput<typeof CONTRACTS.healthCheck>;
    readonly trigger: string;
    readonly runs: boolean;
}

export interface GroupPlan {
    readonly group: Group;
    readonly change: GroupChange;
    readonly last?: GroupState;
    readonly next: GroupState;
    /** Slots whose credential is new relative to the committed state (already generated when resuming). */
    readonly regenerate: readonly Slot[];
}

/** How this run relates to an unfinished earlier one. */
export type PlanMode =
    | { readonly kind: "normal" }
    /** Finish the unfinished run: the same target, nothing generated that it did not generate. */
    | { readonly kind: "resume"; readonly summary: string }
    /** Undo the unfinished run: back to the committed slots, keeping whatever it generated (never regenerating). */
    | { readonly kind: "abandon"; readonly summary: string }
    /**
     * The stack's first deployment in an environment in use: every group's slot `a` takes the values in use, slot
     * `b` is generated and made valid at its source; nothing is published and nothing restarts.
     */
    | { readonly kind: "adopt" };

export interface RotationPlan {
    readonly mode: PlanMode;
    readonly groups: Readonly<Record<Group, GroupPlan>>;
    readonly credentials: readonly CredentialPlan[];
    readonly appliers: readonly ApplierRun[];
    readonly secrets: readonly SecretPlan[];
    /** Whether this run writes the stores (false only when adopting: the values in use stay exactly as they are). */
    readonly publishes: boolean;
    readonly aws: { readonly region: string; readonly accountId?: string; readonly kmsKeyId?: string };
    readonly kubernetes?: {
        readonly context?: string;
        /**
         * Whether the provider updates a whole Secret in place (`secretMode: create`): without it, pulumi-kubernetes
         * replaces a Secret whose data changed, delete-before-replace since it is named, and the retained old Secret
         * makes the create fail with "already exists" (@pulumi/kubernetes provider.d.ts `enableSecretMutable`).
         */
        readonly secretMutable: boolean;
        readonly stores: readonly KubernetesStorePlan[];
    };
    readonly restarts: readonly RestartPlan[];
    readonly health: HealthPlan;
    /** The state this run commits once everything succeeded. */
    readonly nextState: RotationState;
    /** What this run records before its first change (undefined when it changes nothing). */
    readonly attempt?: Attempt;
    /** Non-fatal notes for the operator (never secret). */
    readonly warnings: readonly string[];
}

export type Planned = { readonly plan: RotationPlan; readonly refusal?: undefined } | { readonly refusal: Refusal; readonly plan?: undefined };

export interface PlanInput {
    readonly settings: Settings;
    readonly stored: StoredState;
    /** The clock: stamps may not label a period that has not started; on-demand stamps come from it. */
    readonly now: Date;
    readonly request?: RotationRequest;
    /** The stack's name (Cloudflare token names and Typesense key descriptions carry it). */
    readonly stack: string;
    /**
     * What an `adopt` run read (the program reads it before planning): the AWSCURRENT version id of every secret an
     * adopted slot holds. Absent where nothing was read (the CLI's offline checks): the plan then names no versions.
     */
    readonly adoption?: { readonly versions: Readonly<Record<string, string>> };
}

class Refused {
    constructor(readonly refusal: Refusal) {}
}

/**
 * Plans one run, or says why it must not run.
 *
 * The stack file's stamps are a floor: a group rotates when they are later than its last stamp, and a stack file
 * older than what a CLI run since deployed changes nothing. A request's stamps are strict. An unfinished earlier run
 * is resumed (a run without a request, or the same request again) or abandoned (a rollback of every group it moved);
 * anything else is refused until then.
 */
export function planRotation(input: PlanInput): Planned {
    try {
        return { plan: plan(input) };
    } catch (err) {
        if (err instanceof Refused) return { refusal: err.refusal };
        throw err;
    }
}

function plan({ settings, stored, now, request = NO_REQUEST, stack, adoption }: PlanInput): RotationPlan {
    const warnings: string[] = [];
    const committed = stored.committed;
    const pending = pendingAttempt(stored);
    const serial = committed?.serial ?? 0;
    const decided = decideMode(settings, committed, pending, request);
    // A stack without recorded state is adopted (the values in use become slot a) unless the run says that nothing
    // uses its secrets yet; anything else would replace every credential in use on first contact.
    if (decided.kind === "normal" && request.adopt !== undefined && committed !== undefined) {
        throw new Refused({ kind: "already-deployed", serial: committed.serial });
    }
    // (A rollback or retire there is refused by the group it names: there is nothing to roll back or retire.)
    const undoes = request.rollback !== undefined || request.retire !== undefined;
    if (decided.kind === "normal" && committed === undefined && !undoes && request.adopt === undefined && request.firstDeployment !== true && !settings.firstDeployment) {
        throw new Refused({ kind: "first-contact" });
    }
    const mode: PlanMode = decided.kind === "normal" && request.adopt !== undefined ? { kind: "adopt" } : decided;

    // The state every group moves to, and the restart stamps.
    let nextGroups: Record<Group, GroupState>;
    let changes: Record<Group, GroupChange>;
    let restartStamps: RotationState["restartStamps"];
    let resolved: RotationRequest = request;
    if (mode.kind === "resume") {
        const target = pending!.target;
        nextGroups = { ...target.groups };
        changes = Object.fromEntries(GROUPS.map((g) => [g, describeChange(committed?.groups[g], target.groups[g])])) as Record<Group, GroupChange>;
        restartStamps = target.restartStamps;
        resolved = pending!.request;
    } else if (mode.kind === "abandon") {
        const back = committed!;
        nextGroups = Object.fromEntries(GROUPS.map((g) => [g, { ...back.groups[g], generation: heldGenerations(back, pending!, g) }])) as Record<
            Group,
            GroupState
        >;
        changes = Object.fromEntries(GROUPS.map((g) => [g, moved(back.groups[g], pending!.target.groups[g]) ? "rollback" : "none"])) as Record<
            Group,
            GroupChange
        >;
        restartStamps = back.restartStamps;
    } else {
        const intents = groupIntents(settings, committed, request, now, warnings, adoption);
        resolved = intents.resolved;
        const label = `g${serial + 1}`;
        nextGroups = {} as Record<Group, GroupState>;
        changes = {} as Record<Group, GroupChange>;
        for (const g of GROUPS) {
            const t: GroupTransition | Refusal = transitionGroup(g, committed?.groups[g], intents.byGroup[g], label, now);
            if (isRefusal(t)) throw new Refused(t);
            nextGroups[g] = t.next;
            changes[g] = t.change;
        }
        restartStamps = planRestartStamps(settings, committed, request, now, (stamp) => (resolved = withRestartStamp(resolved, stamp)));
    }

    const groups = Object.fromEntries(
        GROUPS.map((g): [Group, GroupPlan] => {
            const last = committed?.groups[g];
            const next = nextGroups[g];
            const regenerate = SLOTS.filter((s) => next.generation[s] !== ADOPTED_GENERATION && (last === undefined || last.generation[s] !== next.generation[s]));
            return [g, { group: g, change: changes[g], last, next, regenerate }];
        }),
    ) as Record<Group, GroupPlan>;

    const credentials = GROUPS.flatMap((g) => SLOTS.map((s) => credentialPlan(settings, stack, g, s, nextGroups[g])));
    const credentialOf = (ref: CredentialRef) => credentials.find((c) => c.group === ref.group && c.slot === ref.slot)!;

    const abandoned = mode.kind === "abandon" ? pending!.target : undefined;
    const planned = SECRETS.map((spec): SecretPlan => {
        const next = nextGroups[spec.group];
        const slot = perProvider((p) => publishedSlot(next, p));
        const recipe = perProvider((p) => valueRecipe(settings, spec, next, slot[p]));
        const version = perProvider((p) => digest({ name: spec.name, recipe: recipe[p], credentials: refsOf(recipe[p]).map(credentialOf) }));
        const changed = perProvider(
            (p) =>
                mode.kind !== "adopt" &&
                (committed?.secrets[p][spec.name] !== version[p] || (abandoned !== undefined && abandoned.secrets[p][spec.name] !== version[p])),
        );
        return { spec, awsSecretId: `${settings.aws.secretPrefix}${spec.name}`, k8sKey: spec.name, slot, recipe, version, changed, writeSerial: perProvider(() => 0) };
    });
    const byName = new Map(planned.map((s) => [s.spec.name, s]));

    const anyGroupMoved = GROUPS.some((g) => changes[g] !== "none" || groups[g].regenerate.length > 0);
    const restartsNeeded = consumerSpecs(settings).map((c) => {
        const consumed = SECRETS.filter((s) => c.consumes.includes(s.group)).map((s) => byName.get(s.name)!);
        const bumps = restartBumps(restartStamps, c.provider, c.consumes);
        const lastTrigger = committed?.consumers[c.id];
        const changedSecrets = consumed.filter((s) => s.changed[c.provider]).map((s) => `${s.spec.name} changed`);
        const bumped = committed !== undefined && JSON.stringify(bumps) !== JSON.stringify(restartBumps(committed.restartStamps, c.provider, c.consumes));
        const undo = abandoned !== undefined && abandoned.consumers[c.id] !== lastTrigger;
        const reasons =
            mode.kind === "adopt"
                ? []
                : lastTrigger === undefined
                ? ["first deployment of this consumer"]
                : [...changedSecrets, ...(bumped ? ["a restart stamp was bumped"] : []), ...(undo ? ["undo the unfinished run's restart"] : [])];
        return { c, consumed, bumps, reasons };
    });
    const restartStampsMoved = JSON.stringify(restartStamps) !== JSON.stringify(committed?.restartStamps ?? {});
    const anything =
        anyGroupMoved ||
        restartStampsMoved ||
        planned.some((s) => PROVIDERS.some((p) => s.changed[p])) ||
        restartsNeeded.some((r) => r.reasons.length > 0);
    const nextSerial = mode.kind === "resume" ? pending!.target.serial : anything ? serial + 1 : serial;
    const secrets = planned.map((s): SecretPlan => ({
        ...s,
        writeSerial: perProvider((p) => (s.changed[p] ? nextSerial : (committed?.writes[p][s.spec.name] ?? 0))),
    }));

    const restarts = restartsNeeded.map(({ c, consumed, bumps, reasons }): RestartPlan => {
        const restarts = reasons.length > 0;
        // Unique to the committed run that restarts it, so no later run (a rollback included) repeats an earlier
        // trigger: hooks/ecsRedeploy.ts skips a service already tagged with its trigger, and Kubernetes rolls pods
        // only when the restartedAt annotation changes.
        // Adopting records a trigger for what each consumer runs with today, and restarts nobody.
        const trigger = restarts || mode.kind === "adopt"
            ? digest({ secrets: consumed.map((s) => [s.spec.name, s.version[c.provider]]), restart: bumps, serial: nextSerial })
            : committed!.consumers[c.id];
        const base = { id: c.id, name: c.name, consumes: c.consumes, secrets: consumed.map((s) => s.spec.name), trigger, restarts, reasons };
        if (c.provider === "aws") {
            const ecs = settings.ecs!;
            return {
                ...base,
                provider: "aws",
                input: {
                    region: settings.aws.region,
                    cluster: ecs.cluster,
                    service: c.resource,
                    trigger,
                    stableTimeoutSeconds: ecs.stableTimeoutSeconds,
                    pollSeconds: ecs.pollSeconds,
                    accountId: settings.aws.accountId,
                    // the `local` stack's AWS endpoint (moto); undefined elsewhere
                    endpoint: settings.aws.endpoint,
                },
            };
        }
        return {
            ...base,
            provider: "k8s",
            namespace: c.namespace!,
            deployment: c.resource,
            timeoutSeconds: settings.kubernetes!.rolloutTimeoutSeconds,
        };
    });

    const { urls, expectStatus, attempts, requiredSuccesses, initialBackoffSeconds, maxBackoffSeconds, timeoutSeconds } = settings.health;
    const healthInput = { urls, expectStatus, attempts, requiredSuccesses, initialBackoffSeconds, maxBackoffSeconds, timeoutSeconds };
    const healthTrigger = digest({ consumers: restarts.map((r) => [r.id, r.trigger]), health: healthInput });
    const health: HealthPlan = { input: healthInput, trigger: healthTrigger, runs: committed?.health !== healthTrigger };

    const k8s = settings.kubernetes;
    const k8sChanged = secrets.some((s) => s.changed.k8s);
    const kubernetes = k8s && {
        context: k8s.context,
        secretMutable: k8s.secretMode === "create",
        stores: (mode.kind === "adopt" ? [] : k8s.namespaces).map((namespace) => ({
            importExisting: k8s.secretMode === "create" && committed !== undefined && Object.values(committed.writes.k8s).every((w) => w === 0),
            namespace,
            secretName: k8s.secretName,
            mode: k8s.secretMode,
            name: `k8s-${namespace}`,
            changed: k8sChanged,
            writeSerial: Math.max(0, ...secrets.map((s) => s.writeSerial.k8s)),
        })),
    };

    const nextState: RotationState = {
        version: STATE_VERSION,
        serial: nextSerial,
        groups: nextGroups,
        secrets: perProvider((p) => Object.fromEntries(secrets.map((s) => [s.spec.name, s.version[p]]))),
        writes: perProvider((p) => Object.fromEntries(secrets.map((s) => [s.spec.name, s.writeSerial[p]]))),
        consumers: Object.fromEntries(restarts.map((r) => [r.id, r.trigger])),
        health: healthTrigger,
        restartStamps,
    };
    // Which slots' new credentials exist: none yet for a new run; for a resumed one, what the runs before it recorded.
    const generated = mode.kind === "resume" ? pending!.generated : {};
    const attempt: Attempt | undefined =
        nextSerial > serial
            ? { version: STATE_VERSION, from: serial, request: resolved, target: nextState, startedAt: now.toISOString(), ...(generated ? { generated } : {}) }
            : undefined;

    // revoke on ElastiCache: the applier cannot close the leaked password's open connections; say what to run.
    if (resolved.retire?.endSessions === true && groups.redis.change === "retire" && settings.redis.kind === "elasticache") {
        warnings.push(elasticacheOpenSessionsWarning(settings.redis.user));
    }
    return {
        mode,
        groups,
        credentials,
        appliers: GROUPS.flatMap((g) => applierRuns(settings, stack, g, groups[g], resolved.retire?.endSessions === true && groups[g].change === "retire")),
        secrets,
        publishes: mode.kind !== "adopt",
        aws: { region: settings.aws.region, accountId: settings.aws.accountId, kmsKeyId: settings.aws.kmsKeyId },
        kubernetes,
        // Adopting restarts nobody: the consumers' triggers are recorded in the state only.
        restarts: mode.kind === "adopt" ? [] : restarts,
        health,
        nextState,
        attempt,
        warnings,
    };
}

// ---------------------------------------------------------------------------------------------------------------
// Unfinished runs

/**
 * The generation each of a group's slots holds after an unfinished run, for its rollback: the run's new one where the
 * run generated it (kept, never regenerated: it may have been applied or published), the committed one where it did
 * not (so a rollback generates nothing: `JWT_SECRET_KEY_PREVIOUS` and `BUYWHERE_API_KEY_PREVIOUS` stay as they were).
 * Which slots the run generated is what it recorded as it created them (`Attempt.generated`); where it recorded
 * nothing, every slot it meant to regenerate counts as generated.
 */
function heldGenerations(back: RotationState, pending: Attempt, group: Group): GroupState["generation"] {
    const before = back.groups[group].generation;
    const meant = pending.target.groups[group].generation;
    const generated = (slot: Slot) => pending.generated === undefined || (pending.generated[group] ?? []).includes(slot);
    return { a: generated("a") ? meant.a : before.a, b: generated("b") ? meant.b : before.b };
}

/** Whether this run resumes or abandons an unfinished run, or neither (refused when one is pending). */
function decideMode(settings: Settings, committed: RotationState | undefined, pending: Attempt | undefined, request: RotationRequest): PlanMode {
    if (pending === undefined) return { kind: "normal" };
    const movedGroups = GROUPS.filter((g) => moved(committed?.groups[g], pending.target.groups[g]));
    const summary = summarise(committed, pending);
    // A rollback asked for in the request, or in the stack file by naming the unfinished rotation's stamp.
    const configRollback = GROUPS.filter((g) => settings.rollback[g] !== undefined && settings.rollback[g] === pending.target.groups[g].stamp && moved(committed?.groups[g], pending.target.groups[g]));
    const rollback = request.rollback?.groups ?? (isEmptyRequest(request) && configRollback.length > 0 ? configRollback : undefined);
    if (rollback !== undefined && committed !== undefined) {
        const missing = movedGroups.filter((g) => !rollback.includes(g));
        const extra = rollback.filter((g) => !movedGroups.includes(g));
        if (missing.length > 0 || extra.length > 0) {
            throw new Refused(missing.length > 0 ? { kind: "partial-abandon", missing, summary } : unfinished(movedGroups, summary, pending));
        }
        return { kind: "abandon", summary };
    }
    const floorsWithin = GROUPS.every((g) => {
        const target = pending.target.groups[g];
        return target === undefined || compareStamps(floorOf(settings, g).stamp, target.stamp) <= 0;
    });
    if ((isEmptyRequest(request) && floorsWithin) || sameAsk(request, pending.request)) {
        return { kind: "resume", summary };
    }
    throw new Refused(unfinished(movedGroups, summary, pending));
}

function unfinished(groups: readonly Group[], summary: string, pending: Attempt): Refusal {
    return { kind: "unfinished", groups: groups.length > 0 ? groups : [...GROUPS], summary, startedAt: pending.startedAt, undoable: pending.from > 0, request: pending.request };
}

/** True when the request asks again for what the unfinished run asked (a stamp left out means "the same"). */
function sameAsk(request: RotationRequest, asked: RotationRequest): boolean {
    const sameSet = (a: readonly string[] = [], b: readonly string[] = []) => a.length === b.length && a.every((x) => b.includes(x));
    const r = request.rotate;
    const a = asked.rotate;
    if (r !== undefined || a !== undefined) {
        if (r === undefined || a === undefined) return false;
        if (!sameSet(r.groups, a.groups) || r.provider !== a.provider || (r.stamp !== undefined && r.stamp !== a.stamp)) return false;
    }
    const rs = request.restart;
    const as = asked.restart;
    if (rs !== undefined || as !== undefined) {
        if (rs === undefined || as === undefined) return false;
        if (!sameSet(rs.scopes, as.scopes) || (rs.stamp !== undefined && rs.stamp !== as.stamp)) return false;
    }
    if (request.rollback !== undefined || asked.rollback !== undefined) {
        if (!sameSet(request.rollback?.groups, asked.rollback?.groups)) return false;
    }
    if (request.retire !== undefined || asked.retire !== undefined) {
        if (!sameSet(request.retire?.groups, asked.retire?.groups)) return false;
    }
    return (request.adopt !== undefined) === (asked.adopt !== undefined);
}

function moved(last: GroupState | undefined, target: GroupState): boolean {
    return last === undefined || JSON.stringify({ ...last, changedAt: "" }) !== JSON.stringify({ ...target, changedAt: "" });
}

function describeChange(last: GroupState | undefined, next: GroupState): GroupChange {
    if (last === undefined) return next.adopted !== undefined ? "adopt" : "initial";
    if (next.stamp !== last.stamp) return "rotate";
    if (next.active !== last.active) return "rollback";
    if (JSON.stringify(next.generation) !== JSON.stringify(last.generation)) return "retire";
    return JSON.stringify(next.held) !== JSON.stringify(last.held) ? "catch-up" : "none";
}

/** "rotate database to 2026-12-01T1630Z" (what an unfinished run was doing), for messages. */
function summarise(committed: RotationState | undefined, pending: Attempt): string {
    const parts = GROUPS.flatMap((g) => {
        const change = describeChange(committed?.groups[g], pending.target.groups[g]);
        const to = pending.target.groups[g];
        return change === "none" ? [] : [`${change} ${g}${change === "rotate" || change === "initial" ? ` to ${to.stamp}` : change === "adopt" ? ` at ${to.stamp}` : ""}`];
    });
    return parts.length > 0 ? parts.join(", ") : "restart consumers";
}

// ---------------------------------------------------------------------------------------------------------------
// What each group is asked to do

function floorOf(settings: Settings, group: Group): { stamp: string; key: string } {
    const override = settings.groupStamps[group];
    const stamp = laterStamp(settings.stamp, override);
    return { stamp, key: stamp === settings.stamp ? `${NAMESPACE}:stamp` : `${NAMESPACE}:groupStamps.${group}` };
}

function groupIntents(
    settings: Settings,
    committed: RotationState | undefined,
    request: RotationRequest,
    now: Date,
    warnings: string[],
    adoption: PlanInput["adoption"],
): { byGroup: Record<Group, GroupIntent>; resolved: RotationRequest } {
    const byGroup = {} as Record<Group, GroupIntent>;
    let resolved = request;
    const requestSource: Source = { kind: "request" };
    const rotate = request.rotate;
    let requestedStamp: string | undefined;
    if (rotate !== undefined) {
        requestedStamp = rotate.stamp ?? mintStamp(settings, committed, rotate.scheduled, now);
        resolved = { ...request, rotate: { ...rotate, stamp: requestedStamp } };
        notInFuture(requestedStamp, rotate.stamp !== undefined ? requestSource : requestSource, now);
    }
    for (const g of GROUPS) {
        const last = committed?.groups[g];
        const floor = floorOf(settings, g);
        const override = settings.groupStamps[g];
        if (override !== undefined && compareStamps(override, settings.stamp) < 0) {
            warnings.push(`\`${NAMESPACE}:groupStamps.${g}\` ${override} is older than \`${NAMESPACE}:stamp\` and has no effect`);
        }
        notInFuture(floor.stamp, { kind: "config", key: floor.key }, now);
        const hold = settings.hold[g] ?? [];
        const holdSource: Source = { kind: "config", key: `${NAMESPACE}:hold.${g}` };
        const configRollback = settings.rollback[g];

        if (request.adopt !== undefined && last === undefined) {
            const versions = Object.fromEntries(
                adoptedSecrets(g).flatMap((s) => (adoption?.versions[s.name] !== undefined ? [[s.name, adoption.versions[s.name]] as const] : [])),
            );
            byGroup[g] = { kind: "adopt", stamp: floor.stamp, versions };
        } else if (rotate !== undefined && rotate.groups.includes(g)) {
            const provider = rotate.provider;
            if (provider !== undefined && last?.held[provider] !== undefined) {
                byGroup[g] = { kind: "release", provider, source: requestSource };
                continue;
            }
            if (compareStamps(requestedStamp!, floor.stamp) < 0) {
                throw new Refused({ kind: "below-floor", group: g, stamp: requestedStamp!, floor: floor.stamp, floorKey: floor.key });
            }
            const otherProviders = provider === undefined ? [] : PROVIDERS.filter((p) => p !== provider);
            byGroup[g] = { kind: "rotate", stamp: requestedStamp!, source: requestSource, hold: otherProviders, holdSource: requestSource, minInterval: settings.minInterval[g] };
        } else if (request.rollback?.groups.includes(g)) {
            byGroup[g] = { kind: "rollback", source: requestSource };
        } else if (request.retire?.groups.includes(g)) {
            byGroup[g] = { kind: "retire", source: requestSource };
        } else if (configRollback !== undefined) {
            const key = `${NAMESPACE}:rollback.${g}`;
            if (last === undefined) throw new Refused({ kind: "nothing-to-roll-back", group: g, reason: "never-deployed", source: { kind: "config", key } });
            if (configRollback !== last.stamp) throw new Refused({ kind: "rollback-stamp", group: g, named: configRollback, current: last.stamp, key });
            byGroup[g] = { kind: "rollback", source: { kind: "config", key } };
        } else if (last === undefined || compareStamps(floor.stamp, last.stamp) > 0) {
            byGroup[g] = { kind: "rotate", minInterval: settings.minInterval[g], stamp: floor.stamp, source: { kind: "config", key: floor.key }, hold, holdSource };
        } else {
            byGroup[g] = { kind: "keep", hold, holdSource };
        }
    }
    return { byGroup, resolved };
}

/** The stamp of a rotation asked for without one: this period's scheduled stamp when it is new, else on-demand. */
function mintStamp(settings: Settings, committed: RotationState | undefined, scheduled: boolean, now: Date): string {
    if (scheduled) {
        const stamp = scheduledStamp(now, "monthly");
        const newest = [settings.stamp, ...GROUPS.map((g) => committed?.groups[g].stamp ?? settings.stamp)];
        if (newest.every((s) => compareStamps(stamp, s) > 0)) return stamp;
    }
    return onDemandStamp(now);
}

function notInFuture(stamp: string, source: Source, now: Date): void {
    if (parseStamp(stamp, "stamp").start.getTime() > now.getTime()) {
        throw new Refused({ kind: "stamp-in-future", stamp, now: now.toISOString(), source });
    }
}

function withRestartStamp(request: RotationRequest, stamp: string): RotationRequest {
    return request.restart === undefined ? request : { ...request, restart: { ...request.restart, stamp } };
}

/** The restart stamp of each scope: the latest of the stack file's, the request's and the last applied one. */
function planRestartStamps(
    settings: Settings,
    committed: RotationState | undefined,
    request: RotationRequest,
    now: Date,
    resolve: (stamp: string) => void,
): Partial<Record<RestartScope, string>> {
    const out: Partial<Record<RestartScope, string>> = {};
    const asked = request.restart;
    const stamp = asked === undefined ? undefined : (asked.stamp ?? onDemandStamp(now));
    if (asked !== undefined && stamp !== undefined) {
        notInFuture(stamp, { kind: "request" }, now);
        resolve(stamp);
    }
    for (const scope of RESTART_SCOPES) {
        const previous = committed?.restartStamps[scope];
        const requested = asked?.scopes.includes(scope) ? stamp : undefined;
        if (requested !== undefined && previous !== undefined && compareStamps(requested, previous) <= 0) {
            const nextAllowed = asked!.stamp === undefined ? nextMinute(previous) : undefined;
            throw new Refused({ kind: "restart-not-later", scope, stamp: requested, last: previous, nextAllowed });
        }
        const configured = settings.restartStamps[scope];
        if (configured !== undefined) notInFuture(configured, { kind: "config", key: `${NAMESPACE}:restartStamps.${scope}` }, now);
        let latest = previous;
        for (const candidate of [configured, requested]) {
            if (candidate !== undefined) latest = latest === undefined ? candidate : laterStamp(latest, candidate);
        }
        if (latest !== undefined) out[scope] = latest;
    }
    return out;
}

/** The first on-demand stamp later than `stamp`. */
function nextMinute(stamp: string): string {
    return onDemandStamp(new Date(parseStamp(stamp, "stamp").start.getTime() + 60_000));
}

// ---------------------------------------------------------------------------------------------------------------
// Blueprint entries

function credentialPlan(settings: Settings, stack: string, group: Group, slot: Slot, state: GroupState): CredentialPlan {
    const name = `${group}-slots-${slot}`;
    const generation = state.generation[slot];
    if (generation === ADOPTED_GENERATION) {
        const legacyToken =
            GROUP_SOURCES[group].credential === "cloudflareToken" && settings.r2.legacyTokenId !== undefined
                ? { accountId: settings.r2.accountId, tokenId: settings.r2.legacyTokenId }
                : undefined;
        return {
            kind: "adopted",
            group,
            slot,
            name,
            generation,
            versions: state.adopted?.slot === slot ? state.adopted.versions : {},
            fields: ADOPTED_CREDENTIAL[group],
            ...(legacyToken ? { legacyToken } : {}),
        };
    }
    if (GROUP_SOURCES[group].credential === "cloudflareToken") {
        const r2 = settings.r2;
        return {
            kind: "cloudflareToken",
            group,
            slot,
            name,
            generation,
            tokenName: `buywhere-r2-${stack}-${slot}-${generation}`,
            accountId: r2.accountId,
            // cloudflare/cloudflare-docs src/content/docs/r2/api/tokens.mdx: bucket resources are
            // `com.cloudflare.edge.r2.bucket.<ACCOUNT_ID>_<JURISDICTION>_<BUCKET>`, `default` outside a jurisdiction.
            resources: Object.fromEntries(r2.buckets.map((b) => [`com.cloudflare.edge.r2.bucket.${r2.accountId}_default_${b}`, "*"])),
            permissionGroupIds: r2.permissionGroupIds,
        };
    }
    return { kind: "random", group, slot, name, generation, length: GENERATION[group].length };
}

/** What a provider publishes for one secret when `current` is the slot it publishes as current. */
function valueRecipe(settings: Settings, spec: SecretSpec, state: GroupState, current: Slot): ValueRecipe {
    const { group, source } = spec;
    const ref = (slot: Slot, field: CredentialField = "secret"): CredentialRef => ({ group, slot, field });
    // An adopted slot publishes the values in use verbatim: a role name or URL composed from the stack file could
    // differ from them (another user, host or parameters).
    if ((source.kind === "role" || source.kind === "url") && state.generation[current] === ADOPTED_GENERATION) {
        const versions = state.adopted?.versions ?? {};
        const fallback = ADOPTED_FALLBACK[spec.name];
        if (versions[spec.name] === undefined && fallback !== undefined) {
            return { kind: "adopted", group, slot: current, secret: fallback.secret, versionId: versions[fallback.secret] ?? "", part: fallback.part };
        }
        return { kind: "adopted", group, slot: current, secret: spec.name, versionId: versions[spec.name] ?? "", part: "value" };
    }
    switch (source.kind) {
        case "credential":
            return { kind: "credential", ref: ref(source.slot === "current" ? current : otherSlot(current), source.field) };
        case "role":
            return { kind: "text", value: settings.database.roles[current] };
        case "keyId": {
            const slot = source.slot === "current" ? current : otherSlot(current);
            return { kind: "text", value: `${group}-${slot}-${state.generation[slot]}` };
        }
        case "url": {
            if (source.endpoint === "redis") {
                const r = settings.redis;
                return { kind: "redisUrl", parts: { tls: r.tls, user: r.user, host: r.host, port: r.port, db: r.db }, password: ref(current) };
            }
            const db = settings.database;
            const address =
                source.endpoint === "primary"
                    ? { host: db.host, port: db.port }
                    : source.endpoint === "replica"
                      ? { host: db.replicaHost, port: db.port }
                      : { host: db.pgbouncerHost, port: db.pgbouncerPort };
            return {
                kind: "postgresUrl",
                parts: { scheme: db.scheme, user: db.roles[current], ...address, database: db.name, params: db.params },
                password: ref(current),
            };
        }
    }
}

/** The credential references a recipe uses. */
export function refsOf(recipe: ValueRecipe): CredentialRef[] {
    switch (recipe.kind) {
        case "credential":
            return [recipe.ref];
        case "text":
        case "adopted":
            return [];
        case "postgresUrl":
        case "redisUrl":
            return [recipe.password];
    }
}

function applierRun<H extends ApplierHook>(
    hook: H,
    group: Group,
    name: string,
    inputs: PlanInputs<(typeof CONTRACTS)[H]>,
    triggers: readonly string[],
    regenerates: readonly Slot[],
): ApplierRun {
    return { hook, group, name, inputs, triggers, regenerates };
}

/**
 * The applier runs that make a group's slots valid at their source (none for groups without one). `endSessions`: the
 * run retires a leaked slot, so its applier also ends the sessions still open with the old credential.
 */
function applierRuns(settings: Settings, stack: string, group: Group, g: GroupPlan, endSessions: boolean): ApplierRun[] {
    const generation = g.next.generation;
    const secret = (slot: Slot): CredentialRef => ({ group, slot, field: "secret" });
    const regenerated = (...slots: Slot[]) => slots.filter((s) => g.regenerate.includes(s));
    // This run regenerates the slot that held the values in use before `adopt`: their retirement at the source.
    const retiresAdopted = (slot: Slot) => g.last?.adopted?.slot === slot && generation[slot] !== ADOPTED_GENERATION;
    const source = GROUP_SOURCES[group].source;
    switch (source) {
        case "postgres":
            // An adopted slot's login (the legacy application user) is left exactly as it is.
            return SLOTS.filter((slot) => generation[slot] !== ADOPTED_GENERATION).map((slot) =>
                applierRun(
                    "postgresApply",
                    group,
                    `${group}-apply-${slot}`,
                    {
                        role: settings.database.roles[slot],
                        password: secret(slot),
                        endSessions: endSessions && g.regenerate.includes(slot) ? true : undefined,
                        retireLogin: retiresAdopted(slot) && settings.database.retireLegacyLogin ? settings.database.legacyUser : undefined,
                        ...adminSecretInputs(settings, "database"),
                        ...postgresProofInputs(settings), // replica, PgBouncer auth_file, canary (rotation/postgresProofs.ts)
                    },
                    [generation[slot]],
                    regenerated(slot),
                ),
            );
        case "redisAcl":
            // issue 11: an ElastiCache RBAC user's passwords are set through the API (hooks/elasticacheApply.ts).
            if (settings.redis.kind === "elasticache") return [elasticacheRun(settings, group, g, endSessions)];
            return [
                applierRun(
                    "redisApply",
                    group,
                    `${group}-apply-acl`,
                    {
                        user: settings.redis.user,
                        passwordA: secret("a"),
                        passwordB: secret("b"),
                        endSessions: endSessions ? true : undefined,
                        ...adminSecretInputs(settings, "redis"),
                    },
                    [generation.a, generation.b],
                    regenerated("a", "b"),
                ),
            ];
        case "typesenseKeys": {
            const ts = settings.typesense;
            // An adopted slot's key (the legacy key) is kept as it is until the slot is regenerated.
            return SLOTS.filter((slot) => generation[slot] !== ADOPTED_GENERATION).map((slot) =>
                applierRun(
                    "typesenseApply",
                    group,
                    `${group}-apply-${slot}`,
                    {
                        url: ts.url,
                        adminSecretArn: settings.adminSecrets.typesense,
                        stack,
                        slot,
                        stamp: generation[slot],
                        value: secret(slot),
                        actions: ts.actions,
                        collections: ts.collections,
                        proofTimeoutSeconds: ts.proofTimeoutSeconds,
                        retireKeyId: retiresAdopted(slot) ? ts.legacyKeyId : undefined,
                    },
                    [generation[slot]],
                    regenerated(slot),
                ),
            );
        }
        case "cloudflare": {
            // Cloudflare issues the token (components/credentialSlots.ts); this run proves it with an S3 request on
            // every bucket before any store is written (hooks/r2Probe.ts). Write access is proven where granted.
            const r2 = settings.r2;
            // An adopted slot's token (the legacy one) is in use already: nothing to prove before publishing it.
            return SLOTS.filter((slot) => generation[slot] !== ADOPTED_GENERATION).map((slot) =>
                applierRun(
                    "r2Probe",
                    group,
                    `${group}-apply-${slot}`,
                    {
                        accountId: r2.accountId,
                        endpoint: r2.endpoint,
                        slot,
                        buckets: r2.buckets,
                        write: r2.permissionGroupIds.includes(R2_ITEM_WRITE),
                        accessKeyId: { group, slot, field: "accessKeyId" },
                        secretAccessKey: { group, slot, field: "secretAccessKey" },
                        timeoutSeconds: r2.probeTimeoutSeconds,
                    },
                    [generation[slot]],
                    regenerated(slot),
                ),
            );
        }
        case "none":
            return [];
    }
}

/** Cloudflare's "Workers R2 Storage Bucket Item Write" permission group (rotation/settings.ts `R2_PERMISSION_GROUPS`). */
const R2_ITEM_WRITE = "2efd5506f9c8494dacb1fa10a3e7d5b6";

/** The redis group's one applier run on ElastiCache: ModifyUser with both slots' passwords, then the AUTH proof. */
function elasticacheRun(settings: Settings, group: Group, g: GroupPlan, endSessions: boolean): ApplierRun {
    const r = settings.redis;
    return applierRun(
        "elasticacheApply",
        group,
        `${group}-apply-elasticache`,
        {
            region: settings.aws.region,
            userId: r.userId!, // required with kind elasticache (rotation/settings.ts)
            user: r.user,
            endpoint: `${r.tls ? "rediss" : "redis"}://${r.host}:${r.port}`,
            passwordA: { group, slot: "a", field: "secret" },
            passwordB: { group, slot: "b", field: "secret" },
            modifyTimeoutSeconds: r.modifyTimeoutSeconds,
            pollSeconds: r.pollSeconds,
            endSessions: endSessions ? true : undefined,
        },
        [g.next.generation.a, g.next.generation.b],
        g.regenerate.filter((s) => s === "a" || s === "b"),
    );
}

interface ConsumerSpec {
    readonly id: string;
    readonly name: string;
    readonly provider: Provider;
    /** The ECS service or Deployment name. */
    readonly resource: string;
    readonly namespace?: string;
    readonly consumes: readonly Group[];
}

function consumerSpecs(settings: Settings): ConsumerSpec[] {
    const ecs = (settings.ecs?.services ?? []).map((s) => ({
        id: `ecs:${s.name}`,
        name: `ecs-${s.name}`,
        provider: "aws" as const,
        resource: s.name,
        consumes: s.consumes ?? GROUPS,
    }));
    const k8s = (settings.kubernetes?.deployments ?? []).map((d) => ({
        id: `k8s:${d.namespace}/${d.name}`,
        name: `k8s-${d.namespace}-${d.name}`,
        provider: "k8s" as const,
        resource: d.name,
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

function perProvider<T>(f: (p: Provider) => T): PerProvider<T> {
    return Object.fromEntries(PROVIDERS.map((p) => [p, f(p)])) as Record<Provider, T>;
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
