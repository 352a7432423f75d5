/**
 * ENGINE EMULATOR (tests only; it is not Pulumi): one `pulumi up` or `pulumi preview` of a stack.
 *
 * It is the resource monitor the Node SDK talks to (the same RPC surface as `@pulumi/pulumi`
 * `runtime/mocks.js` MockMonitor, installed with `runtime/settings` setMockOptions), and behind it the parts of
 * the engine (pulumi/pulumi `pkg/resource/deploy`) a test needs:
 *
 * - Steps: each registration is diffed against the previous checkpoint into same / create / update / replace
 *   (`step_generator.go`: provider Diff, then `applyReplaceOnChanges`; init errors force an update; a protected
 *   resource cannot be replaced), and applied through the emulated provider (providers.ts). Unchanged resources
 *   keep their old id and outputs (`step.go` SameStep.Apply: "Retain the ID and outputs").
 * - Order: a step starts only after every resource it depends on (dependencies, property dependencies and its
 *   provider, as listed in the RegisterResource request) finished successfully. (The SDK already sends a
 *   registration only once those URNs resolved, i.e. once their registrations were answered; this is a guard.)
 * - Replacements are create-before-delete unless deleteBeforeReplace (the resource option, else the provider's
 *   answer); old halves and resources no longer registered are deleted at the end of a successful update, dependents
 *   first (`deployment_executor.go` performPostSteps), skipping the provider for retainOnDelete (`step.go`
 *   DeleteStep.Apply) and failing for protect (deleteProtectedError).
 * - Failure (`step_executor.go` executeChain -> cancelDueToError -> cancel): operations in flight finish, nothing
 *   that has not started starts, no deletes run, every pending and later RPC is answered UNAVAILABLE ("resource
 *   monitor shut down ...", `source_eval.go`), so the SDK stops (`runtime/resource.js`: terminateRpcs).
 * - Stack outputs (`step_executor.go` executeRegisterResourceOutputs, PR #15754; `deployment_executor.go`
 *   Execute): the root stack's RegisterResourceOutputs is held until the end; on success the outputs are exactly
 *   what was sent; on failure `outs = oldOuts.Copy(); maps.Copy(outs, sent)`; if nothing was sent before the
 *   update stopped (the engine stops reading program events when it cancels), the old outputs stay.
 * - State: every step that completed is recorded, and resources that did not run keep their old entries (the
 *   snapshot is updated step by step, `pkg/backend/snapshot.go`).
 */
import * as pulumi from "@pulumi/pulumi";
import * as resproto from "@pulumi/pulumi/proto/resource_pb";
import * as provproto from "@pulumi/pulumi/proto/provider_pb";
import * as settings from "@pulumi/pulumi/runtime/settings";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import { randomUUID } from "node:crypto";
import { ChangeSummary, ROOT_STACK_TYPE, ResourceState } from "./backend";
import { EmulatedProvider, ProviderError, ProviderHost, ProviderRequest, invokeFor, providerFor } from "./providers";
import { Wire, WireMap, compact, containsSecret, makeSecret, plain, sameValue } from "./wire";

/** gRPC status UNAVAILABLE: what the engine's resource monitor answers once it shuts down. */
const UNAVAILABLE = 14;

/**
 * Where to inject a failure: a URN or a resource name. `after: true` performs the provider operation first and
 * then fails (as a provider whose follow-up read fails would): the side effect happened, the state does not know.
 */
export type FailSpec = string | { readonly resource: string; readonly after?: boolean; readonly message?: string };

export type StepOp = "same" | "create" | "update" | "replace" | "delete" | "read" | "import";

/** A provider operation, as it completed (or failed). */
export interface Operation {
    readonly urn: string;
    readonly type: string;
    readonly name: string;
    readonly op: "create" | "update" | "replace" | "delete" | "delete-replaced" | "read" | "import";
    readonly ms: number;
    /** When it started and ended, in ms since the update started. */
    readonly start: number;
    readonly end: number;
    readonly failed?: boolean;
}

export interface StepRecord {
    readonly urn: string;
    readonly type: string;
    readonly name: string;
    readonly op: StepOp | "delete-replaced";
}

export interface UpdateSettings {
    readonly project: string;
    readonly stack: string;
    readonly dryRun: boolean;
    readonly old: readonly ResourceState[];
    /** Stack config (`<namespace>:<key>` -> string): default providers read theirs from it. */
    readonly config: Readonly<Record<string, string>>;
    readonly host: ProviderHost;
    readonly failAt: readonly FailSpec[];
    /** Cancel (like one Ctrl-C) once this many provider operations completed. */
    readonly interruptAfter?: number;
    /** Steps applied at once (`pulumi up --parallel`). */
    readonly parallel: number;
    /** The recorded outputs of a stack (wire form), for StackReference reads. */
    readStackOutputs(name: string): WireMap;
}

interface Goal {
    readonly urn: string;
    readonly type: string;
    readonly name: string;
    readonly parent?: string;
    readonly custom: boolean;
    readonly inputs: WireMap;
    readonly dependencies: string[];
    readonly propertyDependencies: Record<string, string[]>;
    readonly provider?: string;
    readonly protect: boolean;
    readonly retainOnDelete: boolean;
    readonly deleteBeforeReplace?: boolean;
    readonly ignoreChanges: string[];
    readonly replaceOnChanges: string[];
    /** The `replacementTrigger` option (plain; null when unset). */
    readonly replacementTrigger: unknown;
    readonly additionalSecretOutputs: string[];
    readonly importId: string;
    readonly customTimeouts: { create?: string; update?: string; delete?: string };
    readonly aliases: readonly AliasSpec[];
}

