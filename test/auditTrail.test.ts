/**
 * The audit trail's file and summary (automation/audit.ts): mode 0600 on every write (also over a 0644 file), a new
 * directory 0700, no write through a symlink, `audit/` ignored by git, a default location anchored to the project
 * (found by `history` from any directory), a step-summary row that no field can break out of, the hash chain with
 * `history --verify`, and `bootstrap` audited (against real PostgreSQL and Redis, and failing).
 */
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { AuditRecord, appendAuditLine, lineHash, markdownCell, stepSummary, verifyAuditChain, writeAudit } from "../automation/audit";
import { CliResult, projectWith, sandbox } from "./support/cli";
import { ROOT } from "./support/pulumiProgram";
import { useServers } from "./support/servers";

function record(over: Partial<AuditRecord> = {}): AuditRecord {
    return {
        time: "2026-11-20T09:00:00.000Z",
        actor: "github:sre-bot",
        stack: "staging",
        command: "rotate --service jwt",
        provider: "all",
        groups: ["jwt"],
        stamps: { jwt: { from: "2026-11", to: "2026-11-20T0900Z", fromSlot: "a", toSlot: "b" } },
        restarts: ["k8s:staging/buywhere-api"],
        outcome: "succeeded",
        changes: { replace: 2, update: 1, same: 30 },
        durationMs: 1234,
        ...over,
    };
}

const tmp = () => mkdtempSync(join(tmpdir(), "rotation-audit-"));
const mode = (path: string) => statSync(path).mode & 0o777;
const sinks = (env: NodeJS.ProcessEnv, warnings: string[] = []) => ({ env, region: "ap-southeast-1", warn: (m: string) => warnings.push(m) });

/**
 * Runs a CLI entry with its own working directory (the sandbox helper always runs from the project). tsx is loaded by
 * path: `--import tsx` would be resolved from the working directory.
 */
function runFrom(cwd: string, bin: string, args: readonly string[], env: Record<string, string>): Promise<CliResult> {
    const tsx = pathToFileURL(join(ROOT, "node_modules", "tsx", "dist", "loader.mjs")).href;
    return new Promise((resolve) => {
        const child = spawn(process.execPath, ["--import", tsx, bin, ...args], { cwd, env });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        child.on("close", (code) => resolve({ code, stdout, stderr }));
    });
}

