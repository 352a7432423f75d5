/**
 * ENGINE EMULATOR for tests. It is not Pulumi: no Pulumi CLI or provider plugin can run here, so this runs the
 * real program in-process the way `pulumi up` does and emulates what the engine and the providers would do with
 * its registrations, from their source (citations in emulator/*.ts and /work/shared/research/engine-behaviour.md).
 *
 * - The program runs under the Node SDK's own runtime (`runInPulumiStack`, config through `setAllConfig`), with
 *   this emulator as its resource monitor (emulator/update.ts).
 * - Registrations are applied in dependency order as same / create / update / replace, replacements
 *   create-before-delete unless deleteBeforeReplace, deletes at the end honouring retainOnDelete and protect.
 * - Side effects are real where a real server runs here: local commands run for real (the hooks against real
 *   PostgreSQL/Redis/moto/HTTP servers), SecretVersions and Secrets go to moto's Secrets Manager. Kubernetes objects
 *   go to an in-memory object store validated against the official schemas, Cloudflare tokens to a test double.
 * - Stack outputs are recorded by the engine's rule (what the SDK sent; on failure merged over the old outputs;
 *   nothing sent -> old outputs kept). State is carried from run to run in a file backend laid out like the DIY
 *   backend, so separate processes can run successive updates (e.g. a `pulumi` CLI double).
 * - Faults: `failAt` fails chosen resources; `interruptAfter` cancels after N operations. The engine stops as the
 *   real one does: operations in flight finish, nothing that has not started starts.
 *
 * One update at a time per process (the Pulumi runtime is process-global); calls queue.
 *
 * NOT emulated (a test that needs one of these needs the real engine):
 * - default providers (`pulumi:providers:<pkg>::default_<version>`): not in the state, not in the change counts;
 *   a changed or replaced explicit provider does not re-diff or replace the resources that use it;
 * - detailed diffs: changes are found per top-level property (K8s identity and replaceOnChanges by path);
 *   delete-before-replace does not also replace the dependents; no `--target`, `refresh`, `destroy`, `import`
 *   command, plans, policy packs, resource hooks, transforms, deletedWith/replaceWith, component `call`s,
 *   output values (as with the SDK's MockMonitor), remote components;
 * - secrets providers: `secure:` stack config is refused; checkpoints use the emulator's own key;
 * - a crash (`kill -9`) leaving pending operations: only a clean cancel (`interruptAfter`);
 * - provider retries of transient errors; Kubernetes controllers other than the Deployment rollout, events, RBAC;
 *   AWS beyond Secrets Manager (Secret, SecretVersion, getSecrets); Cloudflare beyond its account-token double
 *   (CLOUDFLARE_API_TOKEN is required, not verified); RandomPassword's bcryptHash;
 * - timing races: the engine takes a program event that arrives while a failure is being processed in either
 *   order; here an event counts only if it arrived before the failure (deterministic). A RegisterResourceOutputs
 *   after the update stopped is left unanswered instead of answered UNAVAILABLE (see update.ts).
 * Deviation on purpose: `kubernetes.awaitTimeoutMs` shortens the provider's rollout await (10 minutes) for tests.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { ChangeSummary, FileBackend, ResourceState, UpdateRecord } from "./emulator/backend";
import { KubernetesBehaviour, ProviderHost } from "./emulator/providers";
import { EmulatedUpdate, FailSpec, Operation, StepRecord } from "./emulator/update";
import { Wire, WireMap, containsSecret, plain } from "./emulator/wire";
import { CloudflareTokenDouble, KubernetesObjectStore } from "./emulator/world";

export type { ChangeSummary, FailSpec, KubernetesBehaviour, Operation, ResourceState, StepRecord, UpdateRecord };
export { CloudflareTokenDouble, KubernetesObjectStore };

/** What a program is given: the environment of the emulated `pulumi up` and the clock. */
export interface ProgramContext {
    readonly env: NodeJS.ProcessEnv;
    readonly now: Date;
}

