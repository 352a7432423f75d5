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

/**
 * The planner's warnings as the CLI prints them: each with the command that clears it, and each at most once per
 * command (`shown` carries what was printed: a revoke plans two runs from the same stack file). A warning about a
 * stack-file key that has no effect is cleared by removing the key; `pulumi config rm --path` removes a key inside a
 * map (https://www.pulumi.com/docs/iac/cli/commands/pulumi_config_rm/), and the bracket form names a group with a
 * hyphen (`api-key`) as one key.
 */
export function warningLines(warnings: readonly string[], stack: string, shown: Set<string>): string[] {
    const lines: string[] = [];
    for (const w of warnings) {
        if (shown.has(w)) continue;
        shown.add(w);
        const key = /^`(rotation):(\w+)\.([a-z0-9-]+)` .* has no effect$/.exec(w);
        const clear = key ? `; clear it with \`pulumi config rm --path '${key[1]}:${key[2]}["${key[3]}"]' --stack ${stack}\`` : "";
        lines.push(`warning: ${w}${clear}`);
    }
    return lines;
}