describe("the audit file", () => {
    it("is 0600 after every write, also when it existed as 0644; a directory it creates is 0700", async () => {
        const dir = tmp();
        const existing = join(dir, "pre.jsonl");
        writeFileSync(existing, "");
        chmodSync(existing, 0o644);
        await writeAudit(record(), sinks({ ROTATION_AUDIT_FILE: existing }));
        expect(mode(existing).toString(8)).toBe("600");
        chmodSync(existing, 0o644); // widened again between two runs
        await writeAudit(record(), sinks({ ROTATION_AUDIT_FILE: existing }));
        expect(mode(existing).toString(8)).toBe("600");

        const fresh = join(dir, "new", "deeper", "audit.jsonl");
        await writeAudit(record(), sinks({ ROTATION_AUDIT_FILE: fresh }));
        expect(mode(fresh).toString(8)).toBe("600");
        expect(mode(join(dir, "new")).toString(8)).toBe("700");
        expect(mode(join(dir, "new", "deeper")).toString(8)).toBe("700");
    });

    it("is never written through a symlink: the sink reports it and the target is untouched", async () => {
        const dir = tmp();
        const target = join(dir, "elsewhere.txt");
        writeFileSync(target, "not an audit file\n");
        chmodSync(target, 0o644);
        symlinkSync(target, join(dir, "audit.jsonl"));
        const warnings: string[] = [];
        await writeAudit(record(), sinks({ ROTATION_AUDIT_FILE: join(dir, "audit.jsonl") }, warnings));
        expect(warnings).toHaveLength(1);
        expect(warnings[0]).toMatch(/^audit: could not append to .*audit\.jsonl: ELOOP/);
        expect(readFileSync(target, "utf8")).toBe("not an audit file\n");
        expect(mode(target).toString(8)).toBe("644");
    });

    it("audit/ is ignored by git (and the check can fail: source files are not)", () => {
        const ignored = (path: string) => spawnSync("git", ["check-ignore", "-q", path], { cwd: ROOT }).status;
        expect(ignored("audit/rotation-audit.jsonl")).toBe(0);
        expect(ignored("audit/anything-else.jsonl")).toBe(0);
        expect(ignored("automation/audit.ts")).toBe(1);
    });

    it("defaults to audit/ in the project directory whatever the working directory, and history finds it from anywhere", async () => {
        const project = projectWith({ "Pulumi.staging.yaml": readFileSync(join(ROOT, "Pulumi.staging.yaml"), "utf8") });
        const bin = join(project, "test", "support", "standInBin.ts");
        const env = { PATH: process.env.PATH ?? "", HOME: tmp(), ROTATION_STANDIN_DIR: join(tmp(), "engine") };
        const elsewhere = tmp();
        const r = await runFrom(elsewhere, bin, ["rotate", "--service", "jwt", "--first-deployment", "--stack", "staging", "--stamp", "2026-11-20T0900Z"], env);
        expect(r.code, r.stderr).toBe(0);
        const file = join(project, "audit", "rotation-audit.jsonl");
        expect(existsSync(file)).toBe(true);
        expect(existsSync(join(elsewhere, "audit"))).toBe(false);
        expect(mode(file).toString(8)).toBe("600");
        expect(mode(join(project, "audit")).toString(8)).toBe("700");
        // From a third directory, and with a relative ROTATION_AUDIT_FILE (taken from the project, not the cwd).
        const h = await runFrom(tmp(), bin, ["history", "--stack", "staging", "--json"], env);
        expect(h.code, h.stderr).toBe(0);
        expect(JSON.parse(h.stdout).audit.map((a: AuditRecord) => a.command)).toEqual(["rotate --service jwt --stamp 2026-11-20T0900Z --first-deployment"]);
        const rel = await runFrom(tmp(), bin, ["history", "--stack", "staging", "--json"], { ...env, ROTATION_AUDIT_FILE: "audit/rotation-audit.jsonl" });
        expect(JSON.parse(rel.stdout).audit).toHaveLength(1);
    });
});

