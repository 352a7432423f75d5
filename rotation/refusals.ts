/**
 * Why the planner refuses a run: typed, so each front end words it in its own terms (the program names stack-file
 * keys, the CLI names its flags and commands). The planner is the only judge of the rotation rules; nothing else
 * re-checks them. Pure.
 */
import { Group, Provider, RestartScope, Slot } from "./catalog";
import { RotationInputError, listAllowed } from "./errors";
import { RotationRequest } from "./request";

/** Where an asked-for stamp or rollback came from: the run's request, or a stack-file key. */
export type Source = { readonly kind: "request" } | { readonly kind: "config"; readonly key: string };

export type Refusal =
    /** A requested stamp is earlier than the group's last stamp (stamps never go backwards). */
    | { readonly kind: "stamp-backwards"; readonly group: Group; readonly stamp: string; readonly last: string; readonly source: Source }
    /** An explicitly requested stamp is not later than the group's last stamp, so there is nothing to rotate to. */
    | { readonly kind: "stamp-not-later"; readonly group: Group; readonly stamp: string; readonly last: string; readonly source: Source }
    /** A requested stamp is earlier than the stack file's stamp for the group. */
    | { readonly kind: "below-floor"; readonly group: Group; readonly stamp: string; readonly floor: string; readonly floorKey: string }
    /** A stamp labels a period that has not started. */
    | { readonly kind: "stamp-in-future"; readonly stamp: string; readonly now: string; readonly source: Source }
    /** Rotating would regenerate the slot a held-back provider still publishes. */
    | { readonly kind: "held"; readonly group: Group; readonly provider: Provider; readonly slot: Slot; readonly since: string }
    /** There is no earlier slot to roll back to. */
    | { readonly kind: "nothing-to-roll-back"; readonly group: Group; readonly reason: "never-deployed" | "never-rotated"; readonly source: Source }
    /** A stack-file rollback names a stamp that is not the group's last rotation. */
    | { readonly kind: "rollback-stamp"; readonly group: Group; readonly named: string; readonly current: string; readonly key: string }
    /** A hold on a group's first deployment: there is nothing older to keep. */
    | { readonly kind: "hold-on-first-deployment"; readonly group: Group; readonly source: Source }
    /** A restart stamp is not later than the last one for the scope. */
    | { readonly kind: "restart-not-later"; readonly scope: RestartScope; readonly stamp: string; readonly last: string; readonly nextAllowed?: string }
    /** An earlier run did not finish; this run neither resumes nor rolls it back. */
    | {
          readonly kind: "unfinished";
          readonly groups: readonly Group[];
          readonly summary: string;
          readonly startedAt: string;
          /** False for an unfinished first deployment (or adopt): nothing was committed, so it can only be finished. */
          readonly undoable: boolean;
          /** What the unfinished run asked for: asking for it again finishes it. */
          readonly request: RotationRequest;
      }
    /** A rollback of an unfinished run must name every group it moved. */
    | { readonly kind: "partial-abandon"; readonly missing: readonly Group[]; readonly summary: string }
    /**
     * The stack has no recorded state and the run neither adopts the values in use nor says that nothing uses them:
     * a first deployment would replace every credential in use (logging users out, breaking API clients).
     */
    | { readonly kind: "first-contact" }
    /** An on-demand rotation sooner after the group's last change than its minimum interval allows. */
    | { readonly kind: "min-interval"; readonly group: Group; readonly interval: string; readonly last: string; readonly nextAllowed: string }
    /** `adopt` on a stack that already has recorded state: its slots are already known. */
    | { readonly kind: "already-deployed"; readonly serial: number };

/** How a front end names the things a refusal mentions. */
export interface RefusalTerms {
    /** The input a source stands for, e.g. `--stamp` or `` `rotation:groupStamps.jwt` ``. */
    source(source: Source): string;
    /** How to resume an unfinished run that asked for `request`. */
    resume(request: RotationRequest): string;
    /** How to roll back groups. */
    rollback(groups: readonly Group[]): string;
    /** How to catch a held provider up. */
    catchUp(group: Group, provider: Provider): string;
    /** How to adopt the values in use on a stack's first deployment. */
    readonly adopt: string;
    /** How to say that nothing uses a stack's secrets yet, so its first deployment may generate every slot. */
    readonly firstDeployment: string;
}

