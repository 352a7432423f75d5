/**
 * A test probe loaded into a hook process with NODE_OPTIONS="--require <this file>": it records, each time the
 * process first loads a package (a bare specifier that is not a Node built-in), which of the variables named in
 * ENV_PROBE_NAMES (comma-separated) are in process.env at that moment, and which are left at exit. It writes the
 * record as JSON to the file ENV_PROBE_OUT, each load with `by`: the package that asked for it (e.g. `tsx`, the
 * loader on the command line, which runs before any hook code), or "project". Names only, never a value. Test code
 * only: no hook reads these variables.
 */
"use strict";
const Module = require("node:module");
const { writeFileSync } = require("node:fs");
const { isBuiltin } = require("node:module");

const names = (process.env.ENV_PROBE_NAMES || "").split(",").filter(Boolean);
const out = process.env.ENV_PROBE_OUT;
const visible = () => names.filter((n) => n in process.env);
const packageOf = (file) => {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(?!.*node_modules\/)/.exec(file || "");
    return m ? m[1] : "project";
};
const loads = [];
const seen = new Set();
const load = Module._load;
Module._load = function (request, parent, isMain) {
    const pkg = request.startsWith("@") ? request.split("/").slice(0, 2).join("/") : request.split("/")[0];
    if (!request.startsWith(".") && !request.startsWith("/") && !isBuiltin(request) && !seen.has(pkg)) {
        seen.add(pkg);
        loads.push({ module: pkg, by: packageOf(parent && parent.filename), visible: visible() });
    }
    return load.apply(this, arguments);
};
process.on("exit", () => {
    if (out) writeFileSync(out, JSON.stringify({ loads, atExit: visible() }));
});
