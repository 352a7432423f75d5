/**
 * The audit trail's sinks: each record appended as a JSON line to a file, as a Markdown row to
 * `$GITHUB_STEP_SUMMARY` when set, and to a CloudWatch Logs group when configured. Every sink gets the record
 * redacted (automation/redact.ts) and the file's line carries the hash of the line before it (`prev`), so an edited,
 * inserted or deleted line is detected by {@link verifyAuditChain} (`secrets-rotation history --verify`).
 *
 * Environment: ROTATION_AUDIT_FILE (default `audit/rotation-audit.jsonl` in the project directory; a relative path is
 * taken from the project directory too, never from the current directory), ROTATION_AUDIT_LOG_GROUP (CloudWatch Logs
 * group, in the stack's region; off when unset), GITHUB_STEP_SUMMARY, GITHUB_ACTOR.
 */
import { createHash } from "node:crypto";
import { closeSync, constants, existsSync, fchmodSync, mkdirSync, openSync, readFileSync, writeSync, appendFileSync } from "node:fs";
import { userInfo } from "node:os";
import { dirname, join, resolve } from "node:path";
import type { AuditRecord } from "./auditRecord";
import { redactDeep, redactorFor } from "./redact";
import { changeSummary } from "./render";
import { PROJECT_DIR } from "./stacks";

export type { AuditRecord, Outcome } from "./auditRecord";

/** The audit file under the project directory when ROTATION_AUDIT_FILE is not set (git-ignored: `.gitignore`). */
export const DEFAULT_AUDIT_FILE = join("audit", "rotation-audit.jsonl");

/** Where and how a record is written. */
export interface AuditSinks {
    readonly env: NodeJS.ProcessEnv;
    /** The stack's AWS region (`rotation:aws.region`): where the CloudWatch Logs group is. */
    readonly region: string;
    /** Reports a sink that failed (on stderr). */
    readonly warn: (message: string) => void;
}

/** Who ran it: the GitHub actor in Actions, else the OS user. */
export function actor(env: NodeJS.ProcessEnv): string {
    if (env.GITHUB_ACTOR) return `github:${env.GITHUB_ACTOR}`;
    try {
        return userInfo().username;
    } catch {
        return env.USER ?? "unknown";
    }
}

/**
 * The audit file: anchored to the project directory (where the CLI's own code is), so every command finds the same
 * file from whatever directory it is run.
 */
export function auditFile(env: NodeJS.ProcessEnv): string {
    return resolve(PROJECT_DIR, env.ROTATION_AUDIT_FILE || DEFAULT_AUDIT_FILE);
}

/** SHA-256 (hex) of one line of the audit file, as written (without its newline). */
export function lineHash(line: string): string {
    return createHash("sha256").update(line, "utf8").digest("hex");
}

/** The file's lines, without the empty string after a final newline. */
function linesOf(text: string): string[] {
    if (text === "") return [];
    const lines = text.split("\n");
    if (text.endsWith("\n")) lines.pop();
    return lines;
}

/**
 * Appends the record, chained to the line before it, and returns the line written. The file is opened without
 * following a symlink, and is set to 0600 on every write, also when it existed with a wider mode; a directory this
 * creates is 0700.
 */
export function appendAuditLine(file: string, record: AuditRecord): string {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const fd = openSync(file, constants.O_RDWR | constants.O_APPEND | constants.O_CREAT | (constants.O_NOFOLLOW ?? 0), 0o600);
    try {
        fchmodSync(fd, 0o600);
        const before = readFileSync(fd, "utf8");
        const lines = linesOf(before);
        const line = JSON.stringify({ ...record, prev: lines.length === 0 ? null : lineHash(lines[lines.length - 1]) });
        // A last line left without its newline (a crash mid-write) stays a line of its own, and is chained to.
        writeSync(fd, `${before !== "" && !before.endsWith("\n") ? "\n" : ""}${line}\n`);
        return line;
    } finally {
        closeSync(fd);
    }
}

/** Appends the record, redacted, to every configured sink. A sink that fails is reported (redacted), not fatal. */
export async function writeAudit(record: AuditRecord, { env, region, warn }: AuditSinks): Promise<void> {
    const redact = redactorFor(env);
    const safe = redactDeep(record, redact);
    const report = (message: string) => warn(redact(message));
    const file = auditFile(env);
    let line: string = JSON.stringify(safe);
    try {
        line = appendAuditLine(file, safe);
    } catch (err) {
        report(`audit: could not append to ${file}: ${(err as Error).message}`);
    }
    if (env.GITHUB_STEP_SUMMARY) {
        try {
            appendFileSync(env.GITHUB_STEP_SUMMARY, stepSummary(safe, !existsSync(env.GITHUB_STEP_SUMMARY) || readFileSync(env.GITHUB_STEP_SUMMARY, "utf8") === ""));
        } catch (err) {
            report(`audit: could not write the GitHub step summary: ${(err as Error).message}`);
        }
    }
    if (env.ROTATION_AUDIT_LOG_GROUP) {
        try {
            // Loaded only when configured: keeps the AWS SDK out of runs that do not use it.
            const { putAuditEvent } = require("./auditCloudWatch") as typeof import("./auditCloudWatch");
            // The file's own line, hash link included: the remote copy anchors the local chain.
            await putAuditEvent(env.ROTATION_AUDIT_LOG_GROUP, safe.stack, safe.time, line, region);
        } catch (err) {
            report(`audit: could not write to CloudWatch Logs group ${env.ROTATION_AUDIT_LOG_GROUP} in ${region}: ${(err as Error).message}`);
        }
    }
}

