// How the `secrets-rotation` CLI's TypeScript becomes the JavaScript its bin runs (issue 17, item 3: the CLI adds at
// most 0.3 s before handing over to Pulumi).
//
// Compiling on the fly costs most of that budget: tsx's require hook (https://tsx.is/dev-api/register-cjs) sits in
// front of every module the CLI loads, its own sources and node_modules alike, and roughly doubles their load time
// (bench/programLoad.ts, `--only=handover`, measured it). So the CLI runs from one CommonJS bundle of its own sources
// (`automation/entry.ts` and everything it imports from this project), built by esbuild
// (https://esbuild.github.io/api/#build, `bundle`, `platform: "node"`, `packages: "external"`: every npm package
// stays a plain `require` of node_modules, so there is still one copy of each and @pulumi/pulumi is the installed one).
//
// The bundle is a build product, never committed (dist/ is ignored): it is built the first time the CLI starts and
// again whenever it is stale, so `npm ci` followed by the CLI needs nothing else, and no install script is relied on
// (npm here runs none of the dependencies', and the root's `prepare` is skipped under `--ignore-scripts`). Stale
// means: the first line of the bundle records a digest of every file esbuild read (metafile `inputs`), of
// tsconfig.json, of this file and of esbuild's version; on start the same digest is computed from the files on disk
// (a few milliseconds for about 60 files) and a difference rebuilds (about 150 ms). The bundle is written to a
// temporary file and renamed, so two CLIs starting at once never read half a bundle.
//
// When the bundle cannot be built or written (a read-only checkout, a `dist` that is not a directory), the CLI runs
// from its TypeScript sources through tsx exactly as before, after one line on stderr saying why start-up is slower.
"use strict";
const { createHash } = require("node:crypto");
const { closeSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, writeFileSync } = require("node:fs");
const { dirname, join } = require("node:path");

const ENTRY = join("automation", "entry.ts");
const BUNDLE = join("dist", "secrets-rotation.cjs");
const HEADER = "// secrets-rotation bundle ";

/** The digest of the files a bundle was built from, with everything else that changes its output. */
function digestOf(root, inputs, version) {
    const hash = createHash("sha256");
    hash.update(`esbuild ${version}\n`);
    hash.update(readFileSync(__filename));
    for (const name of ["tsconfig.json", ...inputs]) {
        hash.update(`\n${name}\n`);
        hash.update(readFileSync(join(root, name)));
    }
    return hash.digest("hex");
}

/** The bundle's first line, parsed; undefined when there is no bundle or it is not one of ours. */
function readHeader(file) {
    let fd;
    try {
        fd = openSync(file, "r");
    } catch {
        return undefined;
    }
    try {
        const buffer = Buffer.alloc(64 * 1024);
        const n = readSync(fd, buffer, 0, buffer.length, 0);
        const line = buffer.subarray(0, n).toString("utf8").split("\n", 1)[0];
        if (!line.startsWith(HEADER)) return undefined;
        const header = JSON.parse(line.slice(HEADER.length));
        return typeof header.digest === "string" && Array.isArray(header.inputs) ? header : undefined;
    } catch {
        return undefined;
    } finally {
        closeSync(fd);
    }
}

/** Whether the bundle at `file` was built from the files now on disk. */
function isFresh(root, file) {
    const header = readHeader(file);
    if (header === undefined) return false;
    try {
        return digestOf(root, header.inputs, esbuildVersion(root)) === header.digest;
    } catch {
        return false; // an input was removed or renamed
    }
}

/** Resolves a package the way the project's own modules do. */
function fromProject(root, request) {
    return require.resolve(request, { paths: [root] });
}

function esbuildVersion(root) {
    return JSON.parse(readFileSync(fromProject(root, "esbuild/package.json"), "utf8")).version;
}

/** Builds the bundle of `root`'s CLI into the path `target` (atomically). Throws when esbuild fails or it cannot be written. */
function build(root, target) {
    const esbuild = require(fromProject(root, "esbuild"));
    const result = esbuild.buildSync({
        absWorkingDir: root,
        entryPoints: [ENTRY],
        bundle: true,
        platform: "node",
        format: "cjs",
        target: "node20",
        packages: "external",
        tsconfig: join(root, "tsconfig.json"),
        // Keeps function and class names (errors' `name`, stack frames) as in the sources when files share a name.
        keepNames: true,
        sourcemap: "linked",
        outfile: target,
        metafile: true,
        write: false,
        logLevel: "silent",
    });
    const inputs = Object.keys(result.metafile.inputs).sort();
    const header = HEADER + JSON.stringify({ digest: digestOf(root, inputs, esbuild.version), inputs });
    mkdirSync(dirname(target), { recursive: true });
    for (const out of result.outputFiles) {
        const temporary = `${out.path}.${process.pid}.tmp`;
        writeFileSync(temporary, out.path.endsWith(".map") ? shiftedOneLine(out.text) : `${header}\n${out.text}`);
        try {
            renameSync(temporary, out.path);
        } catch (err) {
            rmSync(temporary, { force: true });
            throw err;
        }
    }
}

/**
 * The source map of a bundle that got the header as a new first line: an empty first line of mappings (";", the
 * separator of generated lines, https://tc39.es/ecma426/#sec-mappings) moves every mapping one line down.
 */
function shiftedOneLine(map) {
    const parsed = JSON.parse(map);
    parsed.mappings = `;${parsed.mappings}`;
    return JSON.stringify(parsed);
}

/**
 * The CLI module (`automation/entry.ts`'s exports) of the project at `root`: from a fresh bundle, else from a bundle
 * built now, else from the TypeScript sources through tsx, after one line on `stderr` saying why.
 *
 * @returns the module and where it came from ("bundle", "built" or "sources"), for the tests.
 */
function loadCli(root, stderr = process.stderr) {
    const file = join(root, BUNDLE);
    if (isFresh(root, file)) return { cli: require(file), from: "bundle" };
    try {
        build(root, file);
    } catch (err) {
        const reason = err && err.message ? String(err.message).split("\n")[0] : String(err);
        stderr.write(`note: could not build ${BUNDLE} (${reason}); running from the TypeScript sources, which starts slower\n`);
        require(fromProject(root, "tsx/cjs"));
        return { cli: require(join(root, ENTRY)), from: "sources" };
    }
    // Outside the `try`: an error the CLI's own code throws while loading is that error, not a reason to fall back.
    return { cli: require(file), from: "built" };
}

module.exports = { BUNDLE, build, isFresh, loadCli };
