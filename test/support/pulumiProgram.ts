/**
 * Runs the real Pulumi program (`index.ts`'s `rotationProgram`) under `pulumi.runtime.setMocks`, with config loaded
 * from a real stack file through `pulumi.runtime.setAllConfig`, and records every registration as the engine would
 * see it: type, name, URN, inputs, which inputs are secrets, dependency edges and resource options.
 *
 * The recording wraps `MockMonitor#registerResource`, whose request carries the dependency URNs (explicit
 * `dependsOn` and output-borne alike), which `MockResourceArgs` does not.
 *
 * SDK internals this relies on (none is in @pulumi/pulumi's documented API, hence the exact version pin in
 * package.json); test/sdkInternals.test.ts fails, naming the one that went, if the pinned SDK stops providing any:
 * - `runtime/settings` `waitForRPCs()` (marked `@internal`, absent from the typings): resolves once every outstanding
 *   registration has completed, so a run's registrations are all recorded before it returns;
 * - `runtime/settings` `getMonitor()` returns the `MockMonitor` `setMocks` installed, and its callback-style
 *   `registerResource(req, callback)` and `registerResourceOutputs(req, callback)` can be replaced on the instance;
 * - the `RegisterResourceRequest` getters read in `run()`: `getType`, `getName`, `getCustom`, `getParent`,
 *   `getDependenciesList`, `getPropertydependenciesMap` (values with `getUrnsList`), `getObject().toJavaScript()`,
 *   `getRetainondelete`, `getReplaceonchangesList`, `getDeletebeforereplace`, `getProtect`, `getImportid`,
 *   `getCustomtimeouts` (`getCreate`/`getUpdate`/`getDelete`); the response's `getUrn`, `getId`, `getObject`; the
 *   outputs request's `getUrn` and `getOutputs`;
 * - `runtime.runInPulumiStack` registers a `pulumi:pulumi:Stack` root (URN `...::pulumi:pulumi:Stack::...`) and sends
 *   the program's result as its outputs; `runtime.getStackResource().outputs` has `isKnown`/`isSecret` promises;
 * - the serialized form of a secret input, `{ [SECRET_SIG]: <secret sig>, value }` (`runtime/rpc` `specialSigKey`);
 * - an invoke reaches the mocks' `call` with its `token`;
 * - without an engine, `pulumi.log` writes through `console`.
 * While the program runs, `run()` also replaces `process.stdout.write`, `process.stderr.write` and the `console`
 * methods process-wide to capture logs (restored in `finally`): do not run two programs concurrently in one worker.
 */
import * as pulumi from "@pulumi/pulumi";
import { MockResourceArgs } from "@pulumi/pulumi/runtime/mocks";
import * as settings from "@pulumi/pulumi/runtime/settings";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import type { ProgramContext } from "../../rotation/program";
import type { ProgramOutputs } from "../../rotation/program";
import { SECRET_SIG, uuidFromHash } from "./fixtures";

export const ROOT = join(__dirname, "..", "..");
export const PROJECT = "buywhere-secrets-rotation";
// Internal to the SDK (not in its typings): resolves once every outstanding registration has completed.
const waitForRPCs = (settings as unknown as { waitForRPCs: () => Promise<void> }).waitForRPCs;

