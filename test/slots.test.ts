import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Provider, Slot } from "../rotation/catalog";
import { Refusal } from "../rotation/refusals";
import { GroupIntent, GroupTransition, isRefusal, transitionGroup } from "../rotation/slots";
import { GroupState } from "../rotation/state";
import { onDemandStamp } from "../rotation/stamp";
import { FROM_REQUEST, rotateIntent } from "./support/fixtures";

const NOW = new Date("2026-12-05T16:30:00Z");
const N = NOW.toISOString();
const OLD = "2026-11-01T00:00:00.000Z";
/** The label this run gives a slot it regenerates. */
const LABEL = "g9";
const HOLD_KEY = { kind: "config", key: "rotation:hold.database" } as const;

const keep = (hold: readonly Provider[] = []): GroupIntent => ({ kind: "keep", hold, holdSource: HOLD_KEY });
const rotate = rotateIntent;
const rotateHolding = (stamp: string, hold: readonly Provider[]): GroupIntent => ({ kind: "rotate", stamp, source: FROM_REQUEST, hold, holdSource: HOLD_KEY });
const release = (provider: Provider): GroupIntent => ({ kind: "release", provider, source: FROM_REQUEST });
const rollback: GroupIntent = { kind: "rollback", source: FROM_REQUEST };

/** A group's state: generation labels `gA`/`gB`, the stamps `sinceA`/`sinceB` each slot was last made active at. */
const state = (
    stamp: string,
    active: Slot,
    [gA, gB]: [string, string],
    [sinceA, sinceB]: [string | null, string | null],
    { rolledBack = false, changedAt = OLD, held = {} }: { rolledBack?: boolean; changedAt?: string; held?: GroupState["held"] } = {},
): GroupState => ({ stamp, active, generation: { a: gA, b: gB }, activeSince: { a: sinceA, b: sinceB }, rolledBack, held, changedAt });

const FIRST = state("2026-11", "a", ["g1", "g1"], ["2026-11", null]);
const ROTATED = state("2026-12", "b", ["g1", "g2"], ["2026-11", "2026-12"]);
const HELD = state("2027-01", "a", ["g3", "g2"], ["2027-01", "2026-12"], { held: { k8s: "b" } });

