/**
 * The two-slot model of one group, as a pure state machine.
 *
 * Each slot remembers the stamp it was last generated for; that stamp is the slot's keeper, so a slot's credential
 * is regenerated exactly when its stamp changes. A rotation to a later stamp regenerates the slot that is *not*
 * active and makes it active; the previously active slot keeps its value and stays valid at its source until the
 * next rotation, so consumers that still hold it keep working while they roll. A rollback makes the other slot
 * active again without regenerating anything.
 */
import { Group, Slot, otherSlot } from "./catalog";
import { RotationInputError } from "./errors";
import { compareStamps } from "./stamp";

/** What the program remembers of one group between runs (a stack output; holds no secret). */
export interface GroupState {
    /** The stamp of the group's last rotation. */
    readonly stamp: string;
    /** The slot consumers are told to use. */
    readonly active: Slot;
    /** The stamp each slot was last generated for; `null` for the slot made on first deployment. */
    readonly slots: Readonly<Record<Slot, string | null>>;
    /** Whether the rotation to `stamp` was rolled back (the active slot is the older one). */
    readonly rolledBack: boolean;
}

export type GroupChange = "initial" | "rotate" | "rollback" | "none";

export interface GroupTransition {
    readonly change: GroupChange;
    readonly next: GroupState;
    /** Slots whose credential this run generates anew. */
    readonly regenerate: readonly Slot[];
}

/** What the user asked of a group in this run, and which config keys said so (for error messages). */
export interface GroupTarget {
    readonly stamp: string;
    readonly stampKey: string;
    readonly rollback?: string;
    readonly rollbackKey: string;
}

/** The keeper value of a slot: its generation stamp. A slot's credential is regenerated exactly when this changes. */
export function slotKeeper(state: GroupState, slot: Slot): string {
    return state.slots[slot] ?? "initial";
}

/**
 * Moves a group from its last state to the state this run asks for.
 *
 * @throws RotationInputError when the stamp goes backwards, or a rollback has nothing to roll back to.
 */
export function transitionGroup(group: Group, last: GroupState | undefined, target: GroupTarget): GroupTransition {
    const { stamp, rollback } = target;
    if (last === undefined) {
        if (rollback !== undefined && rollback === stamp) {
            throw new RotationInputError(
                target.rollbackKey,
                `\`${target.rollbackKey}\` cannot roll back ${group}: it has never been rotated`,
            );
        }
        return {
            change: "initial",
            next: { stamp, active: "a", slots: { a: stamp, b: null }, rolledBack: false },
            regenerate: ["a", "b"],
        };
    }

    const order = compareStamps(stamp, last.stamp);
    if (order < 0) {
        throw new RotationInputError(
            target.stampKey,
            `\`${target.stampKey}\` ${stamp} is earlier than ${group}'s last stamp ${last.stamp}; stamps never go ` +
                `backwards (use a later stamp, or \`rotation:rollback\` to undo a rotation)`,
        );
    }
    if (rollback !== undefined && compareStamps(rollback, stamp) > 0) {
        throw new RotationInputError(
            target.rollbackKey,
            `\`${target.rollbackKey}\` ${rollback} is later than ${group}'s stamp ${stamp}: only the last rotation can be rolled back`,
        );
    }
    if (order > 0) {
        if (rollback === stamp) {
            throw new RotationInputError(
                target.rollbackKey,
                `\`${target.rollbackKey}\` ${rollback} names a rotation of ${group} that has not happened yet; rotate and roll back in separate runs`,
            );
        }
        const fresh = otherSlot(last.active);
        return {
            change: "rotate",
            next: { stamp, active: fresh, slots: { ...last.slots, [fresh]: stamp }, rolledBack: false },
            regenerate: [fresh],
        };
    }
    if (rollback === stamp && !last.rolledBack) {
        const back = otherSlot(last.active);
        if (last.slots[back] === null) {
            throw new RotationInputError(
                target.rollbackKey,
                `\`${target.rollbackKey}\` cannot roll back ${group}: slot ${back} has never been active`,
            );
        }
        return { change: "rollback", next: { ...last, active: back, rolledBack: true }, regenerate: [] };
    }
    return { change: "none", next: last, regenerate: [] };
}
