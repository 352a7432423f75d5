/**
 * The two-slot model of one group, as a pure state machine.
 *
 * Each slot has a generation label, the keeper of its credential, so a slot's credential is regenerated exactly
 * when its label changes. A rotation to a later stamp regenerates the slot that is *not* active and makes it active;
 * the previously active slot keeps its value and stays valid at its source until the next rotation, so consumers
 * that still hold it keep working while they roll. A rollback makes the other slot active again without
 * regenerating anything.
 */
import { ADOPTED_GENERATION, Group, Provider, Slot, otherSlot } from "./catalog";
import { Refusal, Source } from "./refusals";
import { GroupState } from "./state";
import { durationMs } from "./rules";
import { compareStamps, parseStamp } from "./stamp";

/** The slot a provider publishes: the held slot, or the active one. */
export function publishedSlot(state: GroupState, provider: Provider): Slot {
    return state.held[provider] ?? state.active;
}

export type GroupChange = "initial" | "adopt" | "rotate" | "retire" | "rollback" | "catch-up" | "none";

/** What one run asks of a group, after the stack file's floors and the request are merged. */
export type GroupIntent =
    /** Nothing beyond the stack file: keep the state; providers stay held only while `hold` names them. */
    | { readonly kind: "keep"; readonly hold: readonly Provider[]; readonly holdSource: Source }
    /** Rotate to `stamp`, holding `hold` back at the slot they publish now. */
    | {
          readonly kind: "rotate";
          readonly stamp: string;
          readonly source: Source;
          readonly hold: readonly Provider[];
          readonly holdSource: Source;
          /** `rotation:minInterval.<group>`: the least time after the group's last change for an on-demand stamp. */
          readonly minInterval?: string;
      }
    /** Release one held provider (publish the active slot to it) and keep the rest held. */
    | { readonly kind: "release"; readonly provider: Provider; readonly source: Source }
    /** Make the other slot active again. */
    | { readonly kind: "rollback"; readonly source: Source }
    /**
     * Regenerate the slot that is not active and keep the active one: the previous credential stops being valid at its
     * source (after a leak, or once every consumer moved off it). No new stamp: no new period starts.
     */
    | { readonly kind: "retire"; readonly source: Source }
    /**
     * First deployment of an environment in use: slot `a` takes the values in use today (read from the AWS versions
     * named in `versions`), slot `b` is generated; nothing is published differently.
     */
    | { readonly kind: "adopt"; readonly stamp: string; readonly versions: Readonly<Record<string, string>> };

export interface GroupTransition {
    readonly change: GroupChange;
    readonly next: GroupState;
    /** Slots whose credential this run generates anew. */
    readonly regenerate: readonly Slot[];
}

/**
 * Moves a group from its last committed state to the state this run asks for.
 *
 * @param label the generation label of a slot this run regenerates (derived from the committed state, see state.ts)
 * @returns the transition, or the refusal that stops the whole run
 */
export function transitionGroup(
    group: Group,
    last: GroupState | undefined,
    intent: GroupIntent,
    label: string,
    now: Date,
): GroupTransition | Refusal {
    const t = transition(group, last, intent, label, now);
    if (isRefusal(t) || last?.adopted === undefined) return t;
    // An adopted slot keeps its values (and the record of where they came from) until it is regenerated.
    const { adopted: _, ...rest } = t.next;
    const kept = t.next.generation[last.adopted.slot] === ADOPTED_GENERATION;
    return { ...t, next: kept ? { ...rest, adopted: last.adopted } : rest };
}

