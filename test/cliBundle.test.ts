/**
 * The CLI runs from a bundle of its TypeScript (bin/bundle.js, issue 17 item 3): built on first start, reused while
 * every file it was built from is unchanged, rebuilt when one changes, and the TypeScript sources through tsx when it
 * cannot be written. Each case runs the bin of a small project of its own (node_modules linked to this one's) in a
 * fresh process, as users start the CLI; the last cases look at the real project's bundle.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { REAL_BIN } from "./support/cli";
import { ROOT } from "./support/pulumiProgram";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const bundle = require("../bin/bundle.js") as { BUNDLE: string; isFresh(root: string, file: string): boolean };

const projects: string[] = [];
afterAll(() => projects.forEach((p) => rmSync(p, { recursive: true, force: true })));

/** A project whose CLI prints `greeting()` from a second module and throws from it with `--throw`. */
function miniProject(greeting = "hello"): string {
    const dir = mkdtempSync(join(tmpdir(), "rotation-bundle-"));
    projects.push(dir);
    mkdirSync(join(dir, "automation"));
    mkdirSync(join(dir, "bin"));
    symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
    writeFileSync(join(dir, "bin", "bundle.js"), readFileSync(join(ROOT, "bin", "bundle.js")));
    writeFileSync(join(dir, "tsconfig.json"), readFileSync(join(ROOT, "tsconfig.json")));
    writeFileSync(
        join(dir, "bin", "cli.js"),
        [
            '"use strict";',
            "process.setSourceMapsEnabled(true);",
            'const loaded = require("./bundle").loadCli(require("node:path").join(__dirname, ".."));',
            "process.stdout.write(`${loaded.from} ${loaded.cli.runCli(process.argv.slice(2))}\\n`);",
        ].join("\n"),
    );
    writeFileSync(
        join(dir, "automation", "entry.ts"),
        ['import { greeting } from "./greeting";', "", "export function runCli(args: string[]): string {", "    return greeting(args.includes(\"--throw\"));", "}", ""].join("\n"),
    );
    setGreeting(dir, greeting);
    return dir;
}

function setGreeting(dir: string, greeting: string): void {
    writeFileSync(
        join(dir, "automation", "greeting.ts"),
        [
            "export function greeting(fail: boolean): string {",
            "    if (fail) {",
            '        throw new Error("from greeting.ts line 3");',
            "    }",
            `    return ${JSON.stringify(greeting)} as string;`,
            "}",
            "",
        ].join("\n"),
    );
}