/** A replacement trigger as the engine compares it: secrets and outputs unwrapped; null when unset. */
function plainTrigger(value: unknown): unknown {
    return value === undefined || value === null ? null : plain(value as Wire);
}

/** An alias as the SDK sends it (`proto/alias.proto`): a URN, or parts that default to the resource's own. */
type AliasSpec =
    | { readonly urn: string }
    | { readonly name?: string; readonly type?: string; readonly stack?: string; readonly project?: string; readonly parentUrn?: string; readonly noParent?: boolean };

type Callback = (err: Error | null, resp?: unknown) => void;

class InjectedFailure extends Error {}

/** A step that never started because the update stopped while it waited for a worker. */
class NotStarted extends Error {}

function shutDown(message: string): Error {
    return Object.assign(new Error(message), { code: UNAVAILABLE });
}

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
    let resolve!: (v: T) => void;
    const promise = new Promise<T>((r) => (resolve = r));
    return { promise, resolve };
}

/** Plain JS (for google.protobuf.Struct): drops `undefined` deeply. */
function structSafe(value: unknown): any {
    if (Array.isArray(value)) return value.map((v) => (v === undefined ? null : structSafe(v)));
    if (value && typeof value === "object") {
        return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => [k, structSafe(v)]));
    }
    return value;
}

function getPath(obj: any, path: string): unknown {
    return path.split(".").reduce((node, part) => (node && typeof node === "object" ? node[part] : undefined), obj);
}

/**
 * pulumi/pulumi `sdk/go/common/resource/urn/urn.go` New: the parent's qualified type prefixes the type, except for
 * the root stack.
 */
function urnFor(stack: string, project: string, parent: string, type: string, name: string): string {
    let qualified = type;
    if (parent) {
        const parentType = parent.split("::")[2];
        if (parentType !== ROOT_STACK_TYPE) qualified = `${parentType}$${type}`;
    }
    return `urn:pulumi:${stack}::${project}::${qualified}::${name}`;
}

function urnName(urn: string): string {
    return urn.split("::").slice(3).join("::");
}

function providerUrn(ref: string | undefined): string | undefined {
    return ref ? ref.slice(0, ref.lastIndexOf("::")) : undefined;
}

export const ZERO_CHANGES: ChangeSummary = { create: 0, update: 0, replace: 0, delete: 0, same: 0, read: 0, import: 0 };

export class EmulatedUpdate {
    private readonly olds = new Map<string, ResourceState>();
    private readonly news = new Map<string, ResourceState>();
    /** Old halves of replacements this update completed (create-before-delete). */
    private readonly replacedOlds: ResourceState[] = [];
    /** Old entries already gone (deleted before their replacement was created). */
    private readonly removed = new Set<ResourceState>();
    private readonly deleted = new Set<ResourceState>();
    private readonly registrations = new Map<string, Promise<boolean>>();
    /** New URN -> the old URN it took over through an alias. */
    private readonly aliased = new Map<string, string>();
    /** Old URNs taken over through an alias (neither deleted nor kept under their old URN). */
    private readonly claimed = new Set<string>();
    private readonly inflight = new Set<Promise<unknown>>();
    private readonly stop = deferred<void>();
    private stopReason?: "failed" | "cancelled";
    private closed = false;
    private completedOps = 0;
    private readonly failAtUsed = new Set<string>();
    /** What the SDK sent as the root stack's outputs before the update stopped (the last event wins). */
    sentStackOutputs?: WireMap;

    readonly errors: { urn?: string; message: string }[] = [];
    readonly operations: Operation[] = [];
    private readonly t0 = Date.now();
    private busy = 0;
    private readonly waiting: (() => void)[] = [];
    readonly steps: StepRecord[] = [];
    readonly changes: ChangeSummary = { ...ZERO_CHANGES };

    constructor(private readonly s: UpdateSettings) {
        for (const r of s.old) if (!r.delete) this.olds.set(r.urn, r);
    }

    get result(): "succeeded" | "failed" | "cancelled" {
        return this.errors.length > 0 ? "failed" : this.stopReason === "cancelled" ? "cancelled" : "succeeded";
    }

    /**
     * Cancels the update as one Ctrl-C to `pulumi up` does (pulumi/pulumi pkg/backend/cancellation_scope.go: the first
     * SIGINT cancels): operations in flight finish, nothing that has not started starts. No-op once it stopped.
     */
    cancel(): void {
        if (this.stopReason || this.closed) return;
        this.stopReason = "cancelled";
        this.stop.resolve();
    }

    /** failAt specs that matched no operation (a test's injection that never fired). */
    get unusedFailAt(): string[] {
        return this.s.failAt.map((f) => (typeof f === "string" ? f : f.resource)).filter((r) => !this.failAtUsed.has(r));
    }

    /* ---------------------------------------------------------------------------------------------------- */
    /* the resource monitor                                                                                  */
    /* ---------------------------------------------------------------------------------------------------- */