function transition(group: Group, last: GroupState | undefined, intent: GroupIntent, label: string, now: Date): GroupTransition | Refusal {
    const at = now.toISOString();
    if (last === undefined) {
        if (intent.kind === "adopt") {
            return {
                change: "adopt",
                next: {
                    stamp: intent.stamp,
                    active: "a",
                    generation: { a: ADOPTED_GENERATION, b: label },
                    activeSince: { a: intent.stamp, b: null },
                    rolledBack: false,
                    held: {},
                    changedAt: at,
                    adopted: { slot: "a", versions: { ...intent.versions } },
                },
                regenerate: ["b"],
            };
        }
        if (intent.kind === "rollback") return { kind: "nothing-to-roll-back", group, reason: "never-deployed", source: intent.source };
        if ((intent.kind === "keep" || intent.kind === "rotate") && intent.hold.length > 0) {
            return { kind: "hold-on-first-deployment", group, source: intent.holdSource };
        }
        if (intent.kind !== "rotate" && intent.kind !== "keep") return { kind: "nothing-to-roll-back", group, reason: "never-deployed", source: intent.source };
        const stamp = intent.kind === "rotate" ? intent.stamp : undefined;
        if (stamp === undefined) throw new Error(`first deployment of ${group} needs a stamp`);
        return {
            change: "initial",
            next: {
                stamp,
                active: "a",
                generation: { a: label, b: label },
                activeSince: { a: stamp, b: null },
                rolledBack: false,
                held: {},
                changedAt: at,
            },
            regenerate: ["a", "b"],
        };
    }

    switch (intent.kind) {
        case "rotate": {
            const held = Object.entries(last.held) as [Provider, Slot][];
            if (held.length > 0) {
                const [provider, slot] = held[0];
                return { kind: "held", group, provider, slot, since: last.stamp };
            }
            const order = compareStamps(intent.stamp, last.stamp);
            if (order < 0) return { kind: "stamp-backwards", group, stamp: intent.stamp, last: last.stamp, source: intent.source };
            if (order === 0) return { kind: "stamp-not-later", group, stamp: intent.stamp, last: last.stamp, source: intent.source };
            // A rotation drops the key the one before it replaced (for jwt: the key of every token issued before the
            // last rotation), so an on-demand one waits the minimum interval; a scheduled (`YYYY-MM`) one never does.
            if (intent.minInterval !== undefined && parseStamp(intent.stamp, "stamp").specificity > 0) {
                const allowed = Date.parse(last.changedAt) + durationMs(intent.minInterval);
                if (now.getTime() < allowed) {
                    return { kind: "min-interval", group, interval: intent.minInterval, last: last.changedAt, nextAllowed: new Date(allowed).toISOString() };
                }
            }
            const fresh = otherSlot(last.active);
            const next: GroupState = {
                stamp: intent.stamp,
                active: fresh,
                generation: { ...last.generation, [fresh]: label },
                activeSince: { ...last.activeSince, [fresh]: intent.stamp },
                rolledBack: false,
                held: Object.fromEntries(intent.hold.map((p) => [p, last.active])),
                changedAt: at,
            };
            return { change: "rotate", next, regenerate: [fresh] };
        }
        case "rollback": {
            // A repeated rollback is a no-op, not an error: a stack file keeps `rotation:rollback.<group>` set after
            // the run that applied it, and every later run must accept it (decided once, README "Rollback").
            if (last.rolledBack) return { change: "none", next: last, regenerate: [] };
            const back = otherSlot(last.active);
            if (last.activeSince[back] === null) return { kind: "nothing-to-roll-back", group, reason: "never-rotated", source: intent.source };
            return {
                change: "rollback",
                next: { ...last, active: back, rolledBack: true, held: {}, changedAt: at },
                regenerate: [],
            };
        }
        case "retire": {
            const held = Object.entries(last.held) as [Provider, Slot][];
            if (held.length > 0) {
                const [provider, slot] = held[0];
                return { kind: "held", group, provider, slot, since: last.stamp };
            }
            const retired = otherSlot(last.active);
            return {
                change: "retire",
                next: { ...last, generation: { ...last.generation, [retired]: label }, changedAt: at },
                regenerate: [retired],
            };
        }
        case "release": {
            const { [intent.provider]: released, ...rest } = last.held;
            if (released === undefined) return { change: "none", next: last, regenerate: [] };
            return { change: "catch-up", next: { ...last, held: rest }, regenerate: [] };
        }
        case "adopt":
            return { kind: "already-deployed", serial: 0 };
        case "keep": {
            // A provider stays held only while this run holds it; a held slot equal to the active one is no hold.
            const held = Object.fromEntries(
                intent.hold.flatMap((p) => {
                    const slot = last.held[p];
                    return slot !== undefined && slot !== last.active ? [[p, slot] as const] : [];
                }),
            ) as GroupState["held"];
            if (Object.keys(held).length === Object.keys(last.held).length) return { change: "none", next: last, regenerate: [] };
            return { change: "catch-up", next: { ...last, held }, regenerate: [] };
        }
    }
}

/** True when `value` is a refusal rather than a transition. */
export function isRefusal(value: GroupTransition | Refusal): value is Refusal {
    return "kind" in value;
}
