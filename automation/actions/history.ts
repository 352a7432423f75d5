/**
 * `history`: the stack's past updates (from the Pulumi backend; never with secrets or config values) beside the
 * audit trail's records for the stack (who ran what, stamps moved, outcome).
 */
import { AuditRecord, readAudit } from "../audit";
import { CliContext, GlobalArgs, result } from "../context";
import { EngineError, UpdateRecord } from "../engine";
import { EXIT } from "../errors";
import { changeSummary, table } from "../render";
import { engineFailure } from "../stackState";
import { requireStack } from "../stacks";

export interface HistoryArgs extends GlobalArgs {
    readonly limit: number;
}

export async function runHistory(ctx: CliContext, args: HistoryArgs): Promise<void> {
    const { io } = ctx;
    const stack = requireStack(args.stack);
    let updates: UpdateRecord[];
    try {
        updates = await io.engine().history(stack, args.limit);
    } catch (err) {
        if (err instanceof EngineError) throw engineFailure(err, stack);
        throw err;
    }
    const audit = readAudit(io.env)
        .filter((r) => r.stack === stack)
        .slice(-args.limit)
        .reverse();
    result(io, args.json, () => humanHistory(stack, updates, audit), () => ({ stack, updates, audit }));
    ctx.exitCode = EXIT.ok;
}

function humanHistory(stack: string, updates: readonly UpdateRecord[], audit: readonly AuditRecord[]): string {
    const u = table(
        ["VERSION", "KIND", "RESULT", "STARTED", "CHANGES"],
        updates.map((x) => [String(x.version), x.kind, x.result, x.startTime, changeSummary(x.changes)]),
    );
    const a = table(
        ["TIME", "ACTOR", "COMMAND", "OUTCOME", "STAMPS"],
        audit.map((r) => [
            r.time,
            r.actor,
            r.command,
            r.outcome,
            Object.entries(r.stamps)
                .map(([g, s]) => `${g} ${s.from ?? "—"}→${s.to}`)
                .join(", ") || "—",
        ]),
    );
    return `Updates of stack ${stack} (newest first):\n${updates.length ? u : "  none\n"}\nAudit trail for ${stack} (newest first):\n${audit.length ? a : "  none\n"}`;
}