    /** The object the SDK calls (`settings.setMockOptions(monitor, ...)`). */
    readonly monitor = {
        registerResource: (req: resproto.RegisterResourceRequest, cb: Callback) => this.onRegisterResource(req, cb),
        readResource: (req: resproto.ReadResourceRequest, cb: Callback) => this.onReadResource(req, cb),
        registerResourceOutputs: (req: resproto.RegisterResourceOutputsRequest, cb: Callback) => this.onRegisterResourceOutputs(req, cb),
        invoke: (req: resproto.ResourceInvokeRequest, cb: Callback) => this.onInvoke(req, cb),
        call: (_req: unknown, cb: Callback) => cb(new Error("the engine emulator does not emulate component method calls")),
        // Mirrors MockMonitor: no output values (inputs arrive as plain values); no callbacks (transforms, hooks);
        // deletedWith/replaceWith unsupported, so the SDK refuses them instead of the emulator ignoring them.
        supportsFeature: (req: resproto.SupportsFeatureRequest, cb: Callback) => {
            const supported = ["secrets", "resourceReferences", "aliasSpecs", "parameterization"].includes(req.getId());
            cb(null, { getHassupport: () => supported });
        },
        registerPackage: (_req: unknown, cb: Callback) => {
            const resp = new resproto.RegisterPackageResponse();
            resp.setRef(randomUUID());
            cb(null, resp);
        },
        close: () => undefined,
    };

    private urnOf(parent: string, type: string, name: string): string {
        return urnFor(this.s.stack, this.s.project, parent, type, name);
    }

    private goalOf(req: resproto.RegisterResourceRequest): Goal {
        const aliases: AliasSpec[] = [
            ...req.getAliasurnsList().map((urn) => ({ urn })),
            ...req.getAliasesList().map((a): AliasSpec => {
                const spec = a.getSpec();
                if (!spec) return { urn: a.getUrn() };
                return {
                    name: spec.getName() || undefined,
                    type: spec.getType() || undefined,
                    stack: spec.getStack() || undefined,
                    project: spec.getProject() || undefined,
                    parentUrn: spec.getParenturn() || undefined,
                    noParent: spec.getNoparent(),
                };
            }),
        ];
        const propertyDependencies: Record<string, string[]> = {};
        req.getPropertydependenciesMap().forEach((v: any, k: string) => (propertyDependencies[k] = v.getUrnsList()));
        const timeouts = req.getCustomtimeouts();
        return {
            urn: this.urnOf(req.getParent(), req.getType(), req.getName()),
            type: req.getType(),
            name: req.getName(),
            parent: req.getParent() || undefined,
            custom: req.getCustom(),
            inputs: compact((req.getObject()?.toJavaScript() ?? {}) as WireMap),
            dependencies: req.getDependenciesList(),
            propertyDependencies,
            provider: req.getProvider() || undefined,
            protect: req.getProtect() ?? false,
            retainOnDelete: req.getRetainondelete() ?? false,
            deleteBeforeReplace: req.getDeletebeforereplacedefined() ? req.getDeletebeforereplace() : undefined,
            ignoreChanges: req.getIgnorechangesList(),
            replaceOnChanges: req.getReplaceonchangesList(),
            replacementTrigger: plainTrigger(req.getReplacementTrigger?.()?.toJavaScript()),
            additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
            importId: req.getImportid(),
            customTimeouts: { create: timeouts?.getCreate() || undefined, update: timeouts?.getUpdate() || undefined, delete: timeouts?.getDelete() || undefined },
            aliases,
        };
    }

    /** `step_generator.go` collapseAliasToUrn. */
    private collapseAlias(goal: Goal, alias: AliasSpec): string {
        if ("urn" in alias) return alias.urn;
        let parent = alias.parentUrn ?? goal.parent ?? "";
        if (alias.parentUrn && this.aliased.has(alias.parentUrn)) parent = this.aliased.get(alias.parentUrn)!;
        if (alias.noParent || (parent && parent.split("::")[2] === ROOT_STACK_TYPE)) parent = "";
        return urnFor(alias.stack ?? this.s.stack, alias.project ?? this.s.project, parent, alias.type ?? goal.type, alias.name ?? goal.name);
    }

    /**
     * The old resource a registration takes over: by its URN, else by its aliases and those inherited from an
     * aliased parent (`step_generator.go` generateAliases, inheritedChildAlias, getOldResource).
     */
    private oldOf(goal: Goal): ResourceState | undefined {
        const own = this.olds.get(goal.urn);
        if (own) return own;
        const candidates = goal.aliases.map((a) => this.collapseAlias(goal, a));
        const parentAlias = goal.parent ? this.aliased.get(goal.parent) : undefined;
        if (goal.parent && parentAlias) {
            const inherit = (type: string, name: string) => {
                const parentName = urnName(goal.parent!);
                const aliasName = name.startsWith(parentName) ? urnName(parentAlias) + name.slice(parentName.length) : name;
                return urnFor(this.s.stack, this.s.project, parentAlias, type, aliasName);
            };
            candidates.push(inherit(goal.type, goal.name));
            for (const c of [...candidates]) candidates.push(inherit(c.split("::")[2].split("$").pop()!, urnName(c)));
        }
        for (const urn of candidates) {
            const old = this.olds.get(urn);
            if (old && !this.registrations.has(urn) && !this.claimed.has(urn)) {
                this.claimed.add(urn);
                this.aliased.set(goal.urn, urn);
                return old;
            }
        }
        return undefined;
    }

    private track<T>(p: Promise<T>): Promise<T> {
        this.inflight.add(p);
        void p.finally(() => this.inflight.delete(p));
        return p;
    }

