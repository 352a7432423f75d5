/**
 * What each CLI command asks the program to do, as a {@link RotationRequest}. Pure: the clock and the stack's
 * last state are passed in. Every refusal is a usage error (exit 2) raised before anything runs.
 */
import { GROUPS, Group } from "../rotation/catalog";
import { NO_REQUEST, PROVIDERS, Provider, RestartScope, RotationRequest, Settings } from "../rotation/config";
import { RotationState } from "../rotation/plan";
import { compareStamps, onDemandStamp, scheduledStamp, tryParseStamp } from "../rotation/stamp";
import { CliError, EXIT } from "./errors";

export const COMMANDS = ["rotate", "rotate-all", "restart", "rollback"] as const;
export type ChangeCommand = (typeof COMMANDS)[number];

export const PROVIDER_CHOICES = [...PROVIDERS, "all"] as const;
export type ProviderChoice = (typeof PROVIDER_CHOICES)[number];

export interface CommandInput {
    readonly command: ChangeCommand;
    readonly services: readonly string[];
    readonly provider: ProviderChoice;
    /** An explicit stamp (`--stamp`); otherwise one is made from the clock. */
    readonly stamp?: string;
}

const usage = (message: string) => new CliError(EXIT.usage, message);

/** Checks `--service` values: known groups, no duplicates. */
export function parseServices(services: readonly string[]): Group[] {
    const seen = new Set<string>();
    for (const s of services) {
        if (!(GROUPS as readonly string[]).includes(s)) {
            throw usage(`unknown service ${JSON.stringify(s)}: choose from ${GROUPS.join(", ")}`);
        }
        if (seen.has(s)) {
            throw usage(`--service ${s} is given twice`);
        }
        seen.add(s);
    }
    return [...seen] as Group[];
}

/**
 * Builds the request for a command.
 *
 * @param last the stack's last state, or undefined if it was never deployed (read from its outputs, or `--state`)
 */
export function buildRequest(input: CommandInput, settings: Settings, last: RotationState | undefined, now: Date): RotationRequest {
    const services = parseServices(input.services);
    if (input.stamp !== undefined && typeof tryParseStamp(input.stamp) === "string") {
        throw usage(`--stamp ${JSON.stringify(input.stamp)} ${tryParseStamp(input.stamp)}; expected YYYY-MM, YYYY-MM-DD or YYYY-MM-DDTHHMMZ (UTC)`);
    }
    const base = { ...NO_REQUEST, label: input.stamp !== undefined ? "--stamp" : "the generated stamp" };
    const other = (p: Provider): Provider => (p === "aws" ? "k8s" : "aws");

    switch (input.command) {
        case "rotate": {
            if (services.length === 0) throw usage("rotate needs --service <group> (one or more); use rotate-all for every group");
            const stamps: Partial<Record<Group, string>> = {};
            const hold: Partial<Record<Group, Provider[]>> = {};
            for (const g of services) {
                const held = last?.groups[g].held ?? {};
                const heldProviders = Object.keys(held) as Provider[];
                if (input.provider !== "all" && heldProviders.includes(input.provider)) {
                    // The held provider asks to rotate: bring it up to the active slot; no new stamp.
                    const stillHeld = heldProviders.filter((p) => p !== input.provider);
                    if (stillHeld.length > 0) hold[g] = stillHeld;
                    continue;
                }
                if (heldProviders.length > 0) {
                    const p = heldProviders[0];
                    throw usage(
                        `${g}: ${p} still publishes slot ${held[p]} from before the ${input.provider === "all" ? "last" : `${other(p)}-only`} ` +
                            `rotation at ${last!.groups[g].stamp}; run \`rotate --service ${g} --provider ${p}\` to catch it up first`,
                    );
                }
                stamps[g] = nextStamp(input.stamp, [g], last, now);
                if (input.provider !== "all") hold[g] = [other(input.provider)];
            }
            return { ...base, stamps, hold };
        }
        case "rotate-all": {
            if (services.length > 0) throw usage("rotate-all takes no --service; use rotate --service <group>");
            if (input.provider !== "all") throw usage("rotate-all takes no --provider; use rotate --service <group> --provider <aws|k8s>");
            for (const g of GROUPS) {
                const held = Object.keys(last?.groups[g].held ?? {});
                if (held.length > 0) {
                    throw usage(`${g}: ${held[0]} is held back by a provider-limited rotation; run \`rotate --service ${g} --provider ${held[0]}\` to catch it up first`);
                }
            }
            const stamp = nextStamp(input.stamp ?? scheduledIfNew(settings, last, now), GROUPS, last, now);
            return { ...base, stamps: Object.fromEntries(GROUPS.map((g) => [g, stamp])) };
        }
        case "restart": {
            const stamp = input.stamp ?? onDemandStamp(now);
            const scopes: RestartScope[] =
                services.length === 0
                    ? [input.provider === "all" ? "all" : input.provider]
                    : services.map((g) => (input.provider === "all" ? g : (`${input.provider}/${g}` as RestartScope)));
            for (const scope of scopes) {
                const previous = last?.restarts[scope];
                if (previous !== undefined && compareStamps(stamp, previous) <= 0) {
                    throw usage(`restart stamp ${stamp} for ${scope} is not later than the last one (${previous}); wait a minute or pass a later --stamp`);
                }
            }
            return { ...base, restartStamps: Object.fromEntries(scopes.map((s) => [s, stamp])) };
        }
        case "rollback": {
            if (services.length === 0) throw usage("rollback needs --service <group> (one or more)");
            if (input.provider !== "all") throw usage("rollback takes no --provider: both providers move back together");
            if (last === undefined) throw usage("nothing to roll back: the stack has never been deployed");
            const rollback: Partial<Record<Group, string>> = {};
            for (const g of services) {
                const state = last.groups[g];
                if (state.rolledBack) throw usage(`${g} is already rolled back to slot ${state.active}; rotate it to move on`);
                const back = state.active === "a" ? "b" : "a";
                if (state.slots[back] === null) throw usage(`${g} cannot roll back: slot ${back} has never been active`);
                rollback[g] = state.stamp;
            }
            return { ...base, rollback };
        }
    }
}

/** The stamp for a rotation of `groups`: explicit, or on-demand; it must be later than each group's last stamp. */
function nextStamp(explicit: string | undefined, groups: readonly Group[], last: RotationState | undefined, now: Date): string {
    const stamp = explicit ?? onDemandStamp(now);
    for (const g of groups) {
        const previous = last?.groups[g].stamp;
        if (previous !== undefined && compareStamps(stamp, previous) <= 0) {
            throw usage(
                explicit !== undefined
                    ? `--stamp ${stamp} is not later than ${g}'s last stamp ${previous}; stamps never go backwards`
                    : `${g} was already rotated at ${previous}; wait a minute or pass a later --stamp`,
            );
        }
    }
    return stamp;
}

/** For rotate-all: this period's scheduled stamp (`2026-12`) when no group has it yet, else an on-demand stamp. */
function scheduledIfNew(settings: Settings, last: RotationState | undefined, now: Date): string {
    const scheduled = scheduledStamp(now, "monthly");
    const newest = [settings.stamp, ...GROUPS.map((g) => last?.groups[g].stamp ?? settings.stamp)];
    return newest.every((s) => compareStamps(scheduled, s) > 0) ? scheduled : onDemandStamp(now);
}
