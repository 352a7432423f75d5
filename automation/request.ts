/**
 * What each CLI command asks the program to do, as a {@link RotationRequest}, and how the CLI words the planner's
 * refusals. Pure. The CLI judges only the shape of its own arguments here (which flags a command takes); every
 * rotation rule (stamps move forward, held providers, rollbacks, unfinished runs) is the planner's alone.
 */
import { GROUPS, Group, PROVIDERS, Provider, RestartScope } from "../rotation/catalog";
import { Planned, RotationPlan } from "../rotation/plan";
import { RefusalTerms, describeRefusal } from "../rotation/refusals";
import { RotationRequest } from "../rotation/request";
import { STAMP_FORMATS, onDemandStamp, parseStamp, tryParseStamp } from "../rotation/stamp";
import { CliError, EXIT } from "./errors";

export const COMMANDS = ["rotate", "rotate-all", "restart", "rollback", "retire", "revoke", "adopt"] as const;
export type ChangeCommand = (typeof COMMANDS)[number];

export const PROVIDER_CHOICES = [...PROVIDERS, "all"] as const;
export type ProviderChoice = (typeof PROVIDER_CHOICES)[number];

export interface CommandInput {
    readonly command: ChangeCommand;
    readonly stack: string;
    /** `--service` values (yargs has checked they are groups). */
    readonly services: readonly Group[];
    readonly provider: ProviderChoice;
    /** An explicit stamp (`--stamp`); otherwise the planner takes one from the clock. */
    readonly stamp?: string;
    /**
     * `--first-deployment`: the stack has no state and nothing uses its secrets yet, so its first run may generate
     * every slot (otherwise the planner refuses a stack without state: it must be adopted).
     */
    readonly firstDeployment?: boolean;
    /**
     * `rollback --revoke`: the rolled-back credential leaked, so it is not kept as the previous one — after the
     * rollback, a retire regenerates its slot (for JWT and API keys: `*_PREVIOUS` no longer verifies it).
     */
    readonly revoke?: boolean;
}

const usage = (message: string) => new CliError(EXIT.usage, message);

/**
 * The requests a command makes, run one after the other, each from the state the one before committed. Every command
 * makes one, except `revoke`: first a rotation (the other slot becomes current and consumers restart onto it), then a
 * retire of the leaked slot (regenerated so it stops working, its open sessions ended).
 * @throws CliError (exit 2) for arguments the command does not take.
 */
export function requestsFor(input: CommandInput): RotationRequest[] {
    if (input.revoke === true) {
        if (input.command !== "rollback") throw usage(`--revoke is an option of rollback only; to revoke a leaked current credential use revoke`);
        const rollback = requestFor({ ...input, revoke: false });
        return [rollback, { retire: { groups: rollback.rollback!.groups, endSessions: true } }];
    }
    if (input.command !== "revoke") return [requestFor(input)];
    const groups = requireServices(input);
    if (input.provider !== "all") throw usage("revoke takes no --provider: a leaked credential is revoked everywhere");
    if (input.stamp !== undefined) throw usage("revoke takes no --stamp");
    return [
        { rotate: { groups, scheduled: false } },
        { retire: { groups, endSessions: true } },
    ];
}

function requireServices(input: CommandInput): readonly Group[] {
    if (input.services.length === 0) throw usage(`${input.command} needs --service <group> (one or more)`);
    return input.services;
}

/** The request of a one-run command. @throws CliError (exit 2) for arguments the command does not take. */
export function requestFor(input: CommandInput): RotationRequest {
    const request = commandRequest(input);
    if (input.firstDeployment !== true) return request;
    if (input.command === "adopt") throw usage("adopt takes no --first-deployment: adopting is the first deployment of an environment in use");
    return { ...request, firstDeployment: true };
}

function commandRequest(input: CommandInput): RotationRequest {
    const { command, services } = input;
    if (new Set(services).size !== services.length) throw usage(`--service ${services.find((s, i) => services.indexOf(s) !== i)} is given twice`);
    if (input.stamp !== undefined) {
        const parsed = tryParseStamp(input.stamp);
        if (typeof parsed === "string") throw usage(`--stamp ${JSON.stringify(input.stamp)} ${parsed}; expected ${STAMP_FORMATS}`);
    }
    const provider: Provider | undefined = input.provider === "all" ? undefined : input.provider;
    switch (command) {
        case "rotate":
            if (services.length === 0) throw usage("rotate needs --service <group> (one or more); use rotate-all for every group");
            return { rotate: { groups: services, provider, stamp: input.stamp, scheduled: false } };
        case "rotate-all":
            if (services.length > 0) throw usage("rotate-all takes no --service; use rotate --service <group>");
            if (provider !== undefined) throw usage("rotate-all takes no --provider; use rotate --service <group> --provider <aws|k8s>");
            return { rotate: { groups: [...GROUPS], stamp: input.stamp, scheduled: true } };
        case "restart": {
            const scopes: RestartScope[] =
                services.length === 0 ? [provider ?? "all"] : services.map((g) => (provider === undefined ? g : (`${provider}/${g}` as const)));
            return { restart: { scopes, stamp: input.stamp } };
        }
        case "retire":
            if (provider !== undefined) throw usage("retire takes no --provider: the retired slot is regenerated everywhere");
            if (input.stamp !== undefined) throw usage("retire takes no --stamp: it starts no new period");
            return { retire: { groups: requireServices(input), endSessions: false } };
        case "revoke":
            throw new Error("revoke makes two requests: use requestsFor");
        case "adopt":
            if (services.length > 0) throw usage("adopt takes no --service: every group is adopted at once");
            if (provider !== undefined) throw usage("adopt takes no --provider: both stores must already agree");
            if (input.stamp !== undefined) throw usage("adopt takes no --stamp: the values in use are adopted at the stack file's stamp");
            return { adopt: {} };
        case "rollback":
            if (services.length === 0) throw usage("rollback needs --service <group> (one or more)");
            if (provider !== undefined) throw usage("rollback takes no --provider: both providers move back together");
            if (input.stamp !== undefined) throw usage("rollback takes no --stamp: it rolls back the group's last rotation");
            return { rollback: { groups: services } };
    }
}

