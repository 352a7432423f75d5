/**
 * The Pulumi Automation API, loaded without the half of the SDK it does not use (issue 17, item 3: the CLI adds at
 * most 0.3 s before handing over to Pulumi).
 *
 * `@pulumi/pulumi/automation` requires `../runtime` (@pulumi/pulumi 3.248.0 automation/stack.js, line 41), and
 * `runtime/index.js` loads the closure serializer on import: `closure/serializeClosure` brings TypeScript
 * (`typescript-shim.js`) and `closure/codePaths` brings npm's arborist, pacote and sigstore. That is about 500 of the
 * 770 modules and 250 of the 330 ms the plain `require` takes on this machine (bench/programLoad.ts prints the
 * figures). The Automation API uses one thing from it: `runtime_1.grpcChannelOptions`, spread into the options of
 * the gRPC servers it starts for the engine's events and for inline programs (stack.js, seven places, all inside
 * `up`/`preview`/`refresh`/`destroy`/`import`), which `runtime/index.js` re-exports from `./settings`
 * (`__export(require("./settings"))`).
 *
 * So, before the first `require` of the Automation API, `runtime/index.js` is put in Node's module cache as a proxy:
 * `grpcChannelOptions` comes from `runtime/settings.js` (the same object the real index re-exports), and any other
 * use of the proxy loads the real `runtime/index.js` and forwards to it, so nothing behaves differently, it only
 * loads later. The SDK is pinned to an exact version; test/automationApi.test.ts fails on a bump that changes what the
 * Automation API takes from `../runtime` or where `grpcChannelOptions` comes from.
 *
 * When `runtime/index.js` is already loaded (a process that also runs a Pulumi program), nothing is proxied.
 */
import type * as automation from "@pulumi/pulumi/automation";
import Module, { createRequire } from "node:module";

export type AutomationApi = typeof automation;

/** What the Automation API takes from `runtime/index.js` without loading it: name -> the module that defines it. */
export const DEFERRED_RUNTIME_EXPORTS: Readonly<Record<string, string>> = { grpcChannelOptions: "@pulumi/pulumi/runtime/settings.js" };

let api: AutomationApi | undefined;

/** The Automation API (`@pulumi/pulumi/automation`), loaded once. */
export function loadAutomationApi(): AutomationApi {
    if (api !== undefined) return api;
    const load = createRequire(__filename);
    deferRuntimeIndex(load);
    api = load("@pulumi/pulumi/automation") as AutomationApi;
    return api;
}

function deferRuntimeIndex(load: NodeJS.Require): void {
    const file = load.resolve("@pulumi/pulumi/runtime/index.js");
    const cache = load.cache as Record<string, NodeJS.Module>;
    if (cache[file] !== undefined) return;
    let real: Record<PropertyKey, unknown> | undefined;
    const loadReal = (): Record<PropertyKey, unknown> => {
        if (real === undefined) {
            if (cache[file] === proxied) delete cache[file];
            real = load(file) as Record<PropertyKey, unknown>;
        }
        return real;
    };
    const exports = new Proxy({} as Record<PropertyKey, unknown>, {
        get: (_, name) =>
            real === undefined && typeof name === "string" && Object.hasOwn(DEFERRED_RUNTIME_EXPORTS, name)
                ? (load(DEFERRED_RUNTIME_EXPORTS[name]) as Record<string, unknown>)[name]
                : loadReal()[name],
        has: (_, name) => name in loadReal(),
        ownKeys: () => Reflect.ownKeys(loadReal()),
        // Reported configurable: a proxy may not report a property non-configurable that its (empty) target lacks.
        getOwnPropertyDescriptor: (_, name) => {
            const d = Object.getOwnPropertyDescriptor(loadReal(), name);
            return d === undefined ? undefined : { ...d, configurable: true };
        },
        set: (_, name, value) => Reflect.set(loadReal(), name, value),
        defineProperty: (_, name, d) => Reflect.defineProperty(loadReal(), name, d),
        deleteProperty: (_, name) => Reflect.deleteProperty(loadReal(), name),
        getPrototypeOf: () => Reflect.getPrototypeOf(loadReal()),
    });
    const proxied = new Module(file);
    proxied.filename = file;
    proxied.loaded = true;
    proxied.exports = exports;
    cache[file] = proxied;
}
