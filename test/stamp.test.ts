import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compareStamps, laterStamp, nextDue, onDemandStamp, parseStamp, scheduledStamp, tryParseStamp } from "../rotation/stamp";

describe("stamps", () => {
    it.each([
        ["2026-11", "2026-11-01T00:00:00.000Z", 0],
        ["2026-12-05", "2026-12-05T00:00:00.000Z", 1],
        ["2026-12-05T1630Z", "2026-12-05T16:30:00.000Z", 2],
        ["2028-02-29", "2028-02-29T00:00:00.000Z", 1],
    ])("parses %s as the period starting %s", (raw, start, specificity) => {
        const parsed = parseStamp(raw, "rotation:stamp");
        expect(parsed.start.toISOString()).toBe(start);
        expect(parsed.specificity).toBe(specificity);
    });

    it.each([
        ["2026-13", 'has no such month'],
        ["2026-00", "has no such month"],
        ["2027-02-29", "is not a real date and time"],
        ["2026-12-05T2460Z", "is not a real date and time"],
        ["2026-12-05T1630", "is not a stamp"],
        ["26-12", "is not a stamp"],
        ["2026/12", "is not a stamp"],
        ["2026-12-05 16:30", "is not a stamp"],
        ["", "is not a stamp"],
        ["1999-12", "has no such month"],
    ])("rejects %j (%s)", (raw, why) => {
        expect(tryParseStamp(raw)).toContain(why);
        expect(() => parseStamp(raw, "rotation:stamp")).toThrow(
            new RegExp(`^\`rotation:stamp\` ${JSON.stringify(raw).replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")} .*expected \`YYYY-MM\``),
        );
    });

    it.each([
        ["2026-11", "2026-12", -1],
        ["2026-12", "2026-12-01", -1],
        ["2026-12-01", "2026-12-01T0000Z", -1],
        ["2026-12-01T0000Z", "2026-12-05T1630Z", -1],
        ["2026-12-05T1630Z", "2027-01", -1],
        ["2027-01", "2027-01", 0],
        ["2026-11-30T2359Z", "2026-12", -1],
    ])("orders %s against %s as %i", (a, b, sign) => {
        expect(Math.sign(compareStamps(a, b))).toBe(sign);
        expect(Math.sign(compareStamps(b, a))).toBe(-sign || 0);
    });

    it("laterStamp picks the later one, the first on a tie or when the second is absent", () => {
        expect(laterStamp("2026-12", "2026-12-05T1630Z")).toBe("2026-12-05T1630Z");
        expect(laterStamp("2027-01", "2026-12-05T1630Z")).toBe("2027-01");
        expect(laterStamp("2027-01", undefined)).toBe("2027-01");
    });

    it.each([
        ["2026-12-01T00:00:00Z", "monthly", "2026-12"],
        ["2026-12-31T23:59:59Z", "quarterly", "2026-12"],
        ["2026-12-07T08:00:00Z", "weekly", "2026-12-07"],
        ["2026-12-07T08:00:00Z", "daily", "2026-12-07"],
    ] as const)("a scheduled rotation at %s under %s policy uses %s", (now, period, expected) => {
        expect(scheduledStamp(new Date(now), period)).toBe(expected);
    });

    it("an on-demand stamp sorts after the period's scheduled stamp", () => {
        const now = new Date("2026-11-25T16:30:45Z");
        expect(onDemandStamp(now)).toBe("2026-11-25T1630Z");
        expect(compareStamps(onDemandStamp(now), scheduledStamp(now, "monthly"))).toBeGreaterThan(0);
    });

    it.each([
        ["2026-01-31T00:00:00Z", "monthly", "2026-02-28T00:00:00.000Z"],
        ["2026-11-01T00:00:00Z", "quarterly", "2027-02-01T00:00:00.000Z"],
        ["2026-11-28T00:00:00Z", "weekly", "2026-12-05T00:00:00.000Z"],
        ["2026-12-31T00:00:00Z", "daily", "2027-01-01T00:00:00.000Z"],
    ] as const)("nextDue(%s, %s) = %s", (from, period, due) => {
        expect(nextDue(new Date(from), period).toISOString()).toBe(due);
    });

    const instant = fc.date({ min: new Date("2000-01-01T00:00:00Z"), max: new Date("2099-12-31T23:59:00Z"), noInvalidDate: true });
    const anyStamp = fc
        .tuple(instant, fc.constantFrom("monthly", "daily", "ondemand"))
        .map(([d, kind]) => (kind === "ondemand" ? onDemandStamp(d) : scheduledStamp(d, kind as "monthly" | "daily")));

    it("property: every generated stamp parses and never starts after the instant it was made for", () => {
        fc.assert(
            fc.property(instant, fc.constantFrom("daily", "weekly", "monthly", "quarterly"), (d, period) => {
                const s = scheduledStamp(d, period as "monthly");
                expect(parseStamp(s, "k").start.getTime()).toBeLessThanOrEqual(d.getTime());
                expect(parseStamp(onDemandStamp(d), "k").start.getTime()).toBeLessThanOrEqual(d.getTime());
            }),
        );
    });

    it("property: ordering is a total order consistent with the periods' start instants", () => {
        fc.assert(
            fc.property(anyStamp, anyStamp, anyStamp, (a, b, c) => {
                expect(Math.sign(compareStamps(a, b))).toBe(-Math.sign(compareStamps(b, a)) || 0);
                if (compareStamps(a, b) <= 0 && compareStamps(b, c) <= 0) expect(compareStamps(a, c)).toBeLessThanOrEqual(0);
                if (parseStamp(a, "k").start < parseStamp(b, "k").start) expect(compareStamps(a, b)).toBeLessThan(0);
                expect(compareStamps(a, b) === 0).toBe(a === b);
            }),
        );
    });
});
