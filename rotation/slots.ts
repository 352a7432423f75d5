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
import { RotationInputError, listAllowed } from "./errors";
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
    /**
     * Providers held back by a provider-limited rotation (`rotate --provider aws` holds `k8s`), with the slot they
     * still publish. Consumers of a held provider keep the previous credential, which stays valid; the group cannot
     * rotate again until every held provider has caught up, because that rotation would regenerate the held slot.
     */
    readonly held: Readonly<Partial<Record<HoldableProvider, Slot>>>;
    /** When the group last changed its active slot (rotation or rollback), ISO 8601. */
    readonly changedAt: string;
}

/** Providers a rotation can be limited to (the others are held back). */
export type HoldableProvider = "aws" | "k8s";

/** The slot a provider publishes: the held slot, or the active one. */
export function publishedSlot(state: GroupState, provider: HoldableProvider): Slot {
    return state.held[provider] ?? state.active;
}

export type GroupChange = "initial" | "rotate" | "rollback" | "catch-up" | "none";

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
    /** Providers to hold back at the credentials they publish now. */
    readonly hold?: readonly HoldableProvider[];
    readonly holdKey: string;
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
export function transitionGroup(group: Group, last: GroupState | undefined, target: GroupTarget, now: Date): GroupTransition {
    const { stamp, rollback } = target;
    const hold = target.hold ?? [];
    const at = now.toISOString();
    if (last === undefined) {
        if (rollback !== undefined && rollback === stamp) {
            throw new RotationInputError(
                target.rollbackKey,
                `\`${target.rollbackKey}\` cannot roll back ${group}: it has never been rotated`,
            );
        }
        if (hold.length > 0) {
            throw new RotationInputError(
                target.holdKey,
                `\`${target.holdKey}\` cannot hold back ${listAllowed(hold)} on ${group}'s first deployment: there is nothing older to keep`,
            );
        }
        return {
            change: "initial",
            next: { stamp, active: "a", slots: { a: stamp, b: null }, rolledBack: false, held: {}, changedAt: at },
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
        const held = Object.entries(last.held);
        if (held.length > 0) {
            const [provider, slot] = held[0];
            throw new RotationInputError(
                target.stampKey,
                `\`${target.stampKey}\` ${stamp} would regenerate slot ${slot} of ${group}, which ${provider} still publishes ` +
                    `(held back since ${last.stamp}); catch ${provider} up first: a run without \`${target.holdKey}\` and without a new stamp`,
            );
        }
        const fresh = otherSlot(last.active);
        const next: GroupState = {
            stamp,
            active: fresh,
            slots: { ...last.slots, [fresh]: stamp },
            rolledBack: false,
            held: Object.fromEntries(hold.map((p) => [p, last.active])),
            changedAt: at,
        };
        return { change: "rotate", next, regenerate: [fresh] };
    }

    // Same stamp: a rollback, a catch-up of held providers, or nothing.
    let active = last.active;
    let rolledBack = last.rolledBack;
    let change: GroupChange = "none";
    if (rollback === stamp && !last.rolledBack) {
        const back = otherSlot(last.active);
        if (last.slots[back] === null) {
            throw new RotationInputError(
                target.rollbackKey,
                `\`${target.rollbackKey}\` cannot roll back ${group}: slot ${back} has never been active`,
            );
        }
        active = back;
        rolledBack = true;
        change = "rollback";
    }
    // A provider stays held only while the hold is configured; a held slot equal to the active one is no hold.
    const held = Object.fromEntries(
        hold.map((p) => [p, last.held[p] ?? last.active] as const).filter(([, slot]) => slot !== active),
    ) as GroupState["held"];
    if (change === "none" && Object.keys(held).length < Object.keys(last.held).length) {
        change = "catch-up";
    }
    if (change === "none") {
        return { change, next: last, regenerate: [] };
    }
    return {
        change,
        next: { ...last, active, rolledBack, held, changedAt: change === "rollback" ? at : last.changedAt },
        regenerate: [],
    };
}