describe("the step summary", () => {
    const hostile = "boom | <script>alert(1)</script>\nsecond line\r\n| --- |\n[click](https://evil.example) ![x](https://evil.example/x.png) `code` *em* _em_ ~~s~~ \\| www.evil.example a@b.example $x$ &amp;";

    it("no field can leave its cell or its row, or render as HTML, a link, an image or code", () => {
        const r = record({ command: hostile, error: hostile, actor: `github:${hostile}`, outcome: "failed" });
        const row = stepSummary(r, false);
        expect(row.endsWith("\n")).toBe(true);
        expect(row.slice(0, -1)).not.toMatch(/[\r\n\u2028\u2029]/); // one line: the row
        expect(row.match(/\|/g)).toHaveLength(8); // 7 cells: no pipe of the text survives
        const text = row.replace(/<br>/g, "");
        expect(text).not.toMatch(/[<>[\]`*_~\\$]/); // no tag, link, image, code, emphasis, escape or math
        expect(text).not.toMatch(/https?:\/\/|www\./i); // no autolink
        expect(text).not.toMatch(/&(?!#\d+;)/); // every & starts a numeric reference we wrote
        // Nothing is lost: decoding the references gives the text back, whitespace folded.
        const decode = (s: string) => s.replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n)));
        expect(decode(markdownCell(hostile))).toBe(hostile.replace(/\s+/g, " ").trim());
        // Header row and one data row, as before.
        const withHeader = stepSummary(record(), true).split("\n");
        expect(withHeader[2]).toBe("| time (UTC) | stack | command | outcome | stamps | changes | by |");
        expect(withHeader[4]).toBe("| 2026-11-20T09:00:00.000Z | staging | rotate --service jwt | succeeded | jwt 2026-11 (a) → 2026-11-20T0900Z (b) | 2 replace, 1 update | github:sre-bot |");
    });

    it("the check can fail: the old escaping (pipes only) let HTML and links through", () => {
        const old = (s: string) => s.replace(/\|/g, "\\|");
        expect(old(hostile)).toMatch(/<script>|\[click\]\(/);
        expect(old(hostile)).toMatch(/\n/);
    });
});

describe("the hash chain", () => {
    function trail(n: number): { file: string; lines: () => string[]; write: (lines: string[]) => void } {
        const file = join(tmp(), "audit.jsonl");
        for (let i = 0; i < n; i++) appendAuditLine(file, record({ durationMs: i }));
        return {
            file,
            lines: () => readFileSync(file, "utf8").split("\n").filter(Boolean),
            write: (lines) => writeFileSync(file, `${lines.join("\n")}\n`),
        };
    }

    it("each line carries the SHA-256 of the line before it; the first carries null", () => {
        const t = trail(3);
        const [a, b, c] = t.lines();
        expect(JSON.parse(a).prev).toBeNull();
        expect(JSON.parse(b).prev).toBe(lineHash(a));
        expect(JSON.parse(c).prev).toBe(lineHash(b));
        expect(verifyAuditChain(readFileSync(t.file, "utf8"))).toEqual({ lines: 3, chained: 3, unchained: 0, problems: [] });
    });

    it.each([
        ["a line edited", (l: string[]) => [l[0], l[1].replace('"outcome":"succeeded"', '"outcome":"dry-run"'), l[2], l[3]], [{ line: 3, reason: "does not link to line 2 (a line edited, inserted or deleted)" }]],
        ["a line deleted", (l: string[]) => [l[0], l[2], l[3]], [{ line: 2, reason: "does not link to line 1 (a line edited, inserted or deleted)" }]],
        ["the first line deleted", (l: string[]) => l.slice(1), [{ line: 1, reason: "is first but links to a line before it (lines deleted?)" }]],
        ["a line inserted", (l: string[]) => [l[0], l[1], JSON.stringify(record({ actor: "mallory", prev: lineHash(l[1]) })), l[2], l[3]], [{ line: 4, reason: "does not link to line 3 (a line edited, inserted or deleted)" }]],
        ["two lines swapped", (l: string[]) => [l[0], l[2], l[1], l[3]], [2, 3, 4].map((line) => ({ line, reason: `does not link to line ${line - 1} (a line edited, inserted or deleted)` }))],
        ["a link removed", (l: string[]) => [l[0], l[1], JSON.stringify({ ...JSON.parse(l[2]), prev: undefined }), l[3]], [
            { line: 3, reason: "has no hash link, but the lines before it are chained (link removed?)" },
            { line: 4, reason: "does not link to line 3 (a line edited, inserted or deleted)" },
        ]],
        ["a line that is not JSON", (l: string[]) => [l[0], "garbage", l[1], l[2], l[3]], [{ line: 2, reason: "is not a JSON record" }, { line: 3, reason: "does not link to line 2 (a line edited, inserted or deleted)" }]],
    ])("detects %s", (_, tamper, problems) => {
        const t = trail(4);
        t.write(tamper(t.lines()));
        expect(verifyAuditChain(readFileSync(t.file, "utf8")).problems).toEqual(problems);
    });

    it("records from before the chain are reported as unvouched, and the chain continues from them", () => {
        const file = join(tmp(), "audit.jsonl");
        writeFileSync(file, `${JSON.stringify(record({ actor: "legacy-1" }))}\n${JSON.stringify(record({ actor: "legacy-2" }))}\n`);
        appendAuditLine(file, record({ actor: "chained-3" }));
        expect(verifyAuditChain(readFileSync(file, "utf8"))).toEqual({ lines: 3, chained: 1, unchained: 2, problems: [] });
        // The last pre-chain line is vouched for by the first chained one; the lines before it by nothing.
        const original = readFileSync(file, "utf8");
        writeFileSync(file, original.replace("legacy-2", "edited-2"));
        expect(verifyAuditChain(readFileSync(file, "utf8")).problems).toEqual([{ line: 3, reason: "does not link to line 2 (a line edited, inserted or deleted)" }]);
        writeFileSync(file, original.replace("legacy-1", "edited-1"));
        expect(verifyAuditChain(readFileSync(file, "utf8")).problems).toEqual([]);
    });

    it("a last line left without its newline stays a line of its own and is chained to", () => {
        const file = join(tmp(), "audit.jsonl");
        appendAuditLine(file, record());
        writeFileSync(file, `${readFileSync(file, "utf8")}{"time":"2026-11-2`); // a crash mid-write
        appendAuditLine(file, record({ durationMs: 5 }));
        const lines = readFileSync(file, "utf8").split("\n").filter(Boolean);
        expect(lines).toHaveLength(3);
        expect(JSON.parse(lines[2]).prev).toBe(lineHash('{"time":"2026-11-2'));
        expect(verifyAuditChain(readFileSync(file, "utf8")).problems).toEqual([{ line: 2, reason: "is not a JSON record" }]);
    });

    it("history --verify: exit 0 on an intact trail, exit 1 naming the line after tampering", async () => {
        const s = sandbox();
        for (const stamp of ["2026-11-20T0900Z", "2026-11-21T0900Z", "2026-11-22T0900Z"]) {
            expect((await s.run(["rotate", "--service", "api-key", "--first-deployment", "--stack", "staging", "--stamp", stamp])).code).toBe(0);
        }
        const ok = await s.run(["history", "--verify"]);
        expect([ok.code, ok.stderr]).toEqual([0, ""]);
        expect(ok.stdout).toBe(`audit trail intact: 3 line(s) in ${s.env.ROTATION_AUDIT_FILE}, 3 chained\n`);
        const file = s.env.ROTATION_AUDIT_FILE;
        writeFileSync(file, readFileSync(file, "utf8").replace('"actor":"', '"actor":"someone-else-'));
        const bad = await s.run(["history", "--verify", "--json"]);
        expect(bad.code).toBe(1);
        const doc = JSON.parse(bad.stdout);
        expect(doc).toMatchObject({ intact: false, lines: 3, problems: [{ line: 2, reason: "does not link to line 1 (a line edited, inserted or deleted)" }] });
        expect(bad.stderr).toBe("error: the audit trail's hash chain is broken at line 2 (1 problem(s))\n");
    });
});

describe("bootstrap is audited", () => {
    const servers = useServers();

    it("a bootstrap against real PostgreSQL and Redis leaves a succeeded record", async () => {
        const s = sandbox();
        const env = { ROTATION_PG_ADMIN_URL: servers.pg.adminUrl, ROTATION_REDIS_ADMIN_URL: servers.redis.adminUrl, GITHUB_ACTOR: "sre-bot" };
        // The local stack: its Redis is a self-run ACL server (staging's is ElastiCache, bootstrapped through AWS).
        const r = await s.run(["bootstrap", "--stack", "local"], env);
        expect(r.code, r.stderr).toBe(0);
        expect(s.audit()).toMatchObject([{ stack: "local", command: "bootstrap", outcome: "succeeded", actor: "github:sre-bot", groups: ["database", "redis"], prev: null }]);
        const print = await s.run(["bootstrap", "--stack", "local", "--print"]);
        expect(print.code).toBe(0);
        expect(s.audit()).toHaveLength(1); // --print touches nothing and records nothing
    });

    it("a failed bootstrap leaves a failed record with the error, and no password in it or on stderr", async () => {
        const s = sandbox();
        const env = {
            ROTATION_PG_ADMIN_URL: "postgresql://admin:BootstrapPgLeak1@127.0.0.1:1/buywhere?sslmode=verify-full",
            ROTATION_REDIS_ADMIN_URL: "rediss://admin:BootstrapRedisLeak1@127.0.0.1:1/0",
        };
        const r = await s.run(["bootstrap", "--stack", "staging"], env);
        expect(r.code).toBe(1);
        const [rec] = s.audit();
        expect(rec).toMatchObject({ command: "bootstrap", outcome: "failed" });
        expect(rec.error).toMatch(/\S/);
        const all = r.stdout + r.stderr + readFileSync(s.env.ROTATION_AUDIT_FILE, "utf8");
        expect(all).not.toContain("BootstrapPgLeak1");
        expect(all).not.toContain("BootstrapRedisLeak1");
    });
});

