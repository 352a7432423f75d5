/**
 * The audit trail's sinks: each record appended as a JSON line to a file, as a Markdown row to
 * `$GITHUB_STEP_SUMMARY` when set, and to a CloudWatch Logs group when configured.
 *
 * Environment: ROTATION_AUDIT_FILE (default `audit/rotation-audit.jsonl` under the working directory),
 * ROTATION_AUDIT_LOG_GROUP (CloudWatch Logs group, in the stack's region; off when unset), GITHUB_STEP_SUMMARY,
 * GITHUB_ACTOR.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { userInfo } from "node:os";
import { dirname, resolve } from "node:path";
import type { AuditRecord } from "./auditRecord";
import { changeSummary } from "./render";

export type { AuditRecord, Outcome } from "./auditRecord";

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

export function auditFile(env: NodeJS.ProcessEnv): string {
    return resolve(env.ROTATION_AUDIT_FILE || "audit/rotation-audit.jsonl");
}

/** Appends the record to every configured sink. A sink that fails is reported, not fatal. */
export async function writeAudit(record: AuditRecord, { env, region, warn }: AuditSinks): Promise<void> {
    const file = auditFile(env);
    try {
        mkdirSync(dirname(file), { recursive: true });
        appendFileSync(file, `${JSON.stringify(record)}\n`, { mode: 0o600 });
    } catch (err) {
        warn(`audit: could not append to ${file}: ${(err as Error).message}`);
    }
    if (env.GITHUB_STEP_SUMMARY) {
        try {
            appendFileSync(env.GITHUB_STEP_SUMMARY, stepSummary(record, !existsSync(env.GITHUB_STEP_SUMMARY) || readFileSync(env.GITHUB_STEP_SUMMARY, "utf8") === ""));
        } catch (err) {
            warn(`audit: could not write the GitHub step summary: ${(err as Error).message}`);
        }
    }
    if (env.ROTATION_AUDIT_LOG_GROUP) {
        try {
            // Loaded only when configured: keeps the AWS SDK out of runs that do not use it.
            const { putAuditEvent } = require("./auditCloudWatch") as typeof import("./auditCloudWatch");
            await putAuditEvent(env.ROTATION_AUDIT_LOG_GROUP, record, region);
        } catch (err) {
            warn(`audit: could not write to CloudWatch Logs group ${env.ROTATION_AUDIT_LOG_GROUP} in ${region}: ${(err as Error).message}`);
        }
    }
}

/** A short Markdown table: a header when the summary file is new, then one row per run. */
export function stepSummary(r: AuditRecord, withHeader: boolean): string {
    const stamps = Object.entries(r.stamps).map(([g, s]) => `${g} ${s.from ?? "—"} (${s.fromSlot ?? "—"}) → ${s.to} (${s.toSlot})`).join("<br>") || "—";
    const header = withHeader
        ? "### Secrets rotation\n\n| time (UTC) | stack | command | outcome | stamps | changes | by |\n|---|---|---|---|---|---|---|\n"
        : "";
    const cell = (s: string) => s.replace(/\|/g, "\\|");
    return `${header}| ${r.time} | ${r.stack} | ${cell(r.command)} | ${r.outcome}${r.error ? `: ${cell(r.error)}` : ""} | ${stamps} | ${changeSummary(r.changes)} | ${r.actor} |\n`;
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