    private onRegisterResource(req: resproto.RegisterResourceRequest, cb: Callback): void {
        if (this.closed || this.stopReason) return cb(shutDown("resource monitor shut down while sending resource registration"));
        let goal: Goal;
        try {
            goal = this.goalOf(req);
        } catch (err) {
            this.fail(err, undefined);
            return cb(shutDown("resource monitor shut down while sending resource registration"));
        }
        if (this.registrations.has(goal.urn)) {
            this.fail(new Error(`Duplicate resource URN '${goal.urn}'; try giving it a unique name`), goal.urn);
            return cb(shutDown("resource monitor shut down while sending resource registration"));
        }
        const outcome = this.track(this.register(goal));
        this.registrations.set(goal.urn, outcome.then((o) => o !== undefined));
        void outcome.then((state) => {
            if (state && !this.closed && !this.stopReason) {
                const resp = new resproto.RegisterResourceResponse();
                resp.setUrn(state.urn);
                resp.setId(state.id ?? "");
                resp.setObject(Struct.fromJavaScript(structSafe(state.outputs)));
                cb(null, resp);
            } else {
                cb(shutDown("resource monitor shut down while waiting on step's done channel"));
            }
        });
    }

    /**
     * A read of a provider's resource (`<Resource>.get(name, id)`): the provider's Read by id; recorded as external
     * (pulumi/pulumi pkg/resource/deploy/step.go ReadStep: "Unlike most steps, Read steps run during previews").
     */
    private async readCustom(req: resproto.ReadResourceRequest, urn: string, started: number): Promise<ResourceState> {
        const provider = providerFor(req.getType());
        if (!provider.read) throw new ProviderError(`the engine emulator does not emulate reads of ${req.getType()}`);
        const providerRef = req.getProvider() || undefined;
        const read = await provider.read(
            { urn, name: req.getName(), type: req.getType(), inputs: {}, config: this.providerConfig(providerRef, req.getType()), host: this.s.host },
            req.getId(),
        );
        if (!read) throw new ProviderError(`reading resource ${req.getType()} '${req.getId()}': not found`);
        const state: ResourceState = {
            urn,
            type: req.getType(),
            custom: true,
            id: read.id,
            parent: req.getParent() || undefined,
            provider: providerRef,
            inputs: read.inputs,
            outputs: this.secretOutputs(provider, { additionalSecretOutputs: req.getAdditionalsecretoutputsList() } as unknown as Goal, read.inputs, read.outputs),
            dependencies: req.getDependenciesList(),
            external: true,
        } as ResourceState;
        this.news.set(urn, state);
        this.record(state, "read", started);
        return state;
    }

    private onReadResource(req: resproto.ReadResourceRequest, cb: Callback): void {
        if (this.closed || this.stopReason) return cb(shutDown("resource monitor shut down while sending resource read"));
        const urn = this.urnOf(req.getParent(), req.getType(), req.getName());
        const done = deferred<boolean>();
        this.registrations.set(urn, done.promise);
        const started = Date.now();
        const run = async () => {
            // Builtin provider (pulumi/pulumi `pkg/resource/deploy/builtins.go` readStackReference): the named
            // stack's recorded outputs and the names of those holding secrets. Reads run in previews too
            // (`step.go`: "Unlike most steps, Read steps run during previews").
            if (req.getType() !== "pulumi:pulumi:StackReference") return this.readCustom(req, urn, started);
            const inputs = compact((req.getProperties()?.toJavaScript() ?? {}) as WireMap);
            const name = String(plain(inputs.name));
            const outputs = this.s.readStackOutputs(name);
            const secretOutputNames = Object.keys(outputs).filter((k) => containsSecret(outputs[k])).sort();
            const state: ResourceState = {
                urn,
                type: req.getType(),
                custom: true,
                id: req.getId(),
                parent: req.getParent() || undefined,
                inputs,
                outputs: { name, outputs, secretOutputNames },
                dependencies: req.getDependenciesList(),
                external: true,
            };
            this.news.set(urn, state);
            this.record(state, "read", started);
            return state;
        };
        void this.track(run()).then(
            (state) => {
                done.resolve(true);
                if (this.closed || this.stopReason) return cb(shutDown("resource monitor shut down while waiting on step's done channel"));
                const resp = new resproto.ReadResourceResponse();
                resp.setUrn(urn);
                resp.setProperties(Struct.fromJavaScript(structSafe(state.outputs)));
                cb(null, resp);
            },
            (err) => {
                done.resolve(false);
                this.fail(err, urn);
                cb(shutDown("resource monitor shut down while waiting on step's done channel"));
            },
        );
    }

    private onRegisterResourceOutputs(req: resproto.RegisterResourceOutputsRequest, cb: Callback): void {
        // Events after the engine stopped are never read (`deployment_executor.go`: the main loop has exited). The
        // engine then answers UNAVAILABLE, which makes the SDK reject a promise nobody handles
        // (`runtime/resource.js` runAsyncResourceOp re-raises it) and the language host's unhandled-rejection
        // handler swallow it. In-process that rejection would surface in the test runner, so the emulator leaves the
        // call unanswered instead: the event is dropped either way.
        if (this.closed || this.stopReason) return;
        const urn = req.getUrn();
        const outputs = compact((req.getOutputs()?.toJavaScript() ?? {}) as WireMap);
        const state = this.news.get(urn);
        if (!state) return cb(new Error(`cannot complete a resource '${urn}' whose registration isn't pending`));
        if (state.type === ROOT_STACK_TYPE) this.sentStackOutputs = outputs;
        else state.outputs = outputs;
        cb(null, {});
    }