export interface Registration {
    readonly urn: string;
    readonly type: string;
    readonly name: string;
    readonly custom: boolean;
    readonly parent: string;
    /** URNs this resource depends on. */
    readonly dependencies: readonly string[];
    /** Inputs as plain values (secrets unwrapped). */
    readonly inputs: Record<string, any>;
    /** Inputs as serialized for the engine: secrets are wrapped, so `isSecretAt` can tell. */
    readonly raw: Record<string, any>;
    readonly retainOnDelete: boolean;
    readonly replaceOnChanges: readonly string[];
    readonly deleteBeforeReplace: boolean;
    /** The `protect` option. */
    readonly protect: boolean;
    /** The `import` option's ID ("" when the resource is created, not adopted). */
    readonly importId: string;
    /** Outputs the resource asks the engine to keep secret (`additionalSecretOutputs`). */
    readonly additionalSecretOutputs: readonly string[];
    /** The `customTimeouts` option ("" for a timeout not set); undefined when none is set. */
    readonly customTimeouts?: { readonly create: string; readonly update: string; readonly delete: string };
    /** Input property -> URNs its value came from (output-borne dependencies, per property). */
    readonly propertyDependencies: Readonly<Record<string, readonly string[]>>;
    /** The ID the mocked provider gave the resource. */
    readonly id: string;
    /** The state the mocked provider returned (its outputs; secrets unwrapped), e.g. a RandomPassword's `result`. */
    readonly state: Record<string, any>;
}

/** One `RegisterResourceOutputs` the program sent for the root stack. */
export interface StackOutputsEvent {
    readonly outputs: Record<string, any>;
    /** How many resources had been registered when it was sent. */
    readonly registeredBefore: number;
}

export interface RunOptions {
    readonly stack: "staging" | "production";
    /** Config keys to set on top of the stack file (`rotation:stamp` -> value). `undefined` removes a key. */
    readonly config?: Readonly<Record<string, unknown>>;
    /** The `rotationState` output of the previous run, as the StackReference to self returns it. */
    readonly lastState?: unknown;
    /** The `rotationAttempt` output of the previous run (an unfinished run's record). */
    readonly lastAttempt?: unknown;
    /** Other outputs of the previous run (`secrets`, `restarts`), as the StackReference to self returns them. */
    readonly lastOutputs?: Readonly<Record<string, unknown>>;
    readonly env?: ProgramContext["env"];
    readonly now?: Date;
    readonly preview?: boolean;
}

export interface Run {
    readonly registrations: Registration[];
    readonly byUrn: ReadonlyMap<string, Registration>;
    /** The stack outputs, fully resolved. */
    readonly outputs: any;
    /** Paths of stack outputs that are secret. */
    readonly secretOutputPaths: readonly string[];
    /** Every value the mocked random provider generated (the credentials). */
    readonly generated: readonly string[];
    /** The root stack's outputs events the program sent, in order (the early attempt record, then the final outputs). */
    readonly stackOutputEvents: readonly StackOutputsEvent[];
    /** The tokens of the provider functions (invokes) the program called. */
    readonly invokes: readonly string[];
    /** Everything written to stdout/stderr/console during the run. */
    readonly logs: string;
}

/** The stack file's config, as `key -> value` with objects kept as objects. */
export function stackConfig(stack: string): Record<string, unknown> {
    const doc = parse(readFileSync(join(ROOT, `Pulumi.${stack}.yaml`), "utf8")) as { config: Record<string, unknown> };
    // The tests' stacks start empty and nothing uses their secrets, so a first deployment may generate every slot;
    // the first-contact guard and `adopt` are tested with this set to false.
    // Successive runs under one clock rotate jwt again and again: no minimum interval here (its own tests set one).
    return { ...doc.config, "rotation:firstDeployment": true, "rotation:minInterval": { jwt: "0m" } };
}

/** Pulumi hands config to programs as strings, objects JSON-encoded. */
function asPulumiConfig(config: Record<string, unknown>): Record<string, string> {
    return Object.fromEntries(
        Object.entries(config)
            .filter(([, v]) => v !== undefined)
            .map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]),
    );
}

/** Deterministic stand-in for a random credential: the same name and keepers give the same value. */
function fakeValue(kind: string, name: string, keepers: unknown, length = 40): string {
    const h = createHash("sha256").update(`${kind}|${name}|${JSON.stringify(keepers)}`).digest("base64url");
    return `Zk${h.replace(/[-_]/g, "x")}`.slice(0, length);
}

