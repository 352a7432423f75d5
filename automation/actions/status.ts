/**
 * `status`: per secret, what the stack last did (group, stamp, active slot, when, policy, next due, overdue) beside
 * what AWS holds now (exists, current version, last change, whether AWSPREVIOUS exists, drift from the version the
 * stack last wrote). AWS is read with ListSecrets — metadata only, up to 100 secrets a call, never a secret value.
 *
 * Exit 0 when everything is in policy; 5 (EXIT.outOfPolicy) when a secret is overdue, missing, drifted, never
 * rotated or held back by a provider-limited rotation.
 */
import { ListSecretsCommand, SecretListEntry, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SECRETS } from "../../rotation/catalog";
import { RotationState } from "../../rotation/plan";
import { nextDue } from "../../rotation/stamp";
import { CliContext, GlobalArgs, progress, result } from "../context";
import { StackOutputs, loadEngine, readStackState } from "../engine";
import { CliError, EXIT } from "../errors";
import { table } from "../render";
import { loadSettings, requireStack } from "../stacks";

export interface SecretStatus {
    readonly name: string;
    readonly group: string;
    readonly awsSecretId: string;
    readonly stamp: string | null;
    readonly activeSlot: string | null;
    /** Slot each provider publishes, when they differ (a provider is held back). */
    readonly held: Readonly<Record<string, string>>;
    readonly lastRotation: string | null;
    readonly ageDays: number | null;
    readonly policy: string;
    readonly nextDue: string | null;
    readonly overdue: boolean;
    readonly aws: {
        readonly exists: boolean;
        readonly currentVersionId: string | null;
        readonly lastChanged: string | null;
        readonly hasPrevious: boolean;
    };
    /** AWSCURRENT is not the version the stack last wrote (someone changed the secret outside the rotation). */
    readonly drift: boolean;
    /** Why this secret is out of policy; empty when it is fine. */
    readonly problems: readonly string[];
}

export interface StatusReport {
    readonly stack: string;
    readonly time: string;
    readonly inPolicy: boolean;
    /** AWS API calls made. */
    readonly awsCalls: number;
    readonly secrets: readonly SecretStatus[];
}

/**
 * Client-side ceiling on ListSecrets pages per second, far under Secrets Manager's request quotas; together with the
 * SDK's adaptive retry mode (which backs off on throttling) a large listing never trips a quota.
 */
export const MAX_LIST_PAGES_PER_SECOND = 50;

/** Lists every secret under the prefix: one ListSecrets call per 100 secrets, at most 50 calls a second. */
export async function listSecretsUnder(client: SecretsManagerClient, prefix: string): Promise<{ entries: SecretListEntry[]; calls: number }> {
    const entries: SecretListEntry[] = [];
    let calls = 0;
    let token: string | undefined;
    let last = 0;
    do {
        const wait = last + 1000 / MAX_LIST_PAGES_PER_SECOND - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        last = Date.now();
        const page = await client.send(
            new ListSecretsCommand({ Filters: [{ Key: "name", Values: [prefix] }], MaxResults: 100, NextToken: token }),
        );
        calls++;
        entries.push(...(page.SecretList ?? []));
        token = page.NextToken;
    } while (token);
    return { entries, calls };
}