    private onInvoke(req: resproto.ResourceInvokeRequest, cb: Callback): void {
        const args = plain(req.getArgs()?.toJavaScript() ?? {}) as Record<string, any>;
        const respond = (value: unknown) => {
            const resp = new provproto.InvokeResponse();
            resp.setReturn(Struct.fromJavaScript(structSafe(value)));
            cb(null, resp);
        };
        if (req.getTok() === "pulumi:pulumi:getResource") {
            const state = this.news.get(args.urn);
            if (!state) return cb(new Error(`unknown resource ${args.urn}`));
            return respond({ urn: state.urn, id: state.id ?? null, state: state.outputs });
        }
        const fn = invokeFor(req.getTok());
        if (!fn) return cb(new Error(`the engine emulator does not emulate invoke ${req.getTok()}`));
        const providerRef = req.getProvider() || undefined;
        void this.track(
            fn(args, { config: this.providerConfig(providerRef, req.getTok()), host: this.s.host }).then(respond, (err: Error) => {
                // An invoke error is returned to the program, whose promise rejects (`runtime/invoke.js`).
                const prov = new provproto.InvokeResponse();
                const failure = new provproto.CheckFailure();
                failure.setReason(err.message);
                prov.setFailuresList([failure]);
                cb(null, prov);
            }),
        );
    }

    /* ---------------------------------------------------------------------------------------------------- */
    /* steps                                                                                                 */
    /* ---------------------------------------------------------------------------------------------------- */

    /** Takes one of `parallel` workers; resolves to its release. */
    private async worker(): Promise<() => void> {
        if (this.busy >= this.s.parallel) await new Promise<void>((r) => this.waiting.push(r));
        else this.busy++;
        let released = false;
        return () => {
            if (released) return;
            released = true;
            const next = this.waiting.shift();
            if (next) next();
            else this.busy--;
        };
    }

    private timing(started: number): { ms: number; start: number; end: number } {
        const now = Date.now();
        return { ms: now - started, start: started - this.t0, end: now - this.t0 };
    }

    private fail(err: unknown, urn: string | undefined): void {
        const message = err instanceof Error ? err.message : String(err);
        this.errors.push({ urn, message });
        // Step errors trump cancellation (`deployment_executor.go` Execute).
        this.stopReason = "failed";
        this.stop.resolve();
    }

    private record(state: ResourceState, op: StepOp, started: number, extra?: Partial<Operation>): void {
        this.steps.push({ urn: state.urn, type: state.type, name: urnName(state.urn), op });
        this.changes[op]++;
        if (op !== "same" && !this.s.dryRun && state.custom) {
            this.operations.push({ urn: state.urn, type: state.type, name: urnName(state.urn), op, ...this.timing(started), ...extra });
            this.completedOps++;
            if (this.s.interruptAfter !== undefined && this.completedOps >= this.s.interruptAfter && !this.stopReason) {
                this.stopReason = "cancelled";
                this.stop.resolve();
            }
        }
    }

    private failure(urn: string): Exclude<FailSpec, string> | undefined {
        for (const f of this.s.failAt) {
            const spec = typeof f === "string" ? { resource: f } : f;
            if (spec.resource === urn || spec.resource === urnName(urn)) {
                this.failAtUsed.add(spec.resource);
                return spec;
            }
        }
        return undefined;
    }

    /** Resolves to the new state once the step completed, or undefined if it failed or never started. */
    private async register(goal: Goal): Promise<ResourceState | undefined> {
        const waitFor = new Set([...goal.dependencies, ...Object.values(goal.propertyDependencies).flat()]);
        const prov = providerUrn(goal.provider);
        if (prov) waitFor.add(prov);
        for (const dep of waitFor) {
            const done = this.registrations.get(dep);
            if (!done) {
                this.fail(new Error(`resource ${goal.urn} depends on ${dep}, which was not registered in this update`), goal.urn);
                return undefined;
            }
            if (!(await done)) return undefined;
        }
        // Nothing starts once the update stopped.
        if (this.stopReason) return undefined;
        try {
            return await this.step(goal);
        } catch (err) {
            if (!(err instanceof NotStarted)) this.fail(err, goal.urn);
            return undefined;
        }
    }

    private providerConfig(ref: string | undefined, type: string): Record<string, any> {
        const urn = providerUrn(ref);
        if (urn) return plain(this.news.get(urn)?.inputs ?? {}) as Record<string, any>;
        const pkg = type.split(":")[0];
        return Object.fromEntries(
            Object.entries(this.s.config)
                .filter(([k]) => k.startsWith(`${pkg}:`))
                .map(([k, v]) => [k.slice(pkg.length + 1), v]),
        );
    }

    /** The engine marks outputs secret (`step_executor.go` continueExecuteStep) for additionalSecretOutputs and for inputs that were secret. */
    private secretOutputs(provider: EmulatedProvider, goal: Goal, inputs: WireMap, outputs: Record<string, any>): WireMap {
        const taintAll = provider.taintOutputs === true && containsSecret(inputs);
        return Object.fromEntries(
            Object.entries(outputs)
                .filter(([, v]) => v !== undefined)
                .map(([k, v]) => {
                    const secret =
                        taintAll ||
                        provider.secretOutputs?.includes(k) ||
                        goal.additionalSecretOutputs.includes(k) ||
                        containsSecret(inputs[k]);
                    return [k, secret ? makeSecret(v) : v];
                }),
        );
    }

