/**
 * Ctrl-C and the checkout's selected stack, with the REAL Automation API engine (bin/secrets-rotation.js) driving a
 * DOUBLE of the `pulumi` CLI on PATH (test/support/fakePulumi.cjs: not Pulumi; it counts the signals it receives).
 *
 * - Not in a terminal (CI; `kill -INT <pid>`): the signal reaches the CLI only, and the CLI forwards exactly one
 *   SIGINT per Ctrl-C.
 * - In a terminal (a real pseudo-terminal made by util-linux `script`, Ctrl-C typed into it): the terminal already
 *   delivers SIGINT to the whole foreground process group, `pulumi` included, and the CLI forwards none.
 *
 * Either way Pulumi gets one SIGINT per Ctrl-C (first: cancel, second: terminate), and the run is reported and
 * audited as `cancelled`. And no command runs `pulumi stack select`.
 */
import { ChildProcess, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { foregroundOfTerminal, onInterrupt } from "../automation/interrupt";
import { REAL_BIN, nodeArgs } from "./support/cli";
import { ROOT } from "./support/pulumiProgram";

describe("what one interrupt does (pure)", () => {
    it.each([
        [1, true, { cancel: true, forward: false, exit: false }],
        [1, false, { cancel: true, forward: true, exit: false }],
        [2, true, { cancel: false, forward: false, exit: false }],
        [2, false, { cancel: false, forward: true, exit: false }],
        [3, true, { cancel: false, forward: false, exit: true }],
        [3, false, { cancel: false, forward: false, exit: true }],
    ])("interrupt %i, delivered by the terminal: %s -> %o", (count, fromTerminal, expected) => {
        expect(onInterrupt(count, fromTerminal)).toMatchObject(expected);
    });

    it.each([
        ["486 (node) S 484 486 486 34816 486 4194560", true, "foreground of its terminal"],
        ["486 (node) S 484 490 486 34816 486 4194560", false, "a background job of its terminal"],
        ["487 (node) S 482 482 8061 0 -1 4194560", false, "no controlling terminal (CI)"],
        ["488 (a b) c) S 1 488 488 34817 488 0", true, "a command name with spaces and parentheses"],
    ])("/proc/self/stat %j -> %s (%s)", (stat, expected) => {
        expect(foregroundOfTerminal(stat)).toBe(expected);
    });
});

interface Double {
    readonly dir: string;
    readonly env: Record<string, string>;
    calls(): string[][];
    signals(): string[];
    running(): boolean;
    audit(): { outcome: string; error?: string }[];
}

/** A directory holding a `pulumi` on PATH that runs the double, its logs, and the CLI's audit file. */
function pulumiDouble(): Double {
    const dir = mkdtempSync(join(tmpdir(), "rotation-pulumi-double-"));
    const bin = join(dir, "bin");
    mkdirSync(bin);
    const exe = join(bin, "pulumi");
    // `exec` keeps the PID: signals sent to `pulumi` reach the double itself.
    writeFileSync(exe, `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, "test", "support", "fakePulumi.cjs")}" "$@"\n`);
    chmodSync(exe, 0o755);
    const lines = (file: string) => (existsSync(join(dir, file)) ? readFileSync(join(dir, file), "utf8").split("\n").filter(Boolean) : []);
    return {
        dir,
        env: {
            PATH: `${bin}:${dirname(process.execPath)}:/usr/bin:/bin`,
            HOME: dir,
            FAKE_PULUMI_DIR: dir,
            ROTATION_AUDIT_FILE: join(dir, "audit.jsonl"),
            // How long the double takes to cancel. (A live rotate of jwt needs no admin credential and makes no AWS call.)
            FAKE_PULUMI_CANCEL_MS: "1000",
        },
        calls: () => lines("calls.jsonl").map((l) => JSON.parse(l) as string[]),
        signals: () => lines("signals.log"),
        running: () => existsSync(join(dir, "running")),
        audit: () => lines("audit.jsonl").map((l) => JSON.parse(l)),
    };
}

const ROTATE = ["rotate", "--service", "jwt", "--stack", "staging", "--stamp", "2026-11-20T0900Z"];

async function until(what: string, condition: () => boolean, ms = 30_000): Promise<void> {
    const end = Date.now() + ms;
    while (!condition()) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 25));
    }
}

function collect(child: ChildProcess): Promise<{ code: number | null; out: string; err: string }> {
    let out = "";
    let err = "";
    child.stdout?.on("data", (d) => (out += d));
    child.stderr?.on("data", (d) => (err += d));
    return new Promise((resolve) => child.on("close", (code) => resolve({ code, out, err })));
}

