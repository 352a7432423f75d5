/**
 * Canary for what test/support/pulumiProgram.ts takes from @pulumi/pulumi beyond its documented API (the list is in
 * that file's header): `waitForRPCs`, the `MockMonitor` and the request and response getters it records
 * registrations and stack outputs from, the root stack `runInPulumiStack` creates, the secret marker, and
 * `pulumi.log` writing through `console` without an engine. The SDK is pinned to an exact version
 * for them; after a bump, a failure here names what the harness must stop relying on before the program tests that
 * use it can be trusted again. Also checks the harness's own process-wide patching.
 */
import * as pulumi from "@pulumi/pulumi";
import { MockMonitor } from "@pulumi/pulumi/runtime/mocks";
import * as rpc from "@pulumi/pulumi/runtime/rpc";
import * as settings from "@pulumi/pulumi/runtime/settings";
import { version } from "@pulumi/pulumi/version";
import { spawnSync } from "node:child_process";
import { afterEach, describe, expect, it, vi } from "vitest";
import { SECRET_SIG } from "./support/fixtures";
import { ADMIN_ENV, ROOT, runProgramExpectingFailure } from "./support/pulumiProgram";

const SDK = `@pulumi/pulumi ${version}`;

class Thing extends pulumi.CustomResource {
    constructor(name: string, props: pulumi.Inputs, opts?: pulumi.CustomResourceOptions) {
        super("canary:index:Thing", name, props, opts);
    }
}

/** Every getter the harness calls on a `RegisterResourceRequest`. */
const REQUEST_GETTERS = [
    "getType",
    "getName",
    "getCustom",
    "getParent",
    "getDependenciesList",
    "getPropertydependenciesMap",
    "getObject",
    "getRetainondelete",
    "getReplaceonchangesList",
    "getDeletebeforereplace",
    "getProtect",
    "getImportid",
    "getCustomtimeouts",
] as const;
/** Every getter the harness calls on a `RegisterResourceResponse`. */
const RESPONSE_GETTERS = ["getUrn", "getId", "getObject"] as const;

afterEach(() => {
    vi.restoreAllMocks();
});

