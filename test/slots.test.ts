import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Slot } from "../rotation/catalog";
import { GroupState, slotKeeper, transitionGroup } from "../rotation/slots";
import { onDemandStamp } from "../rotation/stamp";
import { target } from "./support/fixtures";

const NOW = new Date("2026-12-05T16:30:00Z");
const OLD = "2026-11-01T00:00:00.000Z";
const state = (
    stamp: string,
    active: Slot,
    a: string | null,
    b: string | null,
    rolledBack = false,
    changedAt = OLD,
    held: GroupState["held"] = {},
): GroupState => ({ stamp, active, slots: { a, b }, rolledBack, held, changedAt });
const N = NOW.toISOString();

describe("two-slot model", () => {
    it.each([
        ["first deployment fills both slots, a active", undefined, target("2026-11"), "initial", state("2026-11", "a", "2026-11", null, false, N), ["a", "b"]],
        ["a rotation regenerates the inactive slot and activates it", state("2026-11", "a", "2026-11", null), target("2026-12"), "rotate", state("2026-12", "b", "2026-11", "2026-12", false, N), ["b"]],
        ["the next rotation regenerates the other slot", state("2026-12", "b", "2026-11", "2026-12"), target("2027-01"), "rotate", state("2027-01", "a", "2027-01", "2026-12", false, N), ["a"]],
        ["an on-demand stamp inside the period rotates", state("2026-12", "b", "2026-11", "2026-12"), target("2026-12-05T1630Z"), "rotate", state("2026-12-05T1630Z", "a", "2026-12-05T1630Z", "2026-12", false, N), ["a"]],
        ["the same stamp changes nothing", state("2026-12", "b", "2026-11", "2026-12"), target("2026-12"), "none", state("2026-12", "b", "2026-11", "2026-12"), []],
        ["a rollback activates the other slot without regenerating", state("2026-12", "b", "2026-11", "2026-12"), target("2026-12", "2026-12"), "rollback", state("2026-12", "a", "2026-11", "2026-12", true, N), []],
        ["a repeated rollback is a no-op", state("2026-12", "a", "2026-11", "2026-12", true), target("2026-12", "2026-12"), "none", state("2026-12", "a", "2026-11", "2026-12", true), []],
        ["a rotation after a rollback regenerates the rolled-back slot, not the one in use", state("2026-12", "a", "2026-11", "2026-12", true), target("2027-01"), "rotate", state("2027-01", "b", "2026-11", "2027-01", false, N), ["b"]],
        ["a stale rollback key from an older rotation is ignored", state("2027-01", "b", "2026-11", "2027-01"), target("2027-01", "2026-12"), "none", state("2027-01", "b", "2026-11", "2027-01"), []],
        ["a provider-limited rotation holds the other provider at the old slot", state("2026-12", "b", "2026-11", "2026-12"), target("2027-01", undefined, ["k8s"]), "rotate", state("2027-01", "a", "2027-01", "2026-12", false, N, { k8s: "b" }), ["a"]],
        ["keeping the hold keeps the held provider where it is", state("2027-01", "a", "2027-01", "2026-12", false, OLD, { k8s: "b" }), target("2027-01", undefined, ["k8s"]), "none", state("2027-01", "a", "2027-01", "2026-12", false, OLD, { k8s: "b" }), []],
        ["dropping the hold catches the held provider up, regenerating nothing", state("2027-01", "a", "2027-01", "2026-12", false, OLD, { k8s: "b" }), target("2027-01"), "catch-up", state("2027-01", "a", "2027-01", "2026-12", false, OLD), []],
        ["a hold on a provider that is not behind holds nothing", state("2027-01", "a", "2027-01", "2026-12"), target("2027-01", undefined, ["aws"]), "none", state("2027-01", "a", "2027-01", "2026-12"), []],
        ["a rollback while held brings both providers to the same slot", state("2027-01", "a", "2027-01", "2026-12", false, OLD, { k8s: "b" }), target("2027-01", "2027-01", ["k8s"]), "rollback", state("2027-01", "b", "2027-01", "2026-12", true, N), []],
    ] as const)("%s", (_, last, t, change, next, regenerate) => {
        const result = transitionGroup("database", last, t as never, NOW);
        expect(result.change).toBe(change);
        expect(result.next).toEqual(next);
        expect(result.regenerate).toEqual(regenerate);
    });

    it.each([
        ["a stamp going backwards", state("2026-12", "b", "2026-11", "2026-12"), target("2026-11"), "rotation:stamp", "`rotation:stamp` 2026-11 is earlier than database's last stamp 2026-12; stamps never go backwards (use a later stamp, or `rotation:rollback` to undo a rotation)"],
        ["a monthly stamp after an on-demand one in the same month", state("2026-12-05T1630Z", "a", "2026-12-05T1630Z", "2026-12"), target("2026-12"), "rotation:stamp", "`rotation:stamp` 2026-12 is earlier than database's last stamp 2026-12-05T1630Z; stamps never go backwards (use a later stamp, or `rotation:rollback` to undo a rotation)"],
        ["a rollback of a group never rotated", undefined, target("2026-11", "2026-11"), "rotation:rollback.database", "`rotation:rollback.database` cannot roll back database: it has never been rotated"],
        ["a rollback right after first deployment", state("2026-11", "a", "2026-11", null), target("2026-11", "2026-11"), "rotation:rollback.database", "`rotation:rollback.database` cannot roll back database: slot b has never been active"],
        ["a rollback in the same run as the rotation", state("2026-11", "a", "2026-11", null), target("2026-12", "2026-12"), "rotation:rollback.database", "`rotation:rollback.database` 2026-12 names a rotation of database that has not happened yet; rotate and roll back in separate runs"],
        ["a rollback of a future rotation", state("2026-12", "b", "2026-11", "2026-12"), target("2026-12", "2027-01"), "rotation:rollback.database", "`rotation:rollback.database` 2027-01 is later than database's stamp 2026-12: only the last rotation can be rolled back"],
        ["a rotation while a provider is held back", state("2027-01", "a", "2027-01", "2026-12", false, OLD, { k8s: "b" }), target("2027-02", undefined, ["k8s"]), "rotation:stamp", "`rotation:stamp` 2027-02 would regenerate slot b of database, which k8s still publishes (held back since 2027-01); catch k8s up first: a run without `rotation:hold.database` and without a new stamp"],
        ["a hold on first deployment", undefined, target("2026-11", undefined, ["aws"]), "rotation:hold.database", "`rotation:hold.database` cannot hold back `aws` on database's first deployment: there is nothing older to keep"],
    ] as const)("refuses %s", (_, last, t, key, message) => {
        expect(() => transitionGroup("database", last, t as never, NOW)).toThrow(expect.objectContaining({ key, message }));
    });

    it("keepers: a slot's keeper is its generation stamp, 'initial' for the slot made on first deployment", () => {
        const s = state("2026-11", "a", "2026-11", null);
        expect(slotKeeper(s, "a")).toBe("2026-11");
        expect(slotKeeper(s, "b")).toBe("initial");
    });

    // The zero-downtime invariant over any sequence of rotations (full or provider-limited), catch-ups and
    // rollbacks: no run regenerates a slot that any provider publishes before it, and a rotation regenerates
    // exactly one slot.
    it("property: no run regenerates a slot in use; a rotation regenerates exactly one slot", () => {
        const step = fc.constantFrom("rotate", "rotate-aws-only", "catch-up", "rollback", "rerun");
        fc.assert(
            fc.property(fc.array(step, { minLength: 1, maxLength: 40 }), (steps) => {
                let clock = Date.UTC(2026, 0, 1);
                let current: GroupState = transitionGroup("jwt", undefined, target(onDemandStamp(new Date(clock))), NOW).next;
                let hold: ReturnType<typeof target>["hold"];
                for (const s of steps) {
                    const inUse = new Set<Slot>([current.active, ...Object.values(current.held)]);
                    const keepers = [...inUse].map((slot) => [slot, slotKeeper(current, slot)] as const);
                    let t: ReturnType<typeof target>;
                    if (s === "rotate" || s === "rotate-aws-only") {
                        clock += 3_600_000;
                        t = target(onDemandStamp(new Date(clock)), undefined, s === "rotate-aws-only" ? ["k8s"] : undefined);
                        if (Object.keys(current.held).length > 0) {
                            expect(() => transitionGroup("jwt", current, t, NOW)).toThrow(/catch k8s up first/);
                            continue;
                        }
                        hold = t.hold;
                    } else if (s === "catch-up") {
                        hold = undefined;
                        t = target(current.stamp);
                    } else if (s === "rollback") {
                        if (current.rolledBack === false && current.slots[current.active === "a" ? "b" : "a"] === null) {
                            expect(() => transitionGroup("jwt", current, target(current.stamp, current.stamp, hold), NOW)).toThrow(/never been active/);
                            continue;
                        }
                        t = target(current.stamp, current.stamp, hold);
                    } else {
                        t = target(current.stamp, undefined, hold);
                    }
                    const result = transitionGroup("jwt", current, t, NOW);
                    if (s.startsWith("rotate")) {
                        expect(result.regenerate).toHaveLength(1);
                        expect(result.next.active).not.toBe(current.active);
                    }
                    if (s === "rerun") expect(result.change).toBe("none");
                    for (const [slot, keeper] of keepers) {
                        expect(result.regenerate).not.toContain(slot);
                        expect(slotKeeper(result.next, slot)).toBe(keeper);
                    }
                    current = result.next;
                }
            }),
        );
    });
});