/** A Pulumi program: what `index.ts` exports, with its environment and clock injected. Returns the stack outputs. */
export type ProgramFunction = (ctx: ProgramContext) => unknown;

export interface EngineEmulatorOptions {
    /** The backend directory (state, history, locks, the emulated world). Created if missing. */
    readonly backendDir: string;
    /** The project directory: Pulumi.yaml, stack files, and the working directory of local commands. */
    readonly projectDir: string;
    /** The program; default: the project's `rotation/program` rotationProgram (what index.ts runs). */
    readonly program?: ProgramFunction;
    /** A local AWS endpoint (moto) for the AWS provider; default AWS_ENDPOINT_URL of the run's environment. */
    readonly awsEndpoint?: string;
    /** The environment of the emulated `pulumi up`; default process.env. */
    readonly env?: NodeJS.ProcessEnv;
    readonly kubernetes?: KubernetesBehaviour;
    /** Also write the program's and the commands' output to stderr as it happens. */
    readonly echo?: boolean;
    /** Called with each line of the program's and the commands' output as it happens (the pulumi CLI double prints them). */
    readonly onLog?: (line: string) => void;
    /**
     * `false`: an update or preview of a stack that was never initialised fails with the backend's "no stack named
     * '<name>' found" (pulumi/pulumi `pkg/backend/backenderr`), as a non-interactive `pulumi up` does. Default true:
     * the first update creates the stack.
     */
    readonly autoCreateStacks?: boolean;
}

/** The backend has no such stack (what the Automation API maps to StackNotFoundError). */
export class StackNotFoundError extends Error {}

export interface RunOptions {
    /** Config over the stack file (`rotation:stamp` -> value); `undefined` removes a key. */
    readonly config?: Readonly<Record<string, unknown>>;
    readonly env?: NodeJS.ProcessEnv;
    readonly now?: Date;
    readonly program?: ProgramFunction;
    /** Resources (URN or name) whose operation fails. */
    readonly failAt?: FailSpec | readonly FailSpec[];
    /** Cancel the update (like one Ctrl-C) once this many provider operations completed. */
    readonly interruptAfter?: number;
    readonly kubernetes?: KubernetesBehaviour;
    /** Steps applied at once (`pulumi up --parallel`); default PULUMI_PARALLEL of the run's environment, else 4 x CPUs. */
    readonly parallel?: number;
    /** Aborting it cancels the update like one Ctrl-C (`EmulatedUpdate.cancel`); the pulumi CLI double wires SIGINT here. */
    readonly signal?: AbortSignal;
}

export interface StackOutput {
    readonly value: unknown;
    readonly secret: boolean;
}

export interface UpdateResult {
    readonly result: "succeeded" | "failed" | "cancelled";
    /** The first error, one message. */
    readonly error?: string;
    readonly errors: readonly { readonly urn?: string; readonly message: string }[];
    readonly changes: ChangeSummary;
    /** The stack outputs recorded after the update, as the Automation API's OutputMap shapes them. */
    readonly outputs: Record<string, StackOutput>;
    /**
     * What the program sent as the root stack's outputs before the update stopped (the last RegisterResourceOutputs
     * the engine took), or undefined if it sent nothing in time.
     */
    readonly sentOutputs?: Record<string, StackOutput>;
    /** Provider operations in completion order. */
    readonly operations: readonly Operation[];
    /** Every step, `same` included, in completion order. */
    readonly steps: readonly StepRecord[];
    /** The program's log and the commands' streamed output. */
    readonly log: readonly string[];
    /** failAt specs that matched no operation. */
    readonly unusedFailAt: readonly string[];
    readonly durationMs: number;
}

export type PreviewResult = Omit<UpdateResult, "outputs" | "sentOutputs" | "operations" | "unusedFailAt">;

let queue: Promise<unknown> = Promise.resolve();

function serialized<T>(fn: () => Promise<T>): Promise<T> {
    const next = queue.then(fn, fn);
    queue = next.catch(() => undefined);
    return next;
}