describe("two-slot model", () => {
    it.each<[string, GroupState | undefined, GroupIntent, GroupTransition]>([
        [
            "first deployment generates both slots with the run's label, a active",
            undefined,
            rotate("2026-11"),
            { change: "initial", next: state("2026-11", "a", [LABEL, LABEL], ["2026-11", null], { changedAt: N }), regenerate: ["a", "b"] },
        ],
        [
            "a rotation regenerates the inactive slot with the run's label and activates it",
            FIRST,
            rotate("2026-12"),
            { change: "rotate", next: state("2026-12", "b", ["g1", LABEL], ["2026-11", "2026-12"], { changedAt: N }), regenerate: ["b"] },
        ],
        [
            "the next rotation regenerates the other slot",
            ROTATED,
            rotate("2027-01"),
            { change: "rotate", next: state("2027-01", "a", [LABEL, "g2"], ["2027-01", "2026-12"], { changedAt: N }), regenerate: ["a"] },
        ],
        [
            "an on-demand stamp inside the period rotates",
            ROTATED,
            rotate("2026-12-05T1630Z"),
            { change: "rotate", next: state("2026-12-05T1630Z", "a", [LABEL, "g2"], ["2026-12-05T1630Z", "2026-12"], { changedAt: N }), regenerate: ["a"] },
        ],
        ["a run that asks nothing changes nothing", ROTATED, keep(), { change: "none", next: ROTATED, regenerate: [] }],
        [
            "a rollback activates the other slot without regenerating",
            ROTATED,
            rollback,
            { change: "rollback", next: { ...ROTATED, active: "a", rolledBack: true, changedAt: N }, regenerate: [] },
        ],
        [
            "a repeated rollback is a no-op",
            { ...ROTATED, active: "a", rolledBack: true },
            rollback,
            { change: "none", next: { ...ROTATED, active: "a", rolledBack: true }, regenerate: [] },
        ],
        [
            "a rotation after a rollback regenerates the rolled-back slot, not the one in use",
            { ...ROTATED, active: "a", rolledBack: true },
            rotate("2027-01"),
            { change: "rotate", next: state("2027-01", "b", ["g1", LABEL], ["2026-11", "2027-01"], { changedAt: N }), regenerate: ["b"] },
        ],
        [
            "a provider-limited rotation holds the other provider at the slot it published",
            ROTATED,
            rotateHolding("2027-01", ["k8s"]),
            { change: "rotate", next: state("2027-01", "a", [LABEL, "g2"], ["2027-01", "2026-12"], { changedAt: N, held: { k8s: "b" } }), regenerate: ["a"] },
        ],
        ["keeping the hold keeps the held provider where it is", HELD, keep(["k8s"]), { change: "none", next: HELD, regenerate: [] }],
        ["dropping the hold catches the held provider up, regenerating nothing", HELD, keep(), { change: "catch-up", next: { ...HELD, held: {} }, regenerate: [] }],
        ["releasing the held provider catches it up, regenerating nothing", HELD, release("k8s"), { change: "catch-up", next: { ...HELD, held: {} }, regenerate: [] }],
        ["releasing a provider that is not held changes nothing", HELD, release("aws"), { change: "none", next: HELD, regenerate: [] }],
        ["a hold on a provider that is not behind holds nothing", ROTATED, keep(["aws"]), { change: "none", next: ROTATED, regenerate: [] }],
        [
            "a rollback while held brings both providers to the same slot",
            HELD,
            rollback,
            { change: "rollback", next: { ...HELD, active: "b", rolledBack: true, held: {}, changedAt: N }, regenerate: [] },
        ],
    ])("%s", (_, last, intent, expected) => {
        expect(transitionGroup("database", last, intent, LABEL, NOW)).toEqual(expected);
    });

    it.each<[string, GroupState | undefined, GroupIntent, Refusal]>([
        ["a stamp going backwards", ROTATED, rotate("2026-11"), { kind: "stamp-backwards", group: "database", stamp: "2026-11", last: "2026-12", source: FROM_REQUEST }],
        [
            "a monthly stamp after an on-demand one in the same month",
            state("2026-12-05T1630Z", "a", ["g3", "g2"], ["2026-12-05T1630Z", "2026-12"]),
            rotate("2026-12"),
            { kind: "stamp-backwards", group: "database", stamp: "2026-12", last: "2026-12-05T1630Z", source: FROM_REQUEST },
        ],
        ["a rotation to the stamp it already has", ROTATED, rotate("2026-12"), { kind: "stamp-not-later", group: "database", stamp: "2026-12", last: "2026-12", source: FROM_REQUEST }],
        ["a rollback of a group never deployed", undefined, rollback, { kind: "nothing-to-roll-back", group: "database", reason: "never-deployed", source: FROM_REQUEST }],
        ["a rollback right after first deployment", FIRST, rollback, { kind: "nothing-to-roll-back", group: "database", reason: "never-rotated", source: FROM_REQUEST }],
        ["a rotation while a provider is held back", HELD, rotate("2027-02"), { kind: "held", group: "database", provider: "k8s", slot: "b", since: "2027-01" }],
        ["a hold on first deployment", undefined, rotateHolding("2026-11", ["aws"]), { kind: "hold-on-first-deployment", group: "database", source: HOLD_KEY }],
    ])("refuses %s", (_, last, intent, refusal) => {
        expect(transitionGroup("database", last, intent, LABEL, NOW)).toEqual(refusal);
    });

    // The zero-downtime invariant over any sequence of rotations (full or provider-limited), catch-ups and
    // rollbacks: no run regenerates a slot that any provider publishes before it, the generation of a published slot
    // never changes, and a rotation regenerates exactly one slot.
    it("property: no run regenerates a slot in use; a rotation regenerates exactly one slot", () => {
        const step = fc.constantFrom("rotate", "rotate-aws-only", "catch-up", "rollback", "rerun");
        fc.assert(
            fc.property(fc.array(step, { minLength: 1, maxLength: 40 }), (steps) => {
                let clock = Date.UTC(2026, 0, 1);
                let serial = 1;
                const first = transitionGroup("jwt", undefined, rotate(onDemandStamp(new Date(clock))), `g${serial}`, NOW);
                if (isRefusal(first)) throw new Error(`first deployment refused: ${first.kind}`);
                let current = first.next;
                let hold: readonly Provider[] = [];
                for (const s of steps) {
                    const inUse = new Set<Slot>([current.active, ...Object.values(current.held)]);
                    let intent: GroupIntent;
                    if (s === "rotate" || s === "rotate-aws-only") {
                        clock += 3_600_000;
                        const held = s === "rotate-aws-only" ? (["k8s"] as const) : [];
                        intent = rotateIntent(onDemandStamp(new Date(clock)), held);
                        if (Object.keys(current.held).length > 0) {
                            expect(transitionGroup("jwt", current, intent, `g${serial + 1}`, NOW)).toMatchObject({ kind: "held" });
                            continue;
                        }
                        hold = held;
                    } else if (s === "catch-up") {
                        hold = [];
                        intent = keep();
                    } else if (s === "rollback") {
                        intent = rollback;
                    } else {
                        intent = keep(hold);
                    }
                    const result = transitionGroup("jwt", current, intent, `g${serial + 1}`, NOW);
                    if (isRefusal(result)) {
                        expect(result).toMatchObject({ kind: "nothing-to-roll-back", reason: "never-rotated" });
                        continue;
                    }
                    if (s.startsWith("rotate")) {
                        expect(result.regenerate).toHaveLength(1);
                        expect(result.next.active).not.toBe(current.active);
                    }
                    if (s === "rerun") expect(result.change).toBe("none");
                    for (const slot of inUse) {
                        expect(result.regenerate).not.toContain(slot);
                        expect(result.next.generation[slot]).toBe(current.generation[slot]);
                    }
                    if (result.change !== "none") serial++;
                    current = result.next;
                }
            }),
        );
    });
});
