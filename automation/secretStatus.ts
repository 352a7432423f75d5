/**
 * The status of each catalog secret: what the stack last did (group, stamp, active slot, when, policy, next due)
 * beside what AWS holds now (from ListSecrets metadata; never a value). Pure: `status` gathers the inputs.
 */
import type { SecretListEntry } from "@aws-sdk/client-secrets-manager";
import { SECRETS } from "../rotation/catalog";
import type { RotationState } from "../rotation/state";
import { nextDue } from "../rotation/stamp";
import type { StackOutputs } from "./engine";

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

/**
 * The status of every catalog secret.
 *
 * @param state the stack's last rotation state (undefined: never deployed)
 * @param outputs the stack's outputs (the AWS version each secret was last written with)
 * @param entries ListSecrets entries under the prefix
 * @param policy rotation period per group (`rotation:policy`; missing groups are monthly)
 */
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