    private stateOf(goal: Goal, inputs: WireMap, id: string | undefined, outputs: WireMap, initErrors?: readonly string[]): ResourceState {
        const old = this.olds.get(this.aliased.get(goal.urn) ?? goal.urn);
        return compact({
            importID: goal.importId ? goal.importId : old?.importID,
            urn: goal.urn,
            type: goal.type,
            custom: goal.custom,
            id,
            parent: goal.parent,
            provider: goal.provider,
            inputs,
            outputs,
            dependencies: goal.dependencies,
            propertyDependencies: Object.keys(goal.propertyDependencies).length > 0 ? goal.propertyDependencies : undefined,
            protect: goal.protect || undefined,
            retainOnDelete: goal.retainOnDelete || undefined,
            deleteBeforeReplace: goal.deleteBeforeReplace,
            replaceOnChanges: goal.replaceOnChanges.length > 0 ? goal.replaceOnChanges : undefined,
            replacementTrigger: goal.replacementTrigger ?? undefined,
            additionalSecretOutputs: goal.additionalSecretOutputs.length > 0 ? goal.additionalSecretOutputs : undefined,
            initErrors: initErrors && initErrors.length > 0 ? initErrors : undefined,
        }) as ResourceState;
    }

    private async step(goal: Goal): Promise<ResourceState> {
        let started = Date.now();
        const old = this.oldOf(goal);
        if (!goal.custom) {
            // Components and the root stack: no provider. Their outputs arrive with RegisterResourceOutputs.
            const op: StepOp = !old ? "create" : sameValue(old.inputs, goal.inputs) ? "same" : "update";
            const state = this.stateOf(goal, goal.inputs, undefined, old?.outputs ?? {});
            this.news.set(goal.urn, state);
            this.record(state, op, started);
            return state;
        }

        const provider = providerFor(goal.type);
        let inputs = provider.check ? provider.check(goal.inputs, goal.name, old) : goal.inputs;
        if (old && goal.ignoreChanges.length > 0) inputs = this.ignoreChanges(inputs, old.inputs, goal.ignoreChanges);
        const req = (wire: WireMap): ProviderRequest => ({
            urn: goal.urn,
            name: goal.name,
            type: goal.type,
            inputs: plain(wire),
            config: this.providerConfig(goal.provider, goal.type),
            customTimeouts: goal.customTimeouts,
            host: this.s.host,
        });
        // An import (`step_generator.go`: `isImport := goal.Custom && goal.ID != "" && (old == nil || old.External ||
        // oldImportID != goal.ID)`) reads the resource by id (`step.go` ImportStep.Apply; reads run in previews too),
        // records it, and continues with an ordinary diff against what was read.
        let base = old;
        const oldImportId = old ? (old.importID ?? old.id) : undefined;
        if (goal.importId && (!old || old.external || oldImportId !== goal.importId)) {
            if (!provider.read) throw new ProviderError(`the engine emulator does not emulate importing ${goal.type}`);
            const read = await provider.read(req(goal.inputs), goal.importId);
            if (!read) throw new ProviderError(`resource '${goal.importId}' does not exist`);
            const readInputs = compact(read.inputs) as WireMap;
            base = { ...this.stateOf(goal, readInputs, read.id, this.secretOutputs(provider, goal, readInputs, read.outputs)), importID: goal.importId };
            this.record(base, "import", started);
            inputs = provider.check ? provider.check(goal.inputs, goal.name, base) : goal.inputs;
            if (goal.ignoreChanges.length > 0) inputs = this.ignoreChanges(inputs, base.inputs, goal.ignoreChanges);
        }

        let op: StepOp = "create";
        let deleteBeforeReplace = false;
        if (base) {
            const old = base;
            const diff = provider.diff(old.inputs, inputs, old);
            const hasInitErrors = (old.initErrors?.length ?? 0) > 0;
            const replaceOnChange = goal.replaceOnChanges.some((p) =>
                p === "*" ? diff.changed.length > 0 : !sameValue(getPath(old.inputs, p), getPath(inputs, p)),
            );
            // `step_generator.go` shouldTriggerReplace: a replacement trigger replaces when old and new are both set
            // and differ ("Nulls mean there is no replacement trigger"), before and instead of the provider's diff.
            const oldTrigger = old.replacementTrigger ?? null;
            const newTrigger = goal.replacementTrigger ?? null;
            const triggered = oldTrigger !== null && newTrigger !== null && !sameValue(oldTrigger as never, newTrigger as never);
            if (triggered) op = "replace";
            else if (diff.changed.length === 0 && !hasInitErrors) op = "same";
            else op = diff.replaces.length > 0 || replaceOnChange ? "replace" : "update";
            deleteBeforeReplace = goal.deleteBeforeReplace ?? diff.deleteBeforeReplace ?? false;
            if (op === "replace" && old.protect && goal.protect) {
                // `step_generator.go`: a protected resource cannot be replaced.
                throw new Error(
                    `unable to replace resource ${JSON.stringify(goal.urn)}\nas it is currently marked for protection. To unprotect the resource, ` +
                        "remove the `protect` flag from the resource in your Pulumi program and run `pulumi up`",
                );
            }
        }

        if (op === "same" && base !== old) {
            // An import with nothing to change: "don't generate a new same step, just resolve it with the old state
            // (i.e. the thing that was imported)" (`step_generator.go`).
            this.news.set(goal.urn, base!);
            return base!;
        }
        if (op === "same") {
            const state = this.stateOf(goal, inputs, base!.id, base!.outputs);
            this.news.set(goal.urn, state);
            this.record(state, op, started);
            return state;
        }

        if (this.s.dryRun) {
            // Preview: nothing runs; what the provider cannot know yet stays unknown (absent).
            if (op === "replace" && deleteBeforeReplace) {
                this.removed.add(base!);
                this.steps.push({ urn: base!.urn, type: base!.type, name: urnName(base!.urn), op: "delete-replaced" });
            } else if (op === "replace") {
                this.replacedOlds.push(base!);
            }
            const previewOp = op === "update" ? "update" : "create";
            const outs = provider.preview?.(previewOp, plain(inputs), base) ?? (op === "update" ? { ...(plain(base!.outputs) as object), ...plain(inputs) } : plain(inputs));
            const state = this.stateOf(goal, inputs, op === "update" ? base!.id : undefined, this.secretOutputs(provider, goal, inputs, outs));
            this.news.set(goal.urn, state);
            this.record(state, op, started);
            return state;
        }

        // A step occupies one of the step executor's workers (`--parallel`, default 4 x CPUs:
        // pkg/cmd/pulumi/operations/up.go defaultParallel); once the update stopped, a waiting step never starts.
        const release = await this.worker();
        if (this.stopReason) {
            release();
            throw new NotStarted();
        }
        started = Date.now();
        try {
            const injected = this.failure(goal.urn);
            try {
                if (injected && !injected.after) throw new InjectedFailure(injected.message ?? `emulated failure injected at ${goal.urn}`);
                let state: ResourceState;
                if (op === "update") {
                    const { outputs } = await provider.update(req(inputs), base!);
                    state = this.stateOf(goal, inputs, base!.id, this.secretOutputs(provider, goal, inputs, outputs));
                } else {
                    if (op === "replace" && deleteBeforeReplace) {
                        const deleting = Date.now();
                        await this.deleteResource(base!, true);
                        this.removed.add(base!);
                        this.steps.push({ urn: base!.urn, type: base!.type, name: goal.name, op: "delete-replaced" });
                        this.operations.push({ urn: base!.urn, type: base!.type, name: goal.name, op: "delete-replaced", ...this.timing(deleting) });
                    }
                    const { id, outputs } = await provider.create(req(inputs));
                    state = this.stateOf(goal, inputs, id, this.secretOutputs(provider, goal, inputs, outputs));
                }
                if (injected?.after) throw new InjectedFailure(injected.message ?? `emulated failure injected at ${goal.urn} (after the operation)`);
                // The old half of a create-before-delete replacement is now pending deletion (`step.go` CreateStep.Apply).
                if (op === "replace" && !deleteBeforeReplace) this.replacedOlds.push(base!);
                this.news.set(goal.urn, state);
                this.record(state, op, started);
                return state;
            } catch (err) {
                if (err instanceof ProviderError && err.partial) {
                    // A partial failure: the engine records the resource with its init errors (and a replaced old
                    // half is pending deletion all the same, `step.go` CreateStep.Apply).
                    const state = this.stateOf(
                        goal,
                        inputs,
                        err.partial.id ?? base?.id,
                        this.secretOutputs(provider, goal, inputs, err.partial.outputs),
                        err.partial.initErrors,
                    );
                    this.news.set(goal.urn, state);
                    if (op === "replace" && !deleteBeforeReplace) this.replacedOlds.push(base!);
                }
                this.operations.push({ urn: goal.urn, type: goal.type, name: goal.name, op, ...this.timing(started), failed: true });
                throw err;
            }
        } finally {
            release();
        }
    }