/** Starts `rotate` on the real entry with plain pipes (no terminal) and waits until `pulumi up` runs. */
async function startRotation(d: Double, env: Record<string, string> = {}) {
    const child = spawn(process.execPath, nodeArgs(REAL_BIN, ROTATE), { cwd: ROOT, env: { ...d.env, ...env } });
    const done = collect(child);
    await until("pulumi up to start", d.running);
    return { child, done };
}

/** Every invocation selected no stack and named its stack explicitly. */
function expectNoSelection(d: Double): void {
    const calls = d.calls();
    expect(calls.length).toBeGreaterThan(2); // the log works: version, stack output (x2), up
    expect(calls.filter((c) => c[0] === "stack" && c[1] === "select")).toEqual([]);
    expect(existsSync(join(d.dir, "selected"))).toBe(false);
    for (const c of calls.filter((c) => c[0] !== "version")) expect(c.slice(c.indexOf("--stack"), c.indexOf("--stack") + 2)).toEqual(["--stack", "staging"]);
}

describe("Ctrl-C with the real Automation API and a pulumi double", () => {
    it("not in a terminal: one SIGINT to the CLI reaches pulumi exactly once; the run is reported and audited as cancelled", async () => {
        const d = pulumiDouble();
        const { child, done } = await startRotation(d);
        child.kill("SIGINT");
        const r = await done;
        expect(d.signals()).toEqual(["SIGINT"]);
        expect(r.code).toBe(1);
        expect(r.err).toContain("interrupt: cancelling");
        expect(r.err).toContain("^C received; cancelling"); // Pulumi's own output streams to stderr
        expect(r.err.trim().split("\n").pop()).toBe("error: cancelled: the operation was cancelled");
        expect(r.out).toBe("");
        expect(d.audit()).toMatchObject([{ outcome: "cancelled", error: "cancelled: the operation was cancelled" }]);
        expectNoSelection(d);
        const up = d.calls().find((c) => c[0] === "up")!;
        expect(up).toEqual(expect.arrayContaining(["--yes", "--skip-preview", "--non-interactive"]));
    });

    it("not in a terminal: the next interrupt is forwarded too, so pulumi terminates (CI: SIGINT, then SIGTERM 7.5 s later)", async () => {
        const d = pulumiDouble();
        const { child, done } = await startRotation(d, { FAKE_PULUMI_CANCEL_MS: "20000" });
        child.kill("SIGINT");
        await until("the first SIGINT to arrive", () => d.signals().length === 1);
        child.kill("SIGTERM");
        const r = await done;
        expect(d.signals()).toEqual(["SIGINT", "SIGINT"]);
        expect(r.err).toContain("^C received; terminating");
        expect(r.err).toContain("interrupt: terminating Pulumi");
        expect(r.code).toBe(1);
        expect(d.audit().map((a) => a.outcome)).toEqual(["cancelled"]);
    });

    it("in a terminal: Ctrl-C typed once reaches pulumi exactly once (the terminal's; the CLI forwards none), twice terminates", async () => {
        const d = pulumiDouble();
        const command = ["exec", ...[process.execPath, ...nodeArgs(REAL_BIN, ROTATE)].map((a) => `'${a}'`)].join(" ");
        // util-linux `script` runs the command on a new pseudo-terminal, as its foreground process group, and copies
        // what we write to its stdin to the terminal: a "\x03" there is a typed Ctrl-C.
        const terminal = spawn("script", ["-q", "-e", "-c", command, "/dev/null"], { cwd: ROOT, env: { ...d.env, FAKE_PULUMI_CANCEL_MS: "20000" } });
        const done = collect(terminal);
        await until("pulumi up to start", d.running);
        terminal.stdin!.write("\x03");
        await until("the first SIGINT to arrive", () => d.signals().length >= 1);
        // Give a forwarded duplicate (the defect) time to arrive before counting.
        await new Promise((r) => setTimeout(r, 750));
        expect(d.signals()).toEqual(["SIGINT"]);
        terminal.stdin!.write("\x03");
        const r = await done;
        expect(d.signals()).toEqual(["SIGINT", "SIGINT"]);
        expect(r.out).toContain("^C received; terminating");
        expect(r.out).toContain("error: cancelled: the operation was cancelled");
        expect(r.code).toBe(1);
        expect(d.audit().map((a) => a.outcome)).toEqual(["cancelled"]);
        expectNoSelection(d);
    });
});
