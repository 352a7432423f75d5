/**
 * Human-readable output: aligned tables, step lists and change counts. Never given a secret.
 */
import type { Step } from "../rotation/steps";
import type { ChangeCounts } from "./engine";

/** An aligned text table with a header row. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
    const line = (cells: readonly string[]) =>
        cells
            .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
            .join("  ")
            .trimEnd();
    return [line(header), ...rows.map(line)].join("\n") + "\n";
}

/** Numbered steps, one per line. */
export function stepList(steps: readonly Step[]): string {
    if (steps.length === 0) {
        return "  nothing to do: every store, consumer and health check is up to date\n";
    }
    const width = Math.max(...steps.map((s) => s.kind.length));
    return steps.map((s, i) => `${String(i + 1).padStart(3)}. ${s.kind.padEnd(width)}  ${s.target}\n${" ".repeat(width + 7)}${s.detail}\n`).join("");
}

/** The operations that change something, e.g. `3 replace, 2 update`; `none` when nothing changes (`same` is left out). */
export function changeSummary(changes: ChangeCounts): string {
    return (
        Object.entries(changes)
            .filter(([kind, n]) => kind !== "same" && n > 0)
            .map(([kind, n]) => `${n} ${kind}`)
            .join(", ") || "none"
    );
}