function mockState(args: MockResourceArgs, opts: RunOptions): { id: string; state: Record<string, any> } {
    const { lastState, lastAttempt, lastOutputs } = opts;
    const inputs = args.inputs as Record<string, any>;
    switch (args.type) {
        case "pulumi:pulumi:StackReference":
            return {
                id: inputs.name,
                state: {
                    name: inputs.name,
                    outputs: {
                        ...lastOutputs,
                        ...(lastState === undefined ? {} : { rotationState: lastState }),
                        ...(lastAttempt === undefined ? {} : { rotationAttempt: lastAttempt }),
                    },
                    secretOutputNames: [],
                },
            };
        case "random:index/randomPassword:RandomPassword":
            return { id: `${args.name}-id`, state: { ...inputs, result: fakeValue("pw", args.name, inputs.keepers, inputs.length) } };
        case "cloudflare:index/accountToken:AccountToken": {
            // Cloudflare would issue these; the mock derives them from the token's name (which carries the stamp).
            const id = createHash("sha256").update(`token-id|${inputs.name}`).digest("hex").slice(0, 32);
            return { id, state: { ...inputs, value: fakeValue("token", args.name, inputs.name, 40), status: "active" } };
        }
        case "aws:secretsmanager/secretVersion:SecretVersion": {
            const versionId = uuidFromHash(`${inputs.secretId}|${inputs.secretString}`);
            return { id: `${inputs.secretId}|${versionId}`, state: { ...inputs, versionId } };
        }
        default:
            return { id: `${args.name}-id`, state: { ...inputs } };
    }
}

/** The serialized inputs with every secret wrapper replaced by its value. */
function unwrapSecrets(value: any): any {
    if (Array.isArray(value)) return value.map(unwrapSecrets);
    if (value && typeof value === "object") {
        if (value[SECRET_SIG] !== undefined) return unwrapSecrets(value.value);
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unwrapSecrets(v)]));
    }
    return value;
}

/** True when the value at `path` (dot/bracket path into raw inputs) is a secret, or sits inside one. */
export function isSecretAt(raw: unknown, path: string): boolean {
    let node: any = raw;
    for (const part of path.split(".")) {
        if (node && typeof node === "object" && node[SECRET_SIG] !== undefined) return true;
        node = node?.[part];
    }
    return !!node && typeof node === "object" && node[SECRET_SIG] !== undefined;
}

/** Every path into `value` that ends in a string, with the string. */
export function stringLeaves(value: unknown, prefix = ""): [string, string][] {
    if (typeof value === "string") return [[prefix, value]];
    if (value && typeof value === "object") {
        return Object.entries(value).flatMap(([k, v]) => stringLeaves(v, prefix ? `${prefix}.${k}` : k));
    }
    return [];
}

async function resolveOutputs(value: unknown, path: string, secretPaths: string[]): Promise<unknown> {
    if (pulumi.Output.isInstance(value)) {
        if (await (value as any).isSecret) secretPaths.push(path);
        const inner = await new Promise((resolve) => (value as pulumi.Output<unknown>).apply(resolve));
        return resolveOutputs(inner, path, secretPaths);
    }
    if (Array.isArray(value)) return Promise.all(value.map((v, i) => resolveOutputs(v, `${path}[${i}]`, secretPaths)));
    if (value && typeof value === "object") {
        const entries = await Promise.all(
            Object.entries(value).map(async ([k, v]) => [k, await resolveOutputs(v, path ? `${path}.${k}` : k, secretPaths)] as const),
        );
        return Object.fromEntries(entries);
    }
    return value;
}

/**
 * Runs the program once. Throws what the program throws (after the run settled).
 */
export function runProgram(opts: RunOptions): Promise<Run> {
    return run(opts, []);
}

/** Runs the program expecting it to fail; returns the error and whatever it registered before failing. */
export async function runProgramExpectingFailure(
    opts: RunOptions,
): Promise<{ error: Error; registrations: Registration[]; stackOutputEvents: StackOutputsEvent[] }> {
    const registrations: Registration[] = [];
    const stackOutputEvents: StackOutputsEvent[] = [];
    try {
        await run(opts, registrations, stackOutputEvents);
    } catch (error) {
        return { error: error as Error, registrations, stackOutputEvents };
    }
    throw new Error("expected the program to fail");
}