    /** `ignoreChanges`: the old value of each path is carried into the new inputs before diffing. */
    private ignoreChanges(news: WireMap, olds: WireMap, paths: readonly string[]): WireMap {
        const out = structuredClone(news) as Record<string, any>;
        for (const path of paths) {
            const parts = path.split(".");
            let src: any = olds;
            let dst: any = out;
            for (const part of parts.slice(0, -1)) {
                src = src?.[part];
                dst = dst[part] ??= {};
            }
            const last = parts[parts.length - 1];
            if (src && typeof src === "object" && last in src) dst[last] = src[last];
            else delete dst[last];
        }
        return out;
    }

    /** One delete step. Protected resources fail (unless this is the delete half of a replacement). */
    private async deleteResource(old: ResourceState, replacing: boolean): Promise<void> {
        if (!replacing && old.protect) {
            // `step.go` deleteProtectedError.
            throw new Error(
                `resource ${JSON.stringify(old.urn)} cannot be deleted\nbecause it is protected. To unprotect the resource, either remove the ` +
                    `\`protect\` flag from the resource in your Pulumi program and run \`pulumi up\`, or use the command:\n\`pulumi state unprotect '${old.urn}'\``,
            );
        }
        if (this.s.dryRun || old.external || !old.custom || old.retainOnDelete) return;
        const injected = this.failure(old.urn);
        if (injected && !injected.after) throw new InjectedFailure(injected.message ?? `emulated failure injected at ${old.urn} (delete)`);
        const provider = providerFor(old.type);
        await provider.delete(
            {
                urn: old.urn,
                name: urnName(old.urn),
                type: old.type,
                inputs: plain(old.inputs),
                config: this.providerConfig(old.provider, old.type),
                host: this.s.host,
            },
            old,
        );
        if (injected?.after) throw new InjectedFailure(injected.message ?? `emulated failure injected at ${old.urn} (after the delete)`);
    }

