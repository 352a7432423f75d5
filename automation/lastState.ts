/**
 * The stack's last state as this machine last saw it: the non-secret stack outputs (`rotationState`,
 * `rotationAttempt`, and per secret the AWS version the stack wrote) that a successful `up` returned or `status` read,
 * kept beside the audit file (`<audit dir>/last-state.<stack>.json`: anchored to the project like the audit trail,
 * git-ignored with it, mode 0600). `status` and `plan rollback` fall back to it when the Pulumi backend cannot be read;
 * the backend stays the source of truth whenever it answers. No secret is ever in it: the engine drops every output
 * Pulumi marks secret (automation/pulumiEngine.ts `outputsOf`), and the redactor runs over it anyway.
 */
import { closeSync, constants, existsSync, fchmodSync, ftruncateSync, mkdirSync, openSync, readFileSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { auditFile } from "./audit";
import type { StackOutputs } from "./engine";
import { redactDeep, redactorFor } from "./redact";

/** What is kept: the outputs and when they were recorded. */
export interface RecordedState {
    readonly recordedAt: string;
    readonly outputs: StackOutputs;
}

/** Where the stack's last state is kept. */
export function lastStateFile(env: NodeJS.ProcessEnv, stack: string): string {
    return join(dirname(auditFile(env)), `last-state.${stack}.json`);
}

/** Keeps the outputs as the stack's last state (never through a symlink). A failure is reported, not fatal. */
export function recordState(env: NodeJS.ProcessEnv, stack: string, outputs: StackOutputs, now: Date, warn: (message: string) => void): void {
    const file = lastStateFile(env, stack);
    const { rotationState, rotationAttempt, secrets } = outputs;
    const record: RecordedState = { recordedAt: now.toISOString(), outputs: redactDeep({ rotationState, rotationAttempt, secrets }, redactorFor(env)) };
    try {
        mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
        const fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | (constants.O_NOFOLLOW ?? 0), 0o600);
        try {
            fchmodSync(fd, 0o600);
            ftruncateSync(fd, 0);
            writeSync(fd, `${JSON.stringify(record, null, 2)}\n`);
        } finally {
            closeSync(fd);
        }
    } catch (err) {
        warn(`could not record the stack's last state in ${file}: ${(err as Error).message}`);
    }
}

/** The stack's last recorded state, or undefined when none was recorded (or the file is not one of ours). */
export function readRecordedState(env: NodeJS.ProcessEnv, stack: string): (RecordedState & { readonly file: string }) | undefined {
    const file = lastStateFile(env, stack);
    if (!existsSync(file)) return undefined;
    try {
        const value = JSON.parse(readFileSync(file, "utf8")) as RecordedState;
        if (typeof value?.recordedAt !== "string" || value.outputs === null || typeof value.outputs !== "object") return undefined;
        return { ...value, file };
    } catch {
        return undefined;
    }
}
