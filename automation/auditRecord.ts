/**
 * The audit trail's record: one per CLI run that changes or previews something (including dry runs, refusals and
 * failures), and one per `bootstrap`. It holds names, stamps, counts and outcomes: never a secret value (and every
 * sink redacts it anyway, automation/redact.ts). Shared by the sinks (`audit.ts`, `auditCloudWatch.ts`) and the
 * commands that write or read it.
 *
 * A new command that acts on a stack or a source (such as `revoke`) writes its record through `writeAudit`
 * (automation/audit.ts): that is the one place that redacts, chains and writes to every sink.
 */
import type { ChangeCounts } from "./engine";

export type Outcome = "succeeded" | "failed" | "dry-run" | "refused" | "cancelled" | "concurrent";

export interface AuditRecord {
    readonly time: string;
    readonly actor: string;
    readonly stack: string;
    readonly command: string;
    readonly provider: string;
    readonly groups: readonly string[];
    /** Per group whose stamp or slot this run moved: stamp and active slot, before and after. */
    readonly stamps: Readonly<
        Record<string, { readonly from: string | null; readonly to: string; readonly fromSlot: string | null; readonly toSlot: string }>
    >;
    /** Consumers this run restarts (ECS services `ecs:<name>`, Deployments `k8s:<ns>/<name>`). */
    readonly restarts: readonly string[];
    readonly outcome: Outcome;
    readonly changes: ChangeCounts;
    readonly durationMs: number;
    /** One line: why it failed or was refused. */
    readonly error?: string;
    /**
     * The hash chain: SHA-256 (hex) of the audit file's previous line as written, or null for the file's first line.
     * Set by `writeAudit`; `verifyAuditChain` checks it. Absent on records written before the chain existed.
     */
    readonly prev?: string | null;
}
