import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Slot } from "../rotation/catalog";
import { GroupState, slotKeeper, transitionGroup } from "../rotation/slots";
import { onDemandStamp } from "../rotation/stamp";

const target = (stamp: string, rollback?: string) => ({
    stamp,
    stampKey: "rotation:stamp",
    rollback,
    rollbackKey: "rotation:rollback.database",
});
const state = (stamp: string, active: Slot, a: string | null, b: string | null, rolledBack = false): GroupState => ({
    stamp,
    active,
    slots: { a, b },
    rolledBack,
});

describe("two-slot model", () => {
    it.each([
        ["first deployment fills both slots, a active", undefined, target("2026-11"), "initial", state("2026-11", "a", "2026-11", null), ["a", "b"]],
        ["a rotation regenerates the inactive slot and activates it", state("2026-11", "a", "2026-11", null), target("2026-12"), "rotate", state("2026-12", "b", "2026-11", "2026-12"), ["b"]],
        ["the next rotation regenerates the other slot", state("2026-12", "b", "2026-11", "2026-12"), target("2027-01"), "rotate", state("2027-01", "a", "2027-01", "2026-12"), ["a"]],
        ["an on-demand stamp inside the period rotates", state("2026-12", "b", "2026-11", "2026-12"), target("2026-12-05T1630Z"), "rotate", state("2026-12-05T1630Z", "a", "2026-12-05T1630Z", "2026-12"), ["a"]],
        ["the same stamp changes nothing", state("2026-12", "b", "2026-11", "2026-12"), target("2026-12"), "none", state("2026-12", "b", "2026-11", "2026-12"), []],
        ["a rollback activates the other slot without regenerating", state("2026-12", "b", "2026-11", "2026-12"), target("2026-12", "2026-12"), "rollback", state("2026-12", "a", "2026-11", "2026-12", true), []],
        ["a repeated rollback is a no-op", state("2026-12", "a", "2026-11", "2026-12", true), target("2026-12", "2026-12"), "none", state("2026-12", "a", "2026-11", "2026-12", true), []],
        ["a rotation after a rollback regenerates the rolled-back slot, not the one in use", state("2026-12", "a", "2026-11", "2026-12", true), target("2027-01"), "rotate", state("2027-01", "b", "2026-11", "2027-01"), ["b"]],
        ["a stale rollback key from an older rotation is ignored", state("2027-01", "b", "2026-11", "2027-01"), target("2027-01", "2026-12"), "none", state("2027-01", "b", "2026-11", "2027-01"), []],
    ] as const)("%s", (_, last, t, change, next, regenerate) => {
        const result = transitionGroup("database", last, t);
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
    ] as const)("refuses %s", (_, last, t, key, message) => {
        expect(() => transitionGroup("database", last, t)).toThrow(message);
        try {
            transitionGroup("database", last, t);
        } catch (err) {
            expect((err as { key: string }).key).toBe(key);
        }
    });

    it("keepers: a slot's keeper is its generation stamp, 'initial' for the slot made on first deployment", () => {
        const s = state("2026-11", "a", "2026-11", null);
        expect(slotKeeper(s, "a")).toBe("2026-11");
        expect(slotKeeper(s, "b")).toBe("initial");
    });

    // The zero-downtime invariant over any sequence of rotations and rollbacks: the slot consumers hold before a
    // run is never regenerated by it, and a rotation regenerates exactly one slot.
    it("property: no run regenerates the slot in use; a rotation regenerates exactly one slot", () => {
        const step = fc.oneof(fc.constant("rotate" as const), fc.constant("rollback" as const), fc.constant("rerun" as const));
        fc.assert(
            fc.property(fc.array(step, { minLength: 1, maxLength: 40 }), (steps) => {
                let clock = Date.UTC(2026, 0, 1);
                let current: GroupState = transitionGroup("jwt", undefined, target(onDemandStamp(new Date(clock)))).next;
                for (const s of steps) {
                    const inUse = current.active;
                    const keeperInUse = slotKeeper(current, inUse);
                    let result;
                    if (s === "rotate") {
                        clock += 3_600_000;
                        result = transitionGroup("jwt", current, target(onDemandStamp(new Date(clock))));
                        expect(result.regenerate).toHaveLength(1);
                        expect(result.next.active).not.toBe(inUse);
                    } else if (s === "rollback") {
                        if (current.slots[inUse === "a" ? "b" : "a"] === null) {
                            // Nothing valid to roll back to: refused, state unchanged.
                            expect(() => transitionGroup("jwt", current, target(current.stamp, current.stamp))).toThrow(/never been active/);
                            continue;
                        }
                        result = transitionGroup("jwt", current, target(current.stamp, current.stamp));
                    } else {
                        result = transitionGroup("jwt", current, target(current.stamp));
                        expect(result.change).toBe("none");
                    }
                    expect(result.regenerate).not.toContain(inUse);
                    expect(slotKeeper(result.next, inUse)).toBe(keeperInUse);
                    current = result.next;
                }
            }),
        );
    });
});
