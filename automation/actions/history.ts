/**
 * `history`: the stack's past updates (from the Pulumi backend; never with secrets or config values) beside the
 * audit trail's records for the stack (who ran what, stamps moved, outcome). `--verify` checks the audit file's hash
 * chain instead, offline (automation/audit.ts `verifyAuditChain`).
 */
import { AuditRecord, readAudit, verifyAuditFile } from "../audit";
import { CliContext, GlobalArgs, progress, result } from "../context";
import { EngineError, UpdateRecord } from "../engine";
import { EXIT } from "../errors";
import { changeSummary, table } from "../render";
import { engineFailure } from "../stackState";
import { requireStack } from "../stacks";

export interface HistoryArgs extends GlobalArgs {
    readonly limit: number;
    readonly verify?: boolean;
}

export async function runHistory(ctx: CliContext, args: HistoryArgs): Promise<void> {
    const { io } = ctx;
    if (args.verify) return verify(ctx, args);
    const stack = requireStack(args.stack);
    // The audit trail needs no backend: when the backend cannot be read (no Pulumi CLI, no login, unreachable), say
    // so and show the audit trail alone. A stack the backend says does not exist stays exit 3.
    let updates: UpdateRecord[] | undefined;
    try {
        updates = await io.engine().history(stack, args.limit);
    } catch (err) {
        if (!(err instanceof EngineError)) throw err;
        const failure = engineFailure(err, stack);
        if (failure.code !== EXIT.failed) throw failure;
        progress(io, `warning: could not read stack ${stack}'s updates from the Pulumi backend (${failure.message}); showing the audit trail only`);
    }
    const audit = readAudit(io.env)
        .filter((r) => r.stack === stack)
        .slice(-args.limit)
        .reverse();
    result(io, args.json, () => humanHistory(stack, updates, audit), () => ({ stack, updates: updates ?? null, audit }));
    ctx.exitCode = EXIT.ok;
}

/** The whole file's chain (it spans every stack): exit 0 when intact, 1 naming each line that breaks it. */
function verify(ctx: CliContext, args: HistoryArgs): void {
    const { io } = ctx;
    const report = verifyAuditFile(io.env);
    const intact = report.problems.length === 0;
    result(
        io,
        args.json,
        () =>
            (intact
                ? `audit trail intact: ${report.lines} line(s) in ${report.file}, ${report.chained} chained`
                : `audit trail BROKEN: ${report.file}\n${report.problems.map((p) => `  line ${p.line} ${p.reason}`).join("\n")}`) +
            (report.unchained > 0 ? `\n  ${report.unchained} line(s) before the chain began are not vouched for` : "") +
            "\n",
        () => ({ ...report, intact }),
    );
    if (!intact) progress(io, `error: the audit trail's hash chain is broken at line ${report.problems[0].line} (${report.problems.length} problem(s))`);
    ctx.exitCode = intact ? EXIT.ok : EXIT.failed;
}

function humanHistory(stack: string, updates: readonly UpdateRecord[] | undefined, audit: readonly AuditRecord[]): string {
    const u = table(
        ["VERSION", "KIND", "RESULT", "STARTED", "CHANGES"],
        (updates ?? []).map((x) => [String(x.version), x.kind, x.result, x.startTime, changeSummary(x.changes)]),
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
    const shown = updates === undefined ? "  (not read: the Pulumi backend could not be reached)\n" : updates.length ? u : "  none\n";
    return `Updates of stack ${stack} (newest first):\n${shown}\nAudit trail for ${stack} (newest first):\n${audit.length ? a : "  none\n"}`;
}
