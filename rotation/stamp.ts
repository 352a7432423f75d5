/**
 * Rotation stamps: labels for rotation periods that sort chronologically.
 *
 * Three shapes are accepted, all UTC:
 * - `YYYY-MM`            a monthly period (the default policy),
 * - `YYYY-MM-DD`         a day (weekly/daily policies, or an on-demand rotation),
 * - `YYYY-MM-DDTHHMMZ`   a minute (an on-demand rotation inside a period).
 *
 * A stamp orders by the instant its period starts; when two start at the same instant the more specific one is
 * later, so `2026-12` < `2026-12-01` < `2026-12-01T0000Z` < `2026-12-05T1630Z` < `2027-01`.
 */
import { RotationInputError } from "./errors";

/** How often a group must be rotated; `next due` and `overdue` are computed from it. */
export const POLICY_PERIODS = ["daily", "weekly", "monthly", "quarterly"] as const;
export type PolicyPeriod = (typeof POLICY_PERIODS)[number];

export interface ParsedStamp {
    readonly raw: string;
    /** The instant the labelled period starts. */
    readonly start: Date;
    /** 0 = month, 1 = day, 2 = minute: breaks ties between stamps that start at the same instant. */
    readonly specificity: 0 | 1 | 2;
}

const STAMP_RE = /^(\d{4})-(\d{2})(?:-(\d{2})(?:T(\d{2})(\d{2})Z)?)?$/;

/** The accepted shapes, for error messages. */
export const STAMP_FORMATS = "`YYYY-MM`, `YYYY-MM-DD` or `YYYY-MM-DDTHHMMZ` (UTC)";

/** Parses a stamp, or returns why it is not one. */
export function tryParseStamp(raw: string): ParsedStamp | string {
    const m = STAMP_RE.exec(raw);
    if (!m) {
        return `is not a stamp`;
    }
    const [year, month] = [Number(m[1]), Number(m[2])];
    const day = m[3] === undefined ? 1 : Number(m[3]);
    const hour = m[4] === undefined ? 0 : Number(m[4]);
    const minute = m[5] === undefined ? 0 : Number(m[5]);
    if (year < 2000 || month < 1 || month > 12) {
        return `has no such month`;
    }
    const start = new Date(Date.UTC(year, month - 1, day, hour, minute));
    if (start.getUTCMonth() !== month - 1 || start.getUTCDate() !== day || hour > 23 || minute > 59) {
        return `is not a real date and time`;
    }
    const specificity = m[4] !== undefined ? 2 : m[3] !== undefined ? 1 : 0;
    return { raw, start, specificity };
}

/** Parses a stamp; throws a {@link RotationInputError} naming `key` if it is malformed. */
export function parseStamp(raw: string, key: string): ParsedStamp {
    const parsed = tryParseStamp(raw);
    if (typeof parsed === "string") {
        throw new RotationInputError(key, `\`${key}\` ${JSON.stringify(raw)} ${parsed}; expected ${STAMP_FORMATS}`);
    }
    return parsed;
}

function parseKnown(raw: string): ParsedStamp {
    return parseStamp(raw, "stamp");
}

/** Negative when `a` is earlier than `b`, zero when equal, positive when later. */
export function compareStamps(a: string, b: string): number {
    const pa = parseKnown(a);
    const pb = parseKnown(b);
    return pa.start.getTime() - pb.start.getTime() || pa.specificity - pb.specificity;
}

/** The later of two stamps (the first when equal). */
export function laterStamp(a: string, b: string | undefined): string {
    return b !== undefined && compareStamps(b, a) > 0 ? b : a;
}

/** The stamp a scheduled rotation at `now` uses: `YYYY-MM` for monthly/quarterly policies, `YYYY-MM-DD` otherwise. */
export function scheduledStamp(now: Date, period: PolicyPeriod): string {
    const ym = `${now.getUTCFullYear()}-${pad(now.getUTCMonth() + 1)}`;
    return period === "monthly" || period === "quarterly" ? ym : `${ym}-${pad(now.getUTCDate())}`;
}

/** The stamp an on-demand rotation at `now` uses: minute precision, so it sorts after the period's own stamp. */
export function onDemandStamp(now: Date): string {
    return (
        `${now.getUTCFullYear()}-${pad(now.getUTCMonth() + 1)}-${pad(now.getUTCDate())}` +
        `T${pad(now.getUTCHours())}${pad(now.getUTCMinutes())}Z`
    );
}

/** When a rotation made at `from` falls due again under `period`. */
export function nextDue(from: Date, period: PolicyPeriod): Date {
    const d = new Date(from.getTime());
    switch (period) {
        case "daily":
            d.setUTCDate(d.getUTCDate() + 1);
            break;
        case "weekly":
            d.setUTCDate(d.getUTCDate() + 7);
            break;
        case "monthly":
            addMonths(d, 1);
            break;
        case "quarterly":
            addMonths(d, 3);
            break;
    }
    return d;
}

function addMonths(d: Date, months: number): void {
    const day = d.getUTCDate();
    d.setUTCDate(1);
    d.setUTCMonth(d.getUTCMonth() + months);
    const last = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)).getUTCDate();
    d.setUTCDate(Math.min(day, last));
}

function pad(n: number): string {
    return String(n).padStart(2, "0");
}