function runBin(dir: string, ...args: string[]) {
    const r = spawnSync(process.execPath, [join(dir, "bin", "cli.js"), ...args], { cwd: dir, encoding: "utf8", env: { PATH: process.env.PATH ?? "" } });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("the CLI's bundle (bin/bundle.js)", () => {
    it("is built on first start, then reused unchanged: a touched but unchanged source does not rebuild it", () => {
        const dir = miniProject();
        expect(runBin(dir)).toEqual({ code: 0, stdout: "built hello\n", stderr: "" });
        const file = join(dir, bundle.BUNDLE);
        const built = statSync(file).mtimeMs;
        expect(runBin(dir)).toEqual({ code: 0, stdout: "bundle hello\n", stderr: "" });
        const later = new Date(Date.now() + 60_000);
        utimesSync(join(dir, "automation", "greeting.ts"), later, later);
        expect(bundle.isFresh(dir, file)).toBe(true);
        expect(runBin(dir)).toEqual({ code: 0, stdout: "bundle hello\n", stderr: "" });
        expect(statSync(file).mtimeMs).toBe(built);
    });

    it("is rebuilt when a file it was built from changes, when tsconfig.json changes, and when a file it was built from is gone", () => {
        const dir = miniProject();
        const file = join(dir, bundle.BUNDLE);
        expect(runBin(dir).stdout).toBe("built hello\n");
        setGreeting(dir, "changed");
        expect(bundle.isFresh(dir, file)).toBe(false);
        expect(runBin(dir)).toEqual({ code: 0, stdout: "built changed\n", stderr: "" });

        const tsconfig = JSON.parse(readFileSync(join(dir, "tsconfig.json"), "utf8"));
        writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ ...tsconfig, compilerOptions: { ...tsconfig.compilerOptions, noUnusedLocals: false } }));
        expect(bundle.isFresh(dir, file)).toBe(false);
        expect(runBin(dir).stdout).toBe("built changed\n");

        // The entry stops importing greeting.ts and the file goes: the digest of the old inputs cannot be computed.
        writeFileSync(join(dir, "automation", "entry.ts"), 'export function runCli(): string {\n    return "alone";\n}\n');
        rmSync(join(dir, "automation", "greeting.ts"));
        expect(bundle.isFresh(dir, file)).toBe(false);
        expect(runBin(dir).stdout).toBe("built alone\n");
        expect(runBin(dir).stdout).toBe("bundle alone\n");
    });

    it("is rebuilt when it is not a bundle of ours (truncated, or written by something else)", () => {
        const dir = miniProject();
        runBin(dir);
        writeFileSync(join(dir, bundle.BUNDLE), "module.exports = { runCli: () => 'stale' };\n");
        expect(runBin(dir).stdout).toBe("built hello\n");
        writeFileSync(join(dir, bundle.BUNDLE), readFileSync(join(dir, bundle.BUNDLE), "utf8").slice(0, 40));
        expect(runBin(dir).stdout).toBe("built hello\n");
    });

    it("maps stack traces to the TypeScript sources (the header line is accounted for in the source map)", () => {
        const dir = miniProject();
        runBin(dir);
        const r = runBin(dir, "--throw");
        expect(r.code).toBe(1);
        expect(r.stderr).toContain("Error: from greeting.ts line 3");
        expect(r.stderr).toMatch(/automation\/greeting\.ts:3:\d+/);
    });

    it("when dist/ cannot be written, the CLI runs from the TypeScript sources after one line saying why", () => {
        const dir = miniProject();
        writeFileSync(join(dir, "dist"), "a file where the directory should be");
        const r = runBin(dir);
        expect(r.code).toBe(0);
        expect(r.stdout).toBe("sources hello\n");
        expect(r.stderr.split("\n").filter(Boolean)).toEqual([expect.stringMatching(/^note: could not build dist\/secrets-rotation\.cjs \(.*\); running from the TypeScript sources, which starts slower$/)]);
    });

    it("two CLIs starting at once on a project without a bundle both run (each writes a whole bundle and renames it)", async () => {
        const dir = miniProject();
        const { spawn } = await import("node:child_process");
        const start = () =>
            new Promise<string>((resolve) => {
                const child = spawn(process.execPath, [join(dir, "bin", "cli.js")], { cwd: dir, env: { PATH: process.env.PATH ?? "" } });
                let out = "";
                child.stdout.on("data", (d) => (out += d));
                child.on("close", (code) => resolve(`${code} ${out}`));
            });
        const results = await Promise.all([start(), start(), start()]);
        for (const r of results) expect(r).toMatch(/^0 (built|bundle) hello\n$/);
        expect(bundle.isFresh(dir, join(dir, bundle.BUNDLE))).toBe(true);
    });
});

describe("the real CLI's bundle", () => {
    const header = () => {
        // The real bin builds it when missing or stale.
        expect(spawnSync(process.execPath, [REAL_BIN, "--version"], { cwd: ROOT, encoding: "utf8" }).status).toBe(0);
        const first = readFileSync(join(ROOT, bundle.BUNDLE), "utf8").split("\n", 1)[0];
        return JSON.parse(first.replace(/^\/\/ secrets-rotation bundle /, "")) as { inputs: string[] };
    };

    it("holds only this project's CLI code: no npm package, and not the Pulumi program or its components", () => {
        const { inputs } = header();
        expect(inputs).toContain("automation/entry.ts");
        expect(inputs).toContain("automation/pulumiEngine.ts");
        for (const input of inputs) {
            expect(input).not.toMatch(/node_modules/);
            expect(input).toMatch(/^(automation|rotation|hooks)\/[\w/]+\.ts$|^package\.json$/);
        }
        expect(inputs).not.toContain("index.ts");
        expect(inputs).not.toContain("rotation/program.ts");
        expect(inputs.filter((i) => i.startsWith("rotation/components/"))).toEqual([]);
    });

    it("finds the project directory (the stack files) from dist/: `plan` reads Pulumi.staging.yaml", () => {
        header();
        const r = spawnSync(process.execPath, [REAL_BIN, "plan", "rotate", "--service", "jwt", "--stack", "staging"], { cwd: tmpdir(), encoding: "utf8", env: { PATH: process.env.PATH ?? "" } });
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
        expect(r.stdout).toContain("jwt");
    });
});