describe(`SDK internals the program harness relies on (${SDK})`, () => {
    it("runtime/settings exports waitForRPCs()", () => {
        expect(typeof (settings as unknown as { waitForRPCs?: unknown }).waitForRPCs, `${SDK}: runtime/settings.waitForRPCs is gone`).toBe("function");
    });

    it("runtime/rpc marks a special value with the key the harness calls SECRET_SIG", () => {
        expect(rpc.specialSigKey, `${SDK}: runtime/rpc.specialSigKey changed`).toBe(SECRET_SIG);
    });

    it("setMocks installs a MockMonitor whose registerResource and registerResourceOutputs can be wrapped; requests carry what the harness records", async () => {
        const invoked: string[] = [];
        await pulumi.runtime.setMocks(
            {
                newResource: (args) => ({ id: args.id || `${args.name}-id`, state: { ...args.inputs, made: "by-mock" } }),
                call: (args) => {
                    invoked.push(args.token);
                    return args.inputs;
                },
            },
            "canary",
            "dev",
            false,
        );
        type Callback = (err: any, resp: any) => void;
        const monitor = settings.getMonitor() as unknown as {
            registerResource: (req: any, callback: Callback) => unknown;
            registerResourceOutputs: (req: any, callback: Callback) => unknown;
        };
        expect(monitor, `${SDK}: getMonitor() no longer returns the MockMonitor setMocks installed`).toBeInstanceOf(MockMonitor);
        for (const method of ["registerResource", "registerResourceOutputs"] as const) {
            expect(typeof monitor[method], `${SDK}: MockMonitor.${method} is gone`).toBe("function");
            expect(monitor[method].length, `${SDK}: MockMonitor.${method} no longer takes (req, callback)`).toBe(2);
        }

        const seen: { req: any; resp: any }[] = [];
        const register = monitor.registerResource.bind(monitor);
        monitor.registerResource = (req, callback) =>
            register(req, (err, resp) => {
                if (!err) seen.push({ req, resp });
                callback(err, resp);
            });
        const outputsEvents: { urn: string; outputs: unknown }[] = [];
        const registerOutputs = monitor.registerResourceOutputs.bind(monitor);
        monitor.registerResourceOutputs = (req, callback) => {
            outputsEvents.push({ urn: req.getUrn(), outputs: req.getOutputs()?.toJavaScript() });
            return registerOutputs(req, callback);
        };

        let root: unknown;
        await pulumi.runtime.runInPulumiStack(async () => {
            root = pulumi.runtime.getStackResource();
            const parent = new pulumi.ComponentResource("canary:index:Parent", "parent", {});
            const dep = new Thing("dep", { a: "1" }, { parent });
            new Thing(
                "thing",
                { plain: "p", secret: pulumi.secret("canary-secret"), fromDep: dep.id },
                {
                    parent,
                    dependsOn: [dep],
                    retainOnDelete: true,
                    replaceOnChanges: ["plain"],
                    deleteBeforeReplace: true,
                    protect: true,
                    customTimeouts: { create: "2m" },
                },
            );
            new Thing("adopted", {}, { import: "existing-id" });
            await pulumi.runtime.invoke("canary:index:lookup", { q: 1 });
            return { exported: "value" };
        });
        const waitForRPCs = (settings as unknown as { waitForRPCs: () => Promise<void> }).waitForRPCs;
        await waitForRPCs();

        // runtime/stack: the program runs inside a root Stack resource, whose Output's isKnown/isSecret promises the
        // harness silences when a program fails.
        const rootOutputs = (root as { outputs?: { isKnown?: unknown; isSecret?: unknown } } | undefined)?.outputs;
        expect(typeof (rootOutputs?.isKnown as Promise<unknown>)?.then, `${SDK}: getStackResource().outputs.isKnown is no promise`).toBe("function");
        expect(typeof (rootOutputs?.isSecret as Promise<unknown>)?.then, `${SDK}: getStackResource().outputs.isSecret is no promise`).toBe("function");
        const names = seen.map((s) => s.req.getName());
        expect(names, `${SDK}: waitForRPCs() resolved before every registration reached the monitor`).toEqual(expect.arrayContaining(["parent", "dep", "thing", "adopted"]));
        expect(seen.map((s) => s.req.getType()), `${SDK}: the root stack is no longer registered as pulumi:pulumi:Stack`).toContain("pulumi:pulumi:Stack");
        expect(outputsEvents, `${SDK}: the root stack's outputs no longer reach registerResourceOutputs under a ::pulumi:pulumi:Stack:: URN`).toContainEqual({
            urn: expect.stringContaining("::pulumi:pulumi:Stack::"),
            outputs: { exported: "value" },
        });
        expect(invoked, `${SDK}: an invoke no longer reaches the mocks' call with its token`).toEqual(["canary:index:lookup"]);

        const urn = (name: string) => seen.find((s) => s.req.getName() === name)!.resp.getUrn() as string;
        const { req, resp } = seen.find((s) => s.req.getName() === "thing")!;
        for (const getter of REQUEST_GETTERS) {
            expect(typeof req[getter], `${SDK}: RegisterResourceRequest.${getter} is gone`).toBe("function");
        }
        for (const getter of RESPONSE_GETTERS) {
            expect(typeof resp[getter], `${SDK}: RegisterResourceResponse.${getter} is gone`).toBe("function");
        }
        expect(resp.getUrn()).toMatch(/::thing$/);
        expect(resp.getId()).toBe("thing-id");
        expect(resp.getObject().toJavaScript()).toMatchObject({ plain: "p", made: "by-mock" });
        expect(req.getType()).toBe("canary:index:Thing");
        expect(req.getCustom()).toBe(true);
        expect(req.getParent()).toBe(urn("parent"));
        expect(req.getDependenciesList(), `${SDK}: explicit dependsOn no longer in getDependenciesList()`).toContain(urn("dep"));
        const propertyDeps: Record<string, string[]> = {};
        req.getPropertydependenciesMap().forEach((v: any, k: string) => (propertyDeps[k] = v.getUrnsList()));
        expect(propertyDeps.fromDep, `${SDK}: output-borne dependencies no longer in getPropertydependenciesMap()`).toEqual([urn("dep")]);
        const object = req.getObject().toJavaScript();
        expect(object.plain).toBe("p");
        expect(object.secret, `${SDK}: a secret input is no longer serialized as { [SECRET_SIG]: <secret sig>, value }`).toEqual({
            [SECRET_SIG]: rpc.specialSecretSig,
            value: "canary-secret",
        });
        expect(req.getRetainondelete()).toBe(true);
        expect(req.getReplaceonchangesList()).toEqual(["plain"]);
        expect(req.getDeletebeforereplace()).toBe(true);
        expect(req.getProtect()).toBe(true);
        const timeouts = req.getCustomtimeouts();
        expect([timeouts?.getCreate?.(), timeouts?.getUpdate?.(), timeouts?.getDelete?.()], `${SDK}: customTimeouts no longer readable from the request`).toEqual(["2m", "", ""]);
        expect(seen.find((s) => s.req.getName() === "adopted")!.req.getImportid(), `${SDK}: the import option no longer in getImportid()`).toBe("existing-id");
    });

    it("without an engine, pulumi.log writes through console (where the harness captures it)", async () => {
        await pulumi.runtime.setMocks({ newResource: (args) => ({ id: "x", state: args.inputs }), call: (args) => args.inputs });
        const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
        await pulumi.log.warn("canary warning");
        expect(warn, `${SDK}: pulumi.log.warn no longer writes through console.warn without an engine`).toHaveBeenCalledWith(expect.stringContaining("canary warning"));
    });
});

describe("the harness's own process-wide effects", () => {
    it("restores stdout, stderr and console after a run, even a failed one", async () => {
        const before = { out: process.stdout.write, err: process.stderr.write, log: console.log, warn: console.warn, error: console.error };
        const { error } = await runProgramExpectingFailure({ stack: "staging", env: { ...ADMIN_ENV, ROTATION_REQUEST: "not json" } });
        expect(error.message).toContain("ROTATION_REQUEST");
        expect({ out: process.stdout.write, err: process.stderr.write, log: console.log, warn: console.warn, error: console.error }).toEqual(before);
    });

    it("loads outside vitest (bench/run.ts imports it under tsx)", () => {
        const r = spawnSync(process.execPath, ["--import", "tsx", "--eval", 'require("./test/support/pulumiProgram"); console.log("loaded")'], {
            cwd: ROOT,
            encoding: "utf8",
            timeout: 60_000,
        });
        expect(r.stderr.split("\n")[0], "test/support/pulumiProgram.ts (or what it imports) cannot load outside vitest").toBe("");
        expect(r.stdout.trim()).toBe("loaded");
    });
});