/** How the CLI names what a refusal mentions: its flags and commands. */
export function cliTerms(input: CommandInput): RefusalTerms {
    const cmd = (rest: string) => `\`secrets-rotation ${rest} --stack ${input.stack}\``;
    return {
        source: (s) => (s.kind === "config" ? `\`${s.key}\` in Pulumi.${input.stack}.yaml` : input.stamp !== undefined ? "--stamp" : "the stamp taken from the clock"),
        resume: (request) => {
            const line = commandLineOf(request);
            return line === undefined ? "run `pulumi up` again (the unfinished run was one)" : `rerun ${cmd(line)} (or \`pulumi up\`)`;
        },
        rollback: (groups) => `run ${cmd(`rollback ${groups.map((g) => `--service ${g}`).join(" ")}`)}`,
        catchUp: (group, provider) => `run ${cmd(`rotate --service ${group} --provider ${provider}`)} to catch it up`,
        adopt: `run ${cmd("adopt")}`,
        firstDeployment: `add --first-deployment`,
    };
}

/**
 * The CLI command that makes `request` (an unfinished run's, with the stamps it resolved), so asking for it again
 * resumes that run.
 */
export function commandLineOf(request: RotationRequest): string | undefined {
    const services = (groups: readonly Group[]) => groups.map((g) => `--service ${g}`);
    const first = request.firstDeployment ? ["--first-deployment"] : [];
    if (request.adopt) return "adopt";
    if (request.rotate) {
        const r = request.rotate;
        const stamp = r.stamp !== undefined ? [`--stamp ${r.stamp}`] : [];
        if (r.scheduled && r.groups.length === GROUPS.length) return ["rotate-all", ...stamp, ...first].join(" ");
        return ["rotate", ...services(r.groups), ...(r.provider ? [`--provider ${r.provider}`] : []), ...stamp, ...first].join(" ");
    }
    if (request.rollback) return ["rollback", ...services(request.rollback.groups)].join(" ");
    if (request.retire) return ["retire", ...services(request.retire.groups)].join(" ");
    if (request.restart) {
        const scopes = request.restart.scopes;
        const provider = scopes.every((s) => s.startsWith("aws")) ? ["--provider aws"] : scopes.every((s) => s.startsWith("k8s")) ? ["--provider k8s"] : [];
        const groups = scopes.map((s) => s.split("/").pop()!).filter((g): g is Group => (GROUPS as readonly string[]).includes(g));
        return ["restart", ...services(groups), ...provider, ...(request.restart.stamp ? [`--stamp ${request.restart.stamp}`] : []), ...first].join(" ");
    }
    // A raw `pulumi up` (no request), or one that only said --first-deployment.
    return first.length > 0 ? "rotate-all --first-deployment" : undefined;
}

/** The plan, or the planner's refusal as a usage error (exit 2, nothing changed) in the CLI's words. */
export function planOrRefuse(planned: Planned, input: CommandInput): RotationPlan {
    if (planned.refusal) throw usage(describeRefusal(planned.refusal, cliTerms(input)) + nextOnDemand(planned.refusal, input));
    return planned.plan;
}

/**
 * On-demand stamps have minute precision: a second rotation of a group in the minute of its last one gets the same
 * stamp from the clock, and a later one would label the future. Say exactly when the next one is allowed.
 */
function nextOnDemand(refusal: NonNullable<Planned["refusal"]>, input: CommandInput): string {
    if (refusal.kind !== "stamp-not-later" || refusal.source.kind !== "request" || input.stamp !== undefined) return "";
    const next = new Date(parseStamp(refusal.last, "stamp").start.getTime() + 60_000);
    return `; the next on-demand rotation of ${refusal.group} is allowed from ${next.toISOString()} (stamp ${onDemandStamp(next)})`;
}