    /**
     * Deletes, dependents first, in waves that run in parallel (`deployment_executor.go` performPostSteps with
     * ScheduleDeletes' antichains). A failure stops later waves; protected resources fail without stopping.
     */
    private async performDeletes(): Promise<void> {
        const unregistered = [...this.olds.values()].filter((o) => !this.news.has(o.urn) && !this.claimed.has(o.urn) && !this.removed.has(o));
        const replaced = new Set<ResourceState>([...this.s.old.filter((r) => r.delete), ...this.replacedOlds]);
        let pending = [...unregistered, ...replaced];
        const dependsOn = (a: ResourceState, b: ResourceState) =>
            a !== b && (a.dependencies.includes(b.urn) || a.parent === b.urn || providerUrn(a.provider) === b.urn || Object.values(a.propertyDependencies ?? {}).some((d) => d.includes(b.urn)));
        while (pending.length > 0 && !this.stopReason) {
            const wave = pending.filter((r) => !pending.some((other) => dependsOn(other, r)));
            const batch = wave.length > 0 ? wave : pending;
            pending = pending.filter((r) => !batch.includes(r));
            await Promise.all(
                batch.map(async (r) => {
                    const release = await this.worker();
                    const started = Date.now();
                    const isReplaced = replaced.has(r);
                    const op = isReplaced ? "delete-replaced" : "delete";
                    try {
                        await this.deleteResource(r, isReplaced);
                        this.deleted.add(r);
                        if (!isReplaced) {
                            this.record(r, "delete", started);
                        } else {
                            this.steps.push({ urn: r.urn, type: r.type, name: urnName(r.urn), op: "delete-replaced" });
                            if (!this.s.dryRun) this.operations.push({ urn: r.urn, type: r.type, name: urnName(r.urn), op, ...this.timing(started) });
                        }
                    } catch (err) {
                        if (!this.s.dryRun) this.operations.push({ urn: r.urn, type: r.type, name: urnName(r.urn), op, ...this.timing(started), failed: true });
                        const message = err instanceof Error ? err.message : String(err);
                        this.errors.push({ urn: r.urn, message });
                        // deleteProtectedError lets the other deletes continue (`step_executor.go` cancelDueToError).
                        if (!/because it is protected/.test(message)) {
                            this.stopReason = "failed";
                            this.stop.resolve();
                        }
                    } finally {
                        release();
                    }
                }),
            );
        }
    }

    /* ---------------------------------------------------------------------------------------------------- */
    /* the update                                                                                            */
    /* ---------------------------------------------------------------------------------------------------- */

    /**
     * Runs the program the way the Node language host does (`runtime/stack.js` runInPulumiStack), then the deletes,
     * and returns the checkpoint to record and the stack outputs.
     */
    async run(program: () => unknown): Promise<{ resources: ResourceState[]; outputs: WireMap }> {
        // `setMockOptions` resets the runtime's options and installs this monitor; setMocks first sets the store's
        // feature flags the way the SDK's own test harness does (`runtime/mocks.js` setMocks).
        await pulumi.runtime.setMocks(
            {
                newResource: () => {
                    throw new Error("the engine emulator's monitor handles registrations");
                },
                call: () => {
                    throw new Error("the engine emulator's monitor handles calls");
                },
            },
            this.s.project,
            this.s.stack,
            this.s.dryRun,
            "organization",
        );
        settings.setMockOptions(this.monitor, this.s.project, this.s.stack, this.s.dryRun, "organization");
        pulumi.runtime.setAllConfig({ ...this.s.config }, []);

        const waitForRPCs = (settings as unknown as { waitForRPCs: () => Promise<void> }).waitForRPCs;
        // The language host reports a program error from its unhandled-rejection handler. In-process the error is
        // caught inside `init` instead, which makes `runtime/stack.js` send exactly what it sends for a throwing
        // program: `initialize` ends with `registerOutputs(undefined)`, i.e. `{}`.
        let programError: { error: unknown } | undefined;
        const program$ = pulumi.runtime
            .runInPulumiStack(async () => {
                try {
                    return (await program()) as pulumi.Inputs;
                } catch (error) {
                    programError = { error };
                    return undefined;
                }
            })
            .then(
                () => (programError ? { ok: false as const, error: programError.error } : { ok: true as const }),
                (error: unknown) => ({ ok: false as const, error }),
            );
        const first = await Promise.race([program$, this.stop.promise.then(() => "stopped" as const)]);
        if (first !== "stopped") {
            // The language host finishes its outstanding RPCs (the stack's outputs among them) before it exits.
            await Promise.race([waitForRPCs(), this.stop.promise]);
            if (!first.ok) {
                const err = first.error;
                const message = pulumi.RunError.isInstance(err as Error)
                    ? (err as Error).message
                    : `Running program failed with an unhandled exception:\n${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
                this.fail(new Error(message), undefined);
            }
        }
        while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
        if (!this.stopReason) await this.performDeletes();
        this.closed = true;
        return { resources: this.checkpoint(), outputs: this.stackOutputs() };
    }

    /** The root stack's outputs by the engine's rule (module comment). */
    private stackOutputs(): WireMap {
        const old = this.s.old.find((r) => r.type === ROOT_STACK_TYPE)?.outputs ?? {};
        if (this.sentStackOutputs === undefined) return { ...old };
        return this.errors.length > 0 ? { ...old, ...this.sentStackOutputs } : { ...this.sentStackOutputs };
    }

    private checkpoint(): ResourceState[] {
        const outputs = this.stackOutputs();
        const resources: ResourceState[] = [];
        for (const state of this.news.values()) {
            resources.push(state.type === ROOT_STACK_TYPE ? { ...state, outputs } : state);
        }
        const replaced = new Set(this.replacedOlds);
        for (const o of this.s.old) {
            if (this.deleted.has(o) || this.removed.has(o)) continue;
            if (o.delete) resources.push(o);
            else if (replaced.has(o)) resources.push({ ...o, delete: true });
            else if (!this.news.has(o.urn) && !this.claimed.has(o.urn)) resources.push(o.type === ROOT_STACK_TYPE ? { ...o, outputs } : o);
        }
        return resources;
    }
}

export type { Wire };