async function run(opts: RunOptions, registrations: Registration[], stackOutputEvents: StackOutputsEvent[] = []): Promise<Run> {
    const generated: string[] = [];
    const invokes: string[] = [];
    const config = { ...stackConfig(opts.stack), ...(opts.config ?? {}) };

    await pulumi.runtime.setMocks(
        {
            newResource: (args) => {
                const result = mockState(args, opts);
                if (typeof result.state.result === "string") generated.push(result.state.result);
                if (typeof result.state.value === "string") generated.push(result.state.value);
                return result;
            },
            call: (args) => {
                invokes.push(args.token);
                return args.inputs;
            },
        },
        PROJECT,
        opts.stack,
        opts.preview ?? false,
        "organization",
    );
    const monitor = settings.getMonitor() as any;
    const register = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req: any, callback: (err: any, resp: any) => void) =>
        register(req, (err: any, resp: any) => {
            if (!err && req.getType() !== "pulumi:pulumi:Stack") {
                const propDeps: string[] = [];
                const propertyDependencies: Record<string, string[]> = {};
                req.getPropertydependenciesMap().forEach((v: any, key: string) => {
                    propDeps.push(...v.getUrnsList());
                    propertyDependencies[key] = v.getUrnsList();
                });
                const timeouts = req.getCustomtimeouts();
                registrations.push({
                    urn: resp.getUrn(),
                    type: req.getType(),
                    name: req.getName(),
                    custom: req.getCustom(),
                    parent: req.getParent(),
                    dependencies: [...new Set([...req.getDependenciesList(), ...propDeps])],
                    inputs: unwrapSecrets(req.getObject().toJavaScript()),
                    raw: req.getObject().toJavaScript(),
                    retainOnDelete: req.getRetainondelete(),
                    replaceOnChanges: req.getReplaceonchangesList(),
                    deleteBeforeReplace: req.getDeletebeforereplace(),
                    protect: !!req.getProtect(),
                    importId: req.getImportid(),
                    additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
                    customTimeouts: timeouts ? { create: timeouts.getCreate(), update: timeouts.getUpdate(), delete: timeouts.getDelete() } : undefined,
                    propertyDependencies,
                    id: resp.getId(),
                    state: unwrapSecrets(resp.getObject()?.toJavaScript() ?? {}),
                });
            }
            callback(err, resp);
        });
    // Root-stack outputs events, in the order the program sent them, with how many resources were registered by then.
    const registerOutputs = monitor.registerResourceOutputs.bind(monitor);
    monitor.registerResourceOutputs = (req: any, callback: (err: any, resp: any) => void) => {
        if (String(req.getUrn()).includes("::pulumi:pulumi:Stack::")) {
            stackOutputEvents.push({ outputs: unwrapSecrets(req.getOutputs()?.toJavaScript() ?? {}), registeredBefore: registrations.length });
        }
        return registerOutputs(req, callback);
    };
    pulumi.runtime.setAllConfig(asPulumiConfig(config), []);

    const logs: string[] = [];
    const capture = (stream: NodeJS.WriteStream) => {
        // Restore the very function found (not a bound copy), so runs leave the streams as they were.
        const original = stream.write;
        stream.write = ((chunk: any, ...rest: any[]) => {
            logs.push(String(chunk));
            return (original as (...args: any[]) => boolean).call(stream, chunk, ...rest);
        }) as any;
        return () => (stream.write = original);
    };
    const restoreOut = capture(process.stdout);
    const restoreErr = capture(process.stderr);
    // Without an engine, pulumi.log writes through console (which the test runner intercepts before the streams).
    const consoleMethods = ["log", "info", "warn", "error", "debug"] as const;
    const originalConsole = consoleMethods.map((m) => console[m]);
    for (const m of consoleMethods) {
        console[m] = (...args: unknown[]) => void logs.push(`${args.map(String).join(" ")}\n`);
    }
    try {
        const { rotationProgram } = await import("../../rotation/program");
        let outputs: ProgramOutputs | undefined;
        let failure: unknown;
        try {
            // As the language host runs it: inside the root stack, whose own code sends the exported outputs.
            await pulumi.runtime.runInPulumiStack(async () => {
                // The root stack's Output derives promises from the program's result that nothing awaits (`isKnown`,
                // `isSecret`: @pulumi/pulumi output.js OutputImpl); when the program fails they reject unhandled, which
                // the language host absorbs in its own handler but the test runner reports as errors. The failure
                // itself still reaches `failure` below.
                const root = pulumi.runtime.getStackResource() as unknown as { outputs?: { isKnown?: Promise<unknown>; isSecret?: Promise<unknown> } };
                root?.outputs?.isKnown?.catch(() => undefined);
                root?.outputs?.isSecret?.catch(() => undefined);
                outputs = await rotationProgram({ env: opts.env ?? ADMIN_ENV, now: opts.now ?? new Date("2026-11-25T12:00:00Z") });
                return outputs as unknown as pulumi.Inputs;
            });
        } catch (err) {
            failure = err;
        }
        await waitForRPCs();
        if (failure !== undefined) throw failure;
        const secretOutputPaths: string[] = [];
        const resolved = await resolveOutputs(outputs, "", secretOutputPaths);
        await waitForRPCs();
        return {
            registrations,
            byUrn: new Map(registrations.map((r) => [r.urn, r])),
            outputs: resolved,
            secretOutputPaths,
            stackOutputEvents,
            invokes,
            generated,
            logs: logs.join(""),
        };
    } finally {
        restoreOut();
        restoreErr();
        consoleMethods.forEach((m, i) => (console[m] = originalConsole[i]));
    }
}