/** One line, no secret: why the run was refused and what to do instead. */
export function describeRefusal(r: Refusal, terms: RefusalTerms): string {
    switch (r.kind) {
        case "stamp-backwards":
            return `${terms.source(r.source)} ${r.stamp} is earlier than ${r.group}'s last stamp ${r.last}; stamps never go backwards (use a later stamp, or ${terms.rollback([r.group])} to undo a rotation)`;
        case "stamp-not-later":
            return `${terms.source(r.source)} ${r.stamp} is not later than ${r.group}'s last stamp ${r.last}; a rotation needs a later stamp`;
        case "below-floor":
            return `${r.stamp} for ${r.group} is earlier than its stamp ${r.floor} in the stack file (\`${r.floorKey}\`); stamps never go backwards`;
        case "stamp-in-future":
            return `${terms.source(r.source)} ${r.stamp} labels a period that starts in the future (now ${r.now}); use the current or an earlier period`;
        case "held":
            return `${r.group}: ${r.provider} still publishes slot ${r.slot} (held back since ${r.since}), which a rotation would regenerate; ${terms.catchUp(r.group, r.provider)} first`;
        case "nothing-to-roll-back":
            return `${sourcePrefix(r.source, terms)}cannot roll back ${r.group}: ${r.reason === "never-deployed" ? "the stack has never been deployed" : "it has not been rotated since its first deployment"}`;
        case "rollback-stamp":
            return `\`${r.key}\` ${r.named} does not name ${r.group}'s last rotation, ${r.current}: set it to ${r.current} to roll that back, or remove it`;
        case "hold-on-first-deployment":
            return `${sourcePrefix(r.source, terms)}cannot hold back a provider on ${r.group}'s first deployment: there is nothing older to keep`;
        case "restart-not-later":
            return `restart stamp ${r.stamp} for ${r.scope} is not later than the last one, ${r.last}${r.nextAllowed ? `; the next on-demand restart is allowed from ${r.nextAllowed}` : ""}`;
        case "unfinished":
            return r.undoable
                ? `an earlier run did not finish (${r.summary}, started ${r.startedAt}); ${terms.resume(r.request)} to finish it, or ${terms.rollback(r.groups)} to undo it, before anything else`
                : `an earlier run did not finish (${r.summary}, started ${r.startedAt}); ${terms.resume(r.request)} to finish it before anything else (it was the stack's first deployment: there is nothing to roll back to)`;
        case "partial-abandon":
            return `the unfinished run (${r.summary}) also moved ${listAllowed(r.missing)}: roll back all of its groups together (${terms.rollback(r.missing)})`;
        case "first-contact":
            return `the stack has no recorded state, and a first deployment would replace every credential in use: ${terms.adopt} to take over the values in use today, or, only where nothing uses these secrets yet, ${terms.firstDeployment}`;
        case "min-interval":
            return `${r.group} last changed at ${r.last}, and \`rotation:minInterval.${r.group}\` is ${r.interval}: the next on-demand rotation of ${r.group} is allowed from ${r.nextAllowed} (a rotation drops the key the one before it replaced)`;
        case "already-deployed":
            return `the stack already has recorded state (commit ${r.serial}): adopt is only for a stack's first deployment; rotate as usual`;
    }
}

/** "`rotation:rollback.jwt` " for a stack-file key; nothing for the request (the command itself asked). */
function sourcePrefix(source: Source, terms: RefusalTerms): string {
    return source.kind === "config" ? `${terms.source(source)} ` : "";
}

/** A refusal as thrown by the planner; front ends catch it and word it. */
export class RefusalError extends RotationInputError {
    constructor(
        readonly refusal: Refusal,
        terms: RefusalTerms,
    ) {
        super(refusal.kind, describeRefusal(refusal, terms));
        this.name = "RefusalError";
    }
}

/** The program's terms: stack-file keys and `pulumi up`. */
export const CONFIG_TERMS: RefusalTerms = {
    source: (s) => (s.kind === "config" ? `\`${s.key}\`` : "`ROTATION_REQUEST`"),
    resume: () => "run `pulumi up` again with the same config",
    rollback: (groups) => `set ${groups.map((g) => `\`rotation:rollback.${g}\``).join(", ")} to the group's latest stamp (the unfinished rotation's, if any)`,
    catchUp: (group) => `catch it up with a run without \`rotation:hold.${group}\` and without a new stamp`,
    adopt: "run `secrets-rotation adopt --stack <stack>`",
    firstDeployment: "set `rotation:firstDeployment: true` in the stack file",
};
