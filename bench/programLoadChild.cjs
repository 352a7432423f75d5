/**
 * One measurement of bench/programLoad.ts, in a fresh process: starts the Pulumi Node.js language host's own entry
 * (@pulumi/pulumi/cmd/run, the module `pulumi-language-nodejs` launches) with the arguments and environment the
 * language host gives it, under `pulumi.runtime.setMocks` instead of a live engine, and stops at the first resource
 * the program registers.
 *
 * Plain JavaScript on purpose: nothing but the language host may compile TypeScript in this process (no tsx, no
 * NODE_OPTIONS loader). bench/programLoad.ts spawns it with `node <Pulumi.yaml nodeargs> bench/programLoadChild.cjs`
 * and the environment the language host would set (pulumi/pulumi sdk/nodejs/cmd/pulumi-language-nodejs/main.go
 * `execNodejs`: PULUMI_CONFIG, PULUMI_CONFIG_SECRET_KEYS, PULUMI_NODEJS_TYPESCRIPT=true from Pulumi.yaml's
 * `typescript` option, PULUMI_NODEJS_TSCONFIG_PATH from its `tsconfig` option).
 *
 * What is the language host's, unchanged: cmd/run/index.js parses the arguments, then cmd/run/run.js registers
 * ts-node exactly as it always does (tsutils.loadTypeScriptCompilerOptions, transpileOnly from
 * PULUMI_NODEJS_TRANSPILE_ONLY or `noCheck`, `tsn.register({ compiler, transpileOnly, project, skipProject,
 * compilerOptions })`), requires the program (package.json "main": index.ts) and calls its exported function inside
 * runInPulumiStack. What is not: the resource monitor is the SDK's MockMonitor (setMocks) rather than a gRPC
 * connection, so no engine is needed.
 *
 * The root `pulumi:pulumi:Stack` registration is the SDK's, not the program's, and is passed over. At the first
 * resource of the program the mock writes one JSON line to PROGRAM_LOAD_RESULT_FILE and exits:
 *   { ms: time since the process started (performance.now()), maxRssKiB: process.resourceUsage().maxRSS (peak so
 *     far), resource: "type name", tsNode: the options the registered ts-node service ended up with }.
 *
 * SDK internals relied on (@pulumi/pulumi is pinned exactly in package.json): cmd/run/index.js runs `main` on
 * require and reads process.argv; cmd/run/instrumentation must load before @grpc/grpc-js; setMocks before `main`
 * keeps the monitor a MockMonitor (runtime/settings.js getMonitor: address "mock"); ts-node 10 keeps its service at
 * process[Symbol.for("ts-node.register.instance")].
 */
"use strict";
const { writeFileSync } = require("node:fs");
const { join } = require("node:path");

const resultFile = process.env.PROGRAM_LOAD_RESULT_FILE;
const stack = process.env.PROGRAM_LOAD_STACK || "staging";
const project = process.env.PROGRAM_LOAD_PROJECT;
if (!resultFile || !project) {
    process.stderr.write("programLoadChild: PROGRAM_LOAD_RESULT_FILE and PROGRAM_LOAD_PROJECT are required\n");
    process.exit(2);
}
const runDir = join(process.cwd(), "node_modules", "@pulumi", "pulumi", "cmd", "run");

// cmd/run/index.js: "This must be imported FIRST, before any other modules that might load @grpc/grpc-js."
require(join(runDir, "instrumentation"));

const { setMocks } = require("@pulumi/pulumi/runtime/mocks");

function tsNodeOptions() {
    const service = process[Symbol.for("ts-node.register.instance")];
    if (!service) return null;
    const o = service.config.options;
    return {
        version: service.ts.version,
        transpileOnly: service.options.transpileOnly === true,
        typeCheck: service.options.typeCheck,
        module: o.module,
        moduleResolution: o.moduleResolution,
        target: o.target,
        configFile: service.configFilePath,
    };
}

// PROGRAM_LOAD_ALL=1: run the program to its end instead, and write every registration ("type name", in order).
const all = process.env.PROGRAM_LOAD_ALL === "1";
const registered = [];
if (all) {
    process.on("exit", (code) => writeFileSync(resultFile, `${JSON.stringify({ code, registered, tsNode: tsNodeOptions() })}\n`));
}

let done = false;
setMocks(
    {
        newResource(args) {
            if (all) registered.push(`${args.type} ${args.name}`);
            else if (args.type !== "pulumi:pulumi:Stack" && !done) {
                done = true;
                const ms = performance.now();
                const maxRssKiB = process.resourceUsage().maxRSS;
                writeFileSync(resultFile, `${JSON.stringify({ ms, maxRssKiB, resource: `${args.type} ${args.name}`, tsNode: tsNodeOptions() })}\n`);
                process.exit(0);
            }
            return { id: `${args.name}-id`, state: { ...args.inputs, outputs: {} } };
        },
        call() {
            return {};
        },
    },
    project,
    stack,
    /* preview (pulumi preview, a --dry-run) */ true,
    "organization",
);

// The command line pulumi-language-nodejs builds (main.go `constructArguments`), minus the addresses of a live engine.
process.argv = [
    process.argv[0],
    runDir,
    "--monitor",
    "mock",
    "--organization",
    "organization",
    "--project",
    project,
    "--stack",
    stack,
    "--pwd",
    process.cwd(),
    "--dry-run",
    "--parallel",
    "16",
    process.env.PROGRAM_LOAD_ENTRY || ".",
];
require(runDir);