/**
 * Text made inert in a Markdown table cell (GitHub Flavored Markdown): whitespace (newlines included) becomes one
 * space, control characters go, and every character that can open Markdown or HTML syntax becomes a numeric character
 * reference, which renders as the character itself and never as syntax (CommonMark 0.30, "Entity and numeric
 * character references": they "cannot be used in place of symbolic characters in Markdown syntax",
 * https://spec.commonmark.org/0.30/#entity-and-numeric-character-references). Escaped: `|` (the cell), `\` (an
 * escape, also of `|`), `<` `>` `&` (HTML, autolinks, references), `` ` `` `*` `_` `~` `[` `]` `$` (code, emphasis,
 * strikethrough, links and images, math), `/` and `@` (URL and e-mail autolinks) and the dot of `www.`.
 */
export function markdownCell(text: string): string {
    return text
        .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, "")
        .replace(/[\s\u2028\u2029]+/g, " ")
        .replace(/[|\\<>&`*_~[\]$/@]/g, (c) => `&#${c.charCodeAt(0)};`)
        .replace(/(www)\./gi, "$1&#46;")
        .trim();
}

/** A short Markdown table: a header when the summary file is new, then one row per run; every cell escaped. */
export function stepSummary(r: AuditRecord, withHeader: boolean): string {
    const stamps =
        Object.entries(r.stamps)
            .map(([g, s]) => markdownCell(`${g} ${s.from ?? "—"} (${s.fromSlot ?? "—"}) → ${s.to} (${s.toSlot})`))
            .join("<br>") || "—";
    const header = withHeader
        ? "### Secrets rotation\n\n| time (UTC) | stack | command | outcome | stamps | changes | by |\n|---|---|---|---|---|---|---|\n"
        : "";
    const cells = [
        markdownCell(r.time),
        markdownCell(r.stack),
        markdownCell(r.command),
        markdownCell(`${r.outcome}${r.error ? `: ${r.error}` : ""}`),
        stamps,
        markdownCell(changeSummary(r.changes)),
        markdownCell(r.actor),
    ];
    return `${header}| ${cells.join(" | ")} |\n`;
}

/** The records of the audit file, oldest first; lines that do not parse are skipped. */
export function readAudit(env: NodeJS.ProcessEnv): AuditRecord[] {
    const file = auditFile(env);
    if (!existsSync(file)) return [];
    return readFileSync(file, "utf8")
        .split("\n")
        .filter((l) => l.trim() !== "")
        .flatMap((l) => {
            try {
                return [JSON.parse(l) as AuditRecord];
            } catch {
                return [];
            }
        });
}

/** What {@link verifyAuditChain} found. */
export interface ChainReport {
    /** Lines in the file. */
    readonly lines: number;
    /** Lines that carry a hash link (`prev`). */
    readonly chained: number;
    /** Lines before the first linked one: written before the chain existed; nothing vouches for them. */
    readonly unchained: number;
    /** Each line that breaks the chain (1-based), with why. Empty when the file is intact. */
    readonly problems: readonly { readonly line: number; readonly reason: string }[];
}

/**
 * Checks the hash chain of an audit file's text. Detects a line edited, inserted, deleted or moved anywhere before
 * the last line, and a link removed after the chain began. It cannot detect the last lines being cut off, or a
 * whole file rewritten with freshly computed hashes: the CloudWatch copy (each event is the file's line, hash
 * included) is the independent record for that.
 */
export function verifyAuditChain(text: string): ChainReport {
    const lines = linesOf(text);
    const problems: { line: number; reason: string }[] = [];
    let chained = 0;
    let unchained = 0;
    lines.forEach((line, i) => {
        let record: { prev?: unknown };
        try {
            record = JSON.parse(line) as { prev?: unknown };
            if (record === null || typeof record !== "object") throw new Error("not an object");
        } catch {
            problems.push({ line: i + 1, reason: "is not a JSON record" });
            return;
        }
        if (record.prev === undefined) {
            if (chained > 0) problems.push({ line: i + 1, reason: "has no hash link, but the lines before it are chained (link removed?)" });
            else unchained++;
            return;
        }
        chained++;
        const expected = i === 0 ? null : lineHash(lines[i - 1]);
        if (record.prev !== expected) {
            problems.push({
                line: i + 1,
                reason: i === 0 ? "is first but links to a line before it (lines deleted?)" : `does not link to line ${i} (a line edited, inserted or deleted)`,
            });
        }
    });
    return { lines: lines.length, chained, unchained, problems };
}

/** {@link verifyAuditChain} over the audit file (an absent file is an empty, intact trail). */
export function verifyAuditFile(env: NodeJS.ProcessEnv): ChainReport & { readonly file: string } {
    const file = auditFile(env);
    return { file, ...verifyAuditChain(existsSync(file) ? readFileSync(file, "utf8") : "") };
}
