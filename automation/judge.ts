/**
 * What the CLI can judge of a change before it asks the engine anything: the rules that hold whatever state the
 * stack is in. A stamp may not label a period that has not started (in the stack file or on the command line), and a
 * requested stamp may not be earlier than the stack file's stamp for a group. The planner applies the same rules
 * (rotation/plan.ts `notInFuture`, the `below-floor` refusal) — it stays their only judge for `pulumi up`; this runs
 * them early, with the planner's own refusal wording (rotation/refusals.ts), so a bad input is exit 2 without a
 * Pulumi CLI, a backend login or AWS credentials. Pure apart from the errors it throws.
 */
import { GROUPS, RESTART_SCOPES } from "../rotation/catalog";
import { describeRefusal } from "../rotation/refusals";
import { RotationRequest } from "../rotation/request";
import { NAMESPACE, Settings } from "../rotation/settings";
import { StoredState } from "../rotation/state";
import { compareStamps, laterStamp, tryParseStamp } from "../rotation/stamp";
import { CliError, EXIT } from "./errors";
import { CommandInput, cliTerms } from "./request";

const usage = (message: string) => new CliError(EXIT.usage, message);

/** Why `stamp` may not be used at `now`: malformed, or labelling a period that has not started; undefined if fine. */
export function stampProblem(stamp: unknown, now: Date): string | undefined {
    if (typeof stamp !== "string") return "is not a stamp";
    const parsed = tryParseStamp(stamp);
    if (typeof parsed === "string") return parsed;
    if (parsed.start.getTime() > now.getTime()) return `labels a period that starts in the future (now ${now.toISOString()})`;
    return undefined;
}

/**
 * The stack file's stamps (`rotation:stamp`, `rotation:groupStamps.*`, `rotation:restartStamps.*`) may not label a
 * period that has not started. @throws CliError (exit 2) naming the file and the key.
 */
export function judgeStackFileStamps(stack: string, settings: Settings, now: Date): void {
    const keyed: [string, string | undefined][] = [
        [`${NAMESPACE}:stamp`, settings.stamp],
        ...GROUPS.map((g): [string, string | undefined] => [`${NAMESPACE}:groupStamps.${g}`, settings.groupStamps[g]]),
        ...RESTART_SCOPES.map((s): [string, string | undefined] => [`${NAMESPACE}:restartStamps.${s}`, settings.restartStamps[s]]),
    ];
    for (const [key, stamp] of keyed) {
        if (stamp === undefined) continue;
        const problem = stampProblem(stamp, now);
        if (problem) throw usage(`Pulumi.${stack}.yaml: \`${key}\` ${stamp} ${problem}; use the current or an earlier period`);
    }
}

/**
 * A change's requests against the rules that need no state: stamps on the command line that label a future period,
 * and a rotation stamp earlier than the stack file's stamp for a group. @throws CliError (exit 2), worded as the
 * planner's refusal is.
 */
export function judgeRequests(input: CommandInput, settings: Settings, requests: readonly RotationRequest[], now: Date): void {
    const terms = cliTerms(input);
    for (const request of requests) {
        for (const stamp of [request.rotate?.stamp, request.restart?.stamp]) {
            if (stamp !== undefined && stampProblem(stamp, now) !== undefined) {
                throw usage(describeRefusal({ kind: "stamp-in-future", stamp, now: now.toISOString(), source: { kind: "request" } }, terms));
            }
        }
        const rotate = request.rotate;
        if (rotate?.stamp === undefined) continue;
        for (const group of rotate.groups) {
            const floor = laterStamp(settings.stamp, settings.groupStamps[group]);
            if (compareStamps(rotate.stamp, floor) < 0) {
                const floorKey = floor === settings.stamp ? `${NAMESPACE}:stamp` : `${NAMESPACE}:groupStamps.${group}`;
                throw usage(describeRefusal({ kind: "below-floor", group, stamp: rotate.stamp, floor, floorKey }, terms));
            }
        }
    }
}

/**
 * Every stamp in a stored state (each group's stamp and slot activation stamps, restart stamps, and those of an
 * unfinished run's target) must be a stamp of a period that has started: a state that says otherwise was not written
 * by this program, and planning from it would mislead. Returns the first problem as `<path> "<value>" <why>`.
 */
export function storedStampProblem(stored: StoredState, now: Date): string | undefined {
    const states = [
        ["", stored.committed],
        ["rotationAttempt.target.", stored.attempt?.target],
    ] as const;
    for (const [prefix, state] of states) {
        if (state === undefined) continue;
        for (const g of GROUPS) {
            const group = state.groups[g];
            const stamps: [string, unknown][] = [
                [`groups.${g}.stamp`, group.stamp],
                [`groups.${g}.activeSince.a`, group.activeSince.a],
                [`groups.${g}.activeSince.b`, group.activeSince.b],
            ];
            for (const [path, stamp] of stamps) {
                if (stamp === null) continue;
                const problem = stampProblem(stamp, now);
                if (problem) return `\`${prefix}${path}\` ${JSON.stringify(stamp)} ${problem}`;
            }
        }
        for (const [scope, stamp] of Object.entries(state.restartStamps)) {
            const problem = stampProblem(stamp, now);
            if (problem) return `\`${prefix}restartStamps.${scope}\` ${JSON.stringify(stamp)} ${problem}`;
        }
    }
    return undefined;
}
