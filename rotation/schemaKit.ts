/**
 * The message kit of our zod schemas (stack file and CLI request): every object is strict, so a typo'd key is an
 * error that names the closest known key; every message is one line that names the key in backticks. Pure.
 */
import { z } from "zod";
import { GROUPS } from "./catalog";
import { RotationInputError, listAllowed } from "./errors";
import { STAMP_FORMATS, tryParseStamp } from "./stamp";

// Schema helpers: every object is strict, so a typo'd key is an error that lists the allowed keys.

/** An error message for a value of the wrong type, or "is required" when the value is missing. */
export function typeError(text: string) {
    return (iss: { code?: string; input?: unknown }) => (iss.code === "invalid_type" && iss.input === undefined ? "is required" : text);
}

export function obj<T extends z.ZodRawShape>(shape: T) {
    const allowed = Object.keys(shape);
    return z.strictObject(shape, {
        error: (iss) =>
            iss.code === "unrecognized_keys"
                ? `has unknown key ${listAllowed(iss.keys)}${didYouMean(iss.keys[0], allowed)}; allowed keys: ${listAllowed(allowed)}`
                : iss.code === "invalid_type"
                  ? typeError(`must be a mapping with keys ${listAllowed(allowed)}`)(iss)
                  : undefined,
    });
}

export function pattern(re: RegExp, what: string) {
    return z
        .string({ error: typeError(`must be a string (${what})`) })
        .refine((v) => re.test(v), { error: (iss) => `${JSON.stringify(iss.input)} is not ${what}` });
}

export function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
    return z.enum(values, {
        error: (iss) => `must be one of ${listAllowed(values)}${iss.input === undefined ? "" : ` (got ${JSON.stringify(iss.input)})`}`,
    });
}

/** A mapping keyed by a closed set; zod reports unknown keys of a partial record as `unrecognized_keys`. */
export function closedMap<T extends z.ZodType>(keys: readonly [string, ...string[]], what: string, value: T) {
    return z.partialRecord(oneOf(keys), value, {
        error: (iss) => {
            const unknown = (iss as { keys?: string[] }).keys;
            return unknown
                ? `has unknown ${what} ${listAllowed(unknown)}; allowed: ${listAllowed(keys)}`
                : `must be a mapping from ${what} to value`;
        },
    });
}

export function groupMap<T extends z.ZodType>(value: T) {
    return closedMap(GROUPS, "group", value);
}

export const int = (min: number, max: number) =>
    z
        .number({ error: typeError(`must be a whole number from ${min} to ${max}`) })
        .int({ error: `must be a whole number from ${min} to ${max}` })
        .min(min, { error: `must be a whole number from ${min} to ${max}` })
        .max(max, { error: `must be a whole number from ${min} to ${max}` });

export const stamp = z.string({ error: typeError("must be a stamp string") }).superRefine((v, ctx) => {
    const parsed = tryParseStamp(v);
    if (typeof parsed === "string") {
        ctx.addIssue({ code: "custom", message: `${JSON.stringify(v)} ${parsed}; expected ${STAMP_FORMATS}` });
    }
});


export function unique<T>(key: (item: T) => string, what: string) {
    return (items: T[], ctx: z.RefinementCtx) => {
        const seen = new Set<string>();
        items.forEach((item, i) => {
            const k = key(item);
            if (seen.has(k)) {
                ctx.addIssue({ code: "custom", path: [i], message: `lists ${what} ${JSON.stringify(k)} twice` });
            }
            seen.add(k);
        });
    };
}

export function toInputError(prefix: string, all: readonly z.core.$ZodIssue[]): RotationInputError {
    // An unknown key is the cause of any "is required" it brings (a misspelt `hots:` leaves `host` missing): report it first.
    const issues = [...all].sort((a, b) => Number(b.code === "unrecognized_keys") - Number(a.code === "unrecognized_keys"));
    const issue = issues[0];
    const key = `${prefix}${formatPath(issue.path)}`.replace(/[.:]$/, "");
    const message = issue.message;
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length > 2 ? "s" : ""})` : "";
    return new RotationInputError(key, `\`${key}\` ${message}${more}`);
}

/** ` (did you mean `x`?)` when a known name is within two edits of `name`, else "". */
export function didYouMean(name: string, known: readonly string[], prefix = ""): string {
    let best: string | undefined;
    let bestDistance = 3;
    for (const candidate of known) {
        const d = editDistance(name.toLowerCase(), candidate.toLowerCase());
        if (d < bestDistance) [best, bestDistance] = [candidate, d];
    }
    return best === undefined ? "" : ` (did you mean \`${prefix}${best}\`?)`;
}

function editDistance(a: string, b: string): number {
    let row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
        const next = [i];
        for (let j = 1; j <= b.length; j++) {
            next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
        }
        row = next;
    }
    return row[b.length];
}

export function formatPath(path: readonly PropertyKey[]): string {
    let out = "";
    for (const part of path) {
        out += typeof part === "number" ? `[${part}]` : `${out ? "." : ""}${String(part)}`;
    }
    return out;
}