/** The status of every catalog secret, from the stack's state and outputs and the AWS listing. Pure. */
export function secretStatuses(
    state: RotationState | undefined,
    outputs: StackOutputs,
    entries: readonly SecretListEntry[],
    prefix: string,
    policy: Readonly<Record<string, string>>,
    now: Date,
): SecretStatus[] {
    const byName = new Map(entries.map((e) => [e.Name, e]));
    return SECRETS.map((spec) => {
        const awsSecretId = `${prefix}${spec.name}`;
        const entry = byName.get(awsSecretId);
        const versions = Object.entries(entry?.SecretVersionsToStages ?? {});
        const currentVersionId = versions.find(([, stages]) => stages.includes("AWSCURRENT"))?.[0] ?? null;
        const group = state?.groups[spec.group];
        const lastRotation = group?.changedAt ?? null;
        const period = policy[spec.group] ?? "monthly";
        const due = lastRotation ? nextDue(new Date(lastRotation), period as "monthly") : null;
        const written = outputs.secrets?.[spec.name]?.awsVersionId;
        const held = group ? Object.fromEntries(Object.entries(group.held).map(([p, slot]) => [p, slot as string])) : {};
        const aws = {
            exists: entry !== undefined,
            currentVersionId,
            lastChanged: entry?.LastChangedDate ? new Date(entry.LastChangedDate).toISOString() : null,
            hasPrevious: versions.some(([, stages]) => stages.includes("AWSPREVIOUS")),
        };
        const drift = aws.exists && written !== undefined && currentVersionId !== written;
        const overdue = due !== null && due.getTime() <= now.getTime();
        const problems = [
            ...(group === undefined ? ["never rotated by this stack"] : []),
            ...(!aws.exists ? ["missing in AWS"] : []),
            ...(drift ? ["drifted: AWSCURRENT is not the version the stack wrote"] : []),
            ...(overdue ? [`overdue since ${due!.toISOString()}`] : []),
            ...Object.entries(held).map(([p, slot]) => `${p} held on slot ${slot}`),
        ];
        return {
            name: spec.name,
            group: spec.group,
            awsSecretId,
            stamp: group?.stamp ?? null,
            activeSlot: group?.active ?? null,
            held,
            lastRotation,
            ageDays: lastRotation ? Math.floor((now.getTime() - Date.parse(lastRotation)) / 86_400_000) : null,
            policy: period,
            nextDue: due?.toISOString() ?? null,
            overdue,
            aws,
            drift,
            problems,
        };
    });
}

export async function runStatus(ctx: CliContext, args: GlobalArgs): Promise<void> {
    const { io } = ctx;
    const stack = requireStack(args.stack);
    const settings = loadSettings(stack, io.env);
    const now = io.now();

    const { outputs, state } = await readStackState(loadEngine(io.env), stack);

    io.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
    const client = new SecretsManagerClient({ region: settings.aws.region, retryMode: "adaptive", maxAttempts: 8 });
    let listing;
    try {
        listing = await listSecretsUnder(client, settings.aws.secretPrefix);
    } catch (err) {
        throw new CliError(EXIT.failed, `could not list secrets under ${settings.aws.secretPrefix} in ${settings.aws.region}: ${(err as Error).message.split("\n")[0]}`);
    } finally {
        client.destroy();
    }
    if (state === undefined) progress(io, `stack ${stack} has no rotation state yet: it was never deployed`);

    const secrets = secretStatuses(state, outputs, listing.entries, settings.aws.secretPrefix, settings.policy, now);
    const report: StatusReport = {
        stack,
        time: now.toISOString(),
        inPolicy: secrets.every((s) => s.problems.length === 0),
        awsCalls: listing.calls,
        secrets,
    };
    result(io, args.json, () => humanStatus(report), () => report);
    ctx.exitCode = report.inPolicy ? EXIT.ok : EXIT.outOfPolicy;
}

function humanStatus(r: StatusReport): string {
    const day = (iso: string | null) => (iso ? iso.slice(0, 10) : "—");
    const rows = r.secrets.map((s) => [
        s.name,
        s.group,
        s.stamp ?? "—",
        s.activeSlot ?? "—",
        day(s.lastRotation),
        s.ageDays === null ? "—" : `${s.ageDays}d`,
        s.policy,
        day(s.nextDue),
        s.aws.exists ? (s.aws.currentVersionId ?? "?").slice(0, 8) : "missing",
        s.aws.hasPrevious ? "yes" : "no",
        s.problems.length === 0 ? "ok" : s.problems.join("; "),
    ]);
    const header = ["SECRET", "GROUP", "STAMP", "SLOT", "ROTATED", "AGE", "POLICY", "NEXT DUE", "AWS VERSION", "PREVIOUS", "STATUS"];
    const summary = r.inPolicy
        ? `all ${r.secrets.length} secrets in policy`
        : `${r.secrets.filter((s) => s.problems.length > 0).length} of ${r.secrets.length} secrets need attention`;
    return `Stack ${r.stack} at ${r.time}\n${table(header, rows)}${summary} (${r.awsCalls} AWS call${r.awsCalls === 1 ? "" : "s"})\n`;
}
