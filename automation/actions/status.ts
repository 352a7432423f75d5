/**
 * `status`: per secret, what the stack last did (group, stamp, active slot, when, policy, next due, overdue) beside
 * what AWS holds now (exists, current version, last change, whether AWSPREVIOUS exists, drift from the version the
 * stack last wrote). AWS is read with ListSecrets — metadata only, up to 100 secrets a call, never a secret value.
 *
 * Exit 0 when everything is in policy; 5 (EXIT.outOfPolicy) when a secret is overdue, missing, drifted, never
 * rotated or held back by a provider-limited rotation.
 */
import { SecretListEntry, SecretsManagerClient, paginateListSecrets } from "@aws-sdk/client-secrets-manager";
import { awsClientConfig } from "../awsClient";
import { CliContext, GlobalArgs, progress, result } from "../context";
import { CliError, EXIT } from "../errors";
import { table } from "../render";
import { SecretStatus, secretStatuses } from "../secretStatus";
import type { StackOutputs } from "../engine";
import { judgeStackFileStamps } from "../judge";
import { readRecordedState, recordState } from "../lastState";
import { readStackState } from "../stackState";
import { RotationState, parseStored } from "../../rotation/state";
import { loadSettings, requireStack } from "../stacks";

export interface StatusReport {
    readonly stack: string;
    readonly time: string;
    readonly inPolicy: boolean;
    /**
     * Where the stamps and slots come from: the Pulumi backend; the state this machine last recorded (lastState.ts)
     * when the backend could not be read; or nowhere (`unknown`: AWS facts only).
     */
    readonly stateFrom: "backend" | "recorded" | "unknown";
    /** AWS API calls made. */
    readonly awsCalls: number;
    readonly secrets: readonly SecretStatus[];
}

/**
 * Client-side ceiling on ListSecrets pages per second, far under Secrets Manager's request quotas; together with the
 * SDK's adaptive retry mode (which backs off on throttling) a large listing never trips a quota.
 */
export const MAX_LIST_PAGES_PER_SECOND = 50;

/**
 * Lists every secret under the prefix with the SDK's paginator: one ListSecrets call per 100 secrets, at most
 * {@link MAX_LIST_PAGES_PER_SECOND} calls in any one second (a sliding window: a listing of up to that many pages
 * never waits). The paginator requests the next page only when the loop asks for it (@smithy/core dist-cjs
 * `createPaginator`: an async generator that sends after each `yield` resumes), so waiting in the loop body holds the
 * next call back.
 */
export async function listSecretsUnder(client: SecretsManagerClient, prefix: string): Promise<{ entries: SecretListEntry[]; calls: number }> {
    const entries: SecretListEntry[] = [];
    const sent: number[] = [Date.now()];
    for await (const page of paginateListSecrets({ client, pageSize: 100 }, { Filters: [{ Key: "name", Values: [prefix] }] })) {
        entries.push(...(page.SecretList ?? []));
        if (!page.NextToken) break;
        // The next call may go when it would be at most the MAX-th in the last second.
        const oldest = sent.length >= MAX_LIST_PAGES_PER_SECOND ? sent[sent.length - MAX_LIST_PAGES_PER_SECOND] : undefined;
        const wait = oldest === undefined ? 0 : oldest + 1000 - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        sent.push(Date.now());
    }
    return { entries, calls: sent.length };
}

export async function runStatus(ctx: CliContext, args: GlobalArgs): Promise<void> {
    const { io } = ctx;
    const stack = requireStack(args.stack);
    const settings = loadSettings(stack, io.env);
    const now = io.now();
    judgeStackFileStamps(stack, settings, now);

    const { outputs, state, from } = await stateForStatus(ctx, stack, now);

    const client = new SecretsManagerClient(awsClientConfig(settings.aws.region, settings.aws.endpoint));
    let listing;
    try {
        listing = await listSecretsUnder(client, settings.aws.secretPrefix);
    } catch (err) {
        throw new CliError(EXIT.failed, `could not list secrets under ${settings.aws.secretPrefix} in ${settings.aws.region}: ${(err as Error).message.split("\n")[0]}`);
    } finally {
        client.destroy();
    }
    if (state === undefined && from === "backend") progress(io, `stack ${stack} has no rotation state yet: it was never deployed`);

    const secrets = secretStatuses(state, outputs, listing.entries, settings.aws.secretPrefix, settings.policy, now).map((s) =>
        from === "unknown" ? { ...s, problems: s.problems.map((p) => (p === NEVER_ROTATED ? "stamp unknown: the Pulumi backend could not be read" : p)) } : s,
    );
    const report: StatusReport = {
        stack,
        time: now.toISOString(),
        stateFrom: from,
        inPolicy: secrets.every((s) => s.problems.length === 0),
        awsCalls: listing.calls,
        secrets,
    };
    result(io, args.json, () => humanStatus(report), () => report);
    ctx.exitCode = report.inPolicy ? EXIT.ok : EXIT.outOfPolicy;
}

/** What `secretStatuses` says of a secret whose group has no state. */
const NEVER_ROTATED = "never rotated by this stack";

/**
 * The stack's state from the backend; when the backend cannot be read (no Pulumi CLI, no login, unreachable), the
 * state this machine last recorded, saying so on stderr. A stack the backend says does not exist stays exit 3.
 */
async function stateForStatus(ctx: CliContext, stack: string, now: Date): Promise<{ outputs: StackOutputs; state?: RotationState; from: StatusReport["stateFrom"] }> {
    const { io } = ctx;
    try {
        const read = await readStackState(io.engine(), stack);
        recordState(io.env, stack, read.outputs, now, (m) => progress(io, `warning: ${m}`));
        return { ...read, from: "backend" };
    } catch (err) {
        if (!(err instanceof CliError) || err.code !== EXIT.failed) throw err;
        const why = `could not read stack ${stack}'s state from the Pulumi backend (${err.message})`;
        const recorded = readRecordedState(io.env, stack);
        if (recorded !== undefined) {
            try {
                const stored = parseStored(recorded.outputs.rotationState, recorded.outputs.rotationAttempt);
                progress(io, `warning: ${why}; stamps and slots below are as recorded at ${recorded.recordedAt} in ${recorded.file}`);
                return { outputs: recorded.outputs, state: stored.committed, from: "recorded" };
            } catch {
                // Not a state this program wrote: treated as none.
            }
        }
        progress(io, `warning: ${why}, and none is recorded on this machine; stamps and slots are unknown, AWS facts only`);
        return { outputs: {}, from: "unknown" };
    }
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