/** Pulumi hands config to programs as strings; structured values JSON-encoded. */
function configValue(key: string, value: unknown): string {
    if (value && typeof value === "object" && "secure" in (value as object)) {
        throw new Error(`config key ${key} is a secure value: the engine emulator has no secrets provider for stack files`);
    }
    return typeof value === "string" ? value : JSON.stringify(value);
}

export function outputMap(outputs: WireMap): Record<string, StackOutput> {
    return Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, { value: plain(v), secret: containsSecret(v) }]));
}

export class EngineEmulator {
    readonly backend: FileBackend;
    readonly project: string;
    /** The emulated Kubernetes API server (seed namespaces and objects here; read what the program wrote). */
    readonly kubernetes: KubernetesObjectStore;
    /** The Cloudflare account-token test double. */
    readonly cloudflare: CloudflareTokenDouble;

    constructor(readonly options: EngineEmulatorOptions) {
        mkdirSync(options.backendDir, { recursive: true });
        const project = parse(readFileSync(join(options.projectDir, "Pulumi.yaml"), "utf8")) as { name: string };
        this.project = project.name;
        this.backend = new FileBackend(options.backendDir, this.project);
        this.kubernetes = new KubernetesObjectStore(join(options.backendDir, "world", "kubernetes.json"));
        this.cloudflare = new CloudflareTokenDouble(join(options.backendDir, "world", "cloudflare.json"));
    }

    /** The stack file's config with `overrides` on top. */
    config(stack: string, overrides: Readonly<Record<string, unknown>> = {}): Record<string, string> {
        const file = join(this.options.projectDir, `Pulumi.${stack}.yaml`);
        const doc = existsSync(file) ? ((parse(readFileSync(file, "utf8")) as { config?: Record<string, unknown> } | null)?.config ?? {}) : {};
        const merged: Record<string, unknown> = { ...doc, ...overrides };
        return Object.fromEntries(
            Object.entries(merged)
                .filter(([, v]) => v !== undefined)
                .map(([k, v]) => [k, configValue(k, v)]),
        );
    }

    hasStack(stack: string): boolean {
        return this.backend.hasStack(stack);
    }

    /** `pulumi stack init`: an empty checkpoint. */
    initStack(stack: string): void {
        if (this.backend.hasStack(stack)) throw new Error(`stack '${this.backend.qualifiedName(stack)}' already exists`);
        this.backend.save(stack, []);
    }

    private requireStack(stack: string): void {
        if (this.options.autoCreateStacks === false && !this.backend.hasStack(stack)) {
            throw new StackNotFoundError(`no stack named '${this.backend.qualifiedName(stack)}' found`);
        }
    }

    /** `pulumi up`. Takes the stack's lock; creates the stack on its first update unless `autoCreateStacks: false`. */
    up(stack: string, opts: RunOptions = {}): Promise<UpdateResult> {
        return serialized(async () => {
            this.requireStack(stack);
            const release = this.backend.lock(stack);
            try {
                const startTime = new Date();
                const run = await this.execute(stack, false, opts);
                this.backend.save(stack, run.resources);
                this.backend.appendHistory(stack, {
                    kind: "update",
                    result: run.result.result,
                    startTime: startTime.toISOString(),
                    endTime: new Date().toISOString(),
                    resourceChanges: run.result.changes,
                    message: run.result.error,
                });
                return run.result;
            } finally {
                release();
            }
        });
    }

    /** `pulumi preview`: the same steps and change summary, nothing run, nothing recorded. */
    preview(stack: string, opts: Omit<RunOptions, "failAt" | "interruptAfter"> = {}): Promise<PreviewResult> {
        return serialized(async () => {
            this.requireStack(stack);
            const { result } = await this.execute(stack, true, opts);
            const { outputs: _o, sentOutputs: _s, operations: _p, unusedFailAt: _u, ...rest } = result;
            return rest;
        });
    }

    /** The stack's recorded outputs (`pulumi stack output --json --show-secrets`, with secretness). */
    outputs(stack: string): Record<string, StackOutput> {
        return outputMap(this.backend.stackOutputs(stack));
    }