/** Registrations of one type token. */
export function ofType(run: Run, type: string): Registration[] {
    return run.registrations.filter((r) => r.type === type);
}

/** The one registration with this name (throws if none or several). */
export function named(run: Run, name: string): Registration {
    const found = run.registrations.filter((r) => r.name === name);
    if (found.length !== 1) throw new Error(`expected one resource named ${name}, found ${found.length}`);
    return found[0];
}

/** Names of resources whose inputs differ between two runs (or exist in only one). */
export function changedResources(before: Run, after: Run): string[] {
    const names = new Set([...before.registrations, ...after.registrations].map((r) => r.urn));
    const changed: string[] = [];
    for (const urn of names) {
        const a = before.byUrn.get(urn);
        const b = after.byUrn.get(urn);
        if (!a || !b || JSON.stringify(a.inputs) !== JSON.stringify(b.inputs)) changed.push((a ?? b)!.name);
    }
    return changed.sort();
}

/**
 * The admin credentials the program checks for before an `up` that applies slots. Under mocks nothing connects
 * with them; they are distinctive so the leak test can prove they appear nowhere.
 */
export const ADMIN_ENV = {
    ROTATION_PG_ADMIN_URL: "postgresql://admin:PgAdminLeakCanary1@db.internal:5432/buywhere",
    ROTATION_REDIS_ADMIN_URL: "rediss://admin:RedisAdminLeakCanary2@redis.internal:6379/0",
    ROTATION_TYPESENSE_ADMIN_KEY: "TypesenseAdminLeakCanary3",
    CLOUDFLARE_API_TOKEN: "CloudflareLeakCanary4",
} as const;

export const T = {
    password: "random:index/randomPassword:RandomPassword",
    accountToken: "cloudflare:index/accountToken:AccountToken",
    secretVersion: "aws:secretsmanager/secretVersion:SecretVersion",
    secretPatch: "kubernetes:core/v1:SecretPatch",
    secret: "kubernetes:core/v1:Secret",
    deploymentPatch: "kubernetes:apps/v1:DeploymentPatch",
    command: "command:local:Command",
    stackRef: "pulumi:pulumi:StackReference",
} as const;
