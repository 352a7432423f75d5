/**
 * Canary for automation/automationApi.ts: the Automation API is loaded with `@pulumi/pulumi/runtime/index.js`
 * deferred, which is sound only while the Automation API takes nothing from it at load time and nothing but
 * `grpcChannelOptions` (re-exported from `runtime/settings.js`) before a `pulumi` run starts. After an SDK bump, a
 * failure here says what changed. The loading itself is checked in fresh processes, whose module caches are their own.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { DEFERRED_RUNTIME_EXPORTS } from "../automation/automationApi";
import { ROOT } from "./support/pulumiProgram";

const SDK = join(ROOT, "node_modules", "@pulumi", "pulumi");

/** Runs `code` in a fresh node with tsx (as the sources run) and returns what it printed as JSON. */
function fresh(code: string): any {
    const r = spawnSync(process.execPath, ["--import", "tsx", "-e", code], { cwd: ROOT, encoding: "utf8", env: { PATH: process.env.PATH ?? "" } });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    return JSON.parse(r.stdout);
}

const PRELUDE = `
const loaded = (fragment) => Object.keys(require.cache).some((f) => f.includes(fragment));
const { loadAutomationApi } = require("./automation/automationApi.ts");
`;

describe("the Automation API without the SDK's runtime index (automation/automationApi.ts)", () => {
    it("every file of the Automation API that requires ../runtime uses only the deferred names from it", () => {
        const dir = join(SDK, "automation");
        const uses = new Map<string, Set<string>>();
        for (const file of readdirSync(dir).filter((f) => f.endsWith(".js"))) {
            const text = readFileSync(join(dir, file), "utf8");
            // `const runtime_1 = require("../runtime");` (tsc's CommonJS output), with or without __importStar.
            for (const m of text.matchAll(/const (\w+) = (?:__importStar\()?require\("\.\.\/runtime(?:\/index)?"\)/g)) {
                const names = new Set([...text.matchAll(new RegExp(`\\b${m[1]}\\.(\\w+)`, "g"))].map((u) => u[1]));
                // The binding is only ever read as `<binding>.<name>`, never passed on whole.
                expect(text.match(new RegExp(`\\b${m[1]}\\b(?!\\.)`, "g"))?.length, `${file} passes ${m[1]} on whole`).toBe(1);
                uses.set(file, names);
            }
        }
        expect([...uses.keys()]).toEqual(["stack.js"]);
        expect([...uses.get("stack.js")!]).toEqual(Object.keys(DEFERRED_RUNTIME_EXPORTS));
    });

    it("the deferred names are the very objects the real runtime index exports", () => {
        const same = fresh(`
            const index = require("@pulumi/pulumi/runtime/index.js");
            const from = ${JSON.stringify(DEFERRED_RUNTIME_EXPORTS)};
            process.stdout.write(JSON.stringify(Object.entries(from).map(([name, file]) => [name, index[name] !== undefined && index[name] === require(file)[name]])));
        `);
        expect(same).toEqual(Object.keys(DEFERRED_RUNTIME_EXPORTS).map((name) => [name, true]));
    });

    it("loads the Automation API without TypeScript or npm's arborist, and its gRPC options without them", () => {
        const r = fresh(`${PRELUDE}
            const api = loadAutomationApi();
            const options = require("@pulumi/pulumi/runtime/index.js").grpcChannelOptions;
            process.stdout.write(JSON.stringify({
                classes: [typeof api.LocalWorkspace, typeof api.Stack, typeof api.PulumiCommand, typeof api.StackNotFoundError],
                typescript: loaded("/node_modules/typescript/"),
                arborist: loaded("/@npmcli/arborist/"),
                options: Object.keys(options),
                same: loadAutomationApi() === api,
            }));
        `);
        expect(r).toEqual({
            classes: ["function", "function", "function", "function"],
            typescript: false,
            arborist: false,
            options: ["grpc.max_receive_message_length", "grpc.server_max_unrequested_time_in_server"],
            same: true,
        });
    });

    it("anything else taken from the runtime index loads the real one and behaves as it does", () => {
        const r = fresh(`${PRELUDE}
            loadAutomationApi();
            const deferred = require("@pulumi/pulumi/runtime/index.js");
            const before = loaded("/node_modules/typescript/");
            const serialize = typeof deferred.serializeFunction;
            const keys = Object.keys(deferred);
            const root = require("@pulumi/pulumi");
            process.stdout.write(JSON.stringify({
                before,
                after: loaded("/node_modules/typescript/"),
                serialize,
                keysIncludeSettings: keys.includes("grpcChannelOptions") && keys.includes("serializeFunction"),
                esModule: deferred.__esModule === true,
                inRoot: typeof root.runtime.serializeFunction,
                cacheIsReal: require.cache[require.resolve("@pulumi/pulumi/runtime/index.js")].exports.serializeFunction === deferred.serializeFunction,
            }));
        `);
        expect(r).toEqual({ before: false, after: true, serialize: "function", keysIncludeSettings: true, esModule: true, inRoot: "function", cacheIsReal: true });
    });

    it("when the runtime index is already loaded (a process running a program), nothing is deferred", () => {
        const r = fresh(`${PRELUDE}
            const index = require("@pulumi/pulumi/runtime/index.js");
            loadAutomationApi();
            process.stdout.write(JSON.stringify({ same: require("@pulumi/pulumi/runtime/index.js") === index }));
        `);
        expect(r).toEqual({ same: true });
    });

    it("the SDK this was checked against", () => {
        // A bump must re-read automation/stack.js and runtime/index.js (see automation/automationApi.ts).
        expect(JSON.parse(readFileSync(join(dirname(join(SDK, "automation")), "package.json"), "utf8")).version).toBe("3.248.0");
    });
});