    /** The stack's recorded resources, secrets decrypted to wire form; undefined for a stack never updated. */
    resources(stack: string): ResourceState[] | undefined {
        return this.backend.load(stack)?.resources;
    }

    history(stack: string): UpdateRecord[] {
        return this.backend.history(stack);
    }

    private async defaultProgram(ctx: ProgramContext): Promise<unknown> {
        const mod = (await import(join(this.options.projectDir, "rotation", "program"))) as { rotationProgram: ProgramFunction };
        return mod.rotationProgram(ctx);
    }

    private async execute(stack: string, dryRun: boolean, opts: RunOptions): Promise<{ result: UpdateResult; resources: ResourceState[] }> {
        const started = Date.now();
        const env = opts.env ?? this.options.env ?? process.env;
        const log: string[] = [];
        const echo = this.options.echo === true;
        const host: ProviderHost = {
            env,
            cwd: this.options.projectDir,
            awsEndpoint: this.options.awsEndpoint,
            kubernetes: this.kubernetes,
            cloudflare: this.cloudflare,
            kubernetesBehaviour: { ...this.options.kubernetes, ...opts.kubernetes, rollouts: { ...this.options.kubernetes?.rollouts, ...opts.kubernetes?.rollouts } },
            log: (urn, message) => {
                const line = `${urn.split("::").pop()}: ${message.replace(/\n$/, "")}`;
                log.push(line);
                if (echo) process.stderr.write(`${line}\n`);
                this.options.onLog?.(line);
            },
        };
        const old = this.backend.load(stack)?.resources ?? [];
        const failAt = opts.failAt === undefined ? [] : Array.isArray(opts.failAt) ? opts.failAt : [opts.failAt as FailSpec];
        const update = new EmulatedUpdate({
            project: this.project,
            stack,
            dryRun,
            old,
            config: this.config(stack, opts.config),
            host,
            failAt,
            interruptAfter: opts.interruptAfter,
            // pulumi/pulumi pkg/cmd/pulumi/operations/up.go defaultParallel: PULUMI_PARALLEL, else GOMAXPROCS x 4.
            parallel: opts.parallel ?? (Number(env.PULUMI_PARALLEL) > 0 ? Number(env.PULUMI_PARALLEL) : 4 * availableParallelism()),
            readStackOutputs: (name) => this.backend.stackOutputs(name),
        });
        if (opts.signal) {
            if (opts.signal.aborted) update.cancel();
            else opts.signal.addEventListener("abort", () => update.cancel(), { once: true });
        }
        const program = opts.program ?? this.options.program ?? ((ctx: ProgramContext) => this.defaultProgram(ctx));
        const ctx: ProgramContext = { env, now: opts.now ?? new Date() };

        // Without an engine to send diagnostics to, `pulumi.log` writes through console: capture it for the run.
        const methods = ["log", "info", "warn", "error", "debug"] as const;
        const originals = methods.map((m) => console[m]);
        for (const m of methods) {
            console[m] = (...args: unknown[]) => {
                const line = args.map(String).join(" ");
                log.push(line);
                if (echo) process.stderr.write(`${line}\n`);
                this.options.onLog?.(line);
            };
        }
        let run: { resources: ResourceState[]; outputs: WireMap };
        try {
            run = await update.run(() => program(ctx));
        } finally {
            methods.forEach((m, i) => (console[m] = originals[i]));
        }
        const result: UpdateResult = {
            result: update.result,
            error: update.errors[0]?.message,
            errors: update.errors,
            changes: update.changes,
            outputs: outputMap(run.outputs),
            sentOutputs: update.sentStackOutputs && outputMap(update.sentStackOutputs),
            operations: update.operations,
            steps: update.steps,
            log,
            unusedFailAt: update.unusedFailAt,
            durationMs: Date.now() - started,
        };
        return { result, resources: run.resources };
    }
}

export type { Wire, WireMap };
