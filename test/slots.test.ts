import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PROVIDERS, Provider, SLOTS, Slot } from "../rotation/catalog";
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
        [
            "a rotation limited to Kubernetes holds AWS instead",
            ROTATED,
            rotateHolding("2027-01", ["aws"]),
            { change: "rotate", next: state("2027-01", "a", [LABEL, "g2"], ["2027-01", "2026-12"], { changedAt: N, held: { aws: "b" } }), regenerate: ["a"] },
        ],
        ["keeping the hold keeps the held provider where it is", HELD, keep(["k8s"]), { change: "none", next: HELD, regenerate: [] }],
        [
            "a hold on the slot that is active again (after a rollback) is no hold: it is dropped",
            { ...HELD, held: { k8s: "a" } },
            keep(["k8s"]),
            { change: "catch-up", next: { ...HELD, held: {} }, regenerate: [] },
        ],
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
        ["a hold kept on first deployment", undefined, keep(["k8s"]), { kind: "hold-on-first-deployment", group: "database", source: HOLD_KEY }],
        ["a rotation held back while a rollback left a hold", { ...HELD, rolledBack: true }, rotateHolding("2027-02", ["k8s"]), { kind: "held", group: "database", provider: "k8s", slot: "b", since: "2027-01" }],
    ])("refuses %s", (_, last, intent, refusal) => {
        expect(transitionGroup("database", last, intent, LABEL, NOW)).toEqual(refusal);
    });

    it("a first deployment needs a stamp: keeping a group that was never deployed is a caller's error, not a refusal", () => {
        // The planner always asks a never-deployed group to rotate to its floor (rotation/plan.ts groupIntents).
        expect(() => transitionGroup("database", undefined, keep(), LABEL, NOW)).toThrow("first deployment of database needs a stamp");
    });

    // The zero-downtime invariant over any sequence of rotations (full or provider-limited, with fresh or stale
    // stamps), catch-ups, releases, reruns and rollbacks: no transition changes the generation of the active slot or
    // of a held slot, `regenerate` is exactly the set of slots whose generation changed, and a rotation changes
    // exactly one slot's generation (the newly active one, to the run's label).
    it("property: no transition regenerates a slot in use; a rotation changes exactly one slot's generation", () => {
        type Step =
            | { kind: "rotate"; hold: readonly Provider[]; stale: boolean }
            | { kind: "keep"; hold: readonly Provider[] }
            | { kind: "release"; provider: Provider }
            | { kind: "rollback" };
        const holds = fc.constantFrom<readonly Provider[]>([], ["k8s"], ["aws"]);
        const step: fc.Arbitrary<Step> = fc.oneof(
            fc.record({ kind: fc.constant("rotate" as const), hold: holds, stale: fc.boolean() }),
            fc.record({ kind: fc.constant("keep" as const), hold: holds }),
            fc.record({ kind: fc.constant("release" as const), provider: fc.constantFrom(...PROVIDERS) }),
            fc.constant({ kind: "rollback" as const }),
        );
        const seen = new Set<string>();
        fc.assert(
            fc.property(fc.array(step, { minLength: 1, maxLength: 40 }), (steps) => {
                let clock = Date.UTC(2026, 0, 1);
                let serial = 1;
                const first = transitionGroup("jwt", undefined, rotate(onDemandStamp(new Date(clock))), "g1", NOW);
                if (isRefusal(first)) throw new Error(`first deployment refused: ${first.kind}`);
                expect(first.next.generation).toEqual({ a: "g1", b: "g1" });
                let current = first.next;
                for (const s of steps) {
                    const label = `g${serial + 1}`;
                    let intent: GroupIntent;
                    if (s.kind === "rotate") {
                        if (!s.stale) clock += 3_600_000;
                        intent = rotateHolding(s.stale ? current.stamp : onDemandStamp(new Date(clock)), s.hold);
                    } else if (s.kind === "keep") {
                        intent = keep(s.hold);
                    } else if (s.kind === "release") {
                        intent = release(s.provider);
                    } else {
                        intent = rollback;
                    }
                    const inUse = new Set<Slot>([current.active, ...Object.values(current.held)]);
                    const result = transitionGroup("jwt", current, intent, label, NOW);
                    if (isRefusal(result)) {
                        seen.add(result.kind);
                        // Only these refusals can arise here, each exactly when its rule says.
                        if (result.kind === "held") expect(s.kind === "rotate" && Object.keys(current.held).length > 0).toBe(true);
                        else if (result.kind === "stamp-not-later") expect(s.kind === "rotate" && s.stale && Object.keys(current.held).length === 0).toBe(true);
                        else expect(result).toMatchObject({ kind: "nothing-to-roll-back", reason: "never-rotated" });
                        continue;
                    }
                    seen.add(result.change);
                    const changed = SLOTS.filter((slot) => result.next.generation[slot] !== current.generation[slot]);
                    expect(result.regenerate).toEqual(changed);
                    for (const slot of inUse) expect(result.next.generation[slot]).toBe(current.generation[slot]);
                    if (s.kind === "rotate") {
                        expect(result.change).toBe("rotate");
                        expect(changed).toEqual([result.next.active]);
                        expect(result.next.generation[result.next.active]).toBe(label);
                        expect(result.next.active).not.toBe(current.active);
                        // The provider held back publishes exactly what it published before.
                        for (const p of s.hold) expect(result.next.held[p]).toBe(current.active);
                    } else {
                        expect(changed).toEqual([]);
                    }
                    if (result.change !== "none") serial++;
                    current = result.next;
                }
            }),
            { numRuns: 300 },
        );
        // The runs went through every kind of transition and every refusal the steps can cause.
        expect([...seen].sort()).toEqual(["catch-up", "held", "none", "nothing-to-roll-back", "rollback", "rotate", "stamp-not-later"]);
    });
});
