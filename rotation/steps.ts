/**
 * The ordered steps of a plan, in words: what `plan` prints offline and what a dry run summarises. Derived from
 * the same {@link RotationPlan} the Pulumi program turns into resources, never a copy of its logic. Pure.
 */
import { APPLIERS } from "./appliers";
import { GROUPS, SECRETS } from "./catalog";
import { Settings } from "./config";
import { RotationPlan } from "./plan";

export type StepKind = "generate" | "apply" | "publish" | "restart" | "health";

export interface Step {
    readonly kind: StepKind;
    /** What the step acts on: a group, a store, a consumer, the health URLs. */
    readonly target: string;
    /** One line, no secret. */
    readonly detail: string;
}

/**
 * The steps one run takes, in the order the program's dependency graph runs them: generate -> apply at source ->
 * publish -> restart -> health. Steps that change nothing are left out; health is listed when anything restarts or it has never run.
 */
export function describeSteps(settings: Settings, plan: RotationPlan): Step[] {
    const steps: Step[] = [];
    for (const group of GROUPS) {
        const g = plan.groups[group];
        const held = Object.entries(g.next.held).map(([p, slot]) => `${p} held on slot ${slot}`);
        const note = held.length > 0 ? `; ${held.join(", ")}` : "";
        switch (g.change) {
            case "initial":
                steps.push({ kind: "generate", target: group, detail: `first deployment: generate slots a and b at ${g.next.stamp}; a active` });
                break;
            case "rotate":
                steps.push({
                    kind: "generate",
                    target: group,
                    detail: `rotate ${g.last!.stamp} -> ${g.next.stamp}: regenerate slot ${g.regenerate.join(", ")} (slot ${g.last!.active} stays valid for consumers that still hold it)${note}`,
                });
                break;
            case "rollback":
                steps.push({ kind: "generate", target: group, detail: `roll back to slot ${g.next.active} (no regeneration; its credential is still valid)${note}` });
                break;
            case "catch-up":
                steps.push({ kind: "generate", target: group, detail: `catch up held providers to slot ${g.next.active} (no regeneration)${note}` });
                break;
            case "none":
                break;
        }
    }

    for (const group of GROUPS) {
        const applier = APPLIERS[group];
        const slots = plan.groups[group].regenerate;
        if (applier && slots.length > 0) {
            steps.push({ kind: "apply", target: group, detail: applier.describe(settings, slots) });
        }
    }

    const awsWrites = plan.secrets.filter((s) => s.changed.aws);
    if (awsWrites.length > 0) {
        steps.push({
            kind: "publish",
            target: `AWS Secrets Manager (${settings.aws.region})`,
            detail: `new versions of ${awsWrites.map((s) => s.awsSecretId).join(", ")}`,
        });
    }
    const k8sWrites = plan.secrets.filter((s) => s.changed.k8s);
    for (const namespace of plan.k8sNamespacesChanged) {
        steps.push({
            kind: "publish",
            target: `Kubernetes Secret ${namespace}/${settings.kubernetes!.secretName}`,
            detail: `keys ${k8sWrites.map((s) => s.k8sKey).join(", ")}`,
        });
    }

    for (const c of plan.consumers.filter((c) => c.restarts)) {
        const target =
            c.provider === "aws" ? `ECS service ${settings.ecs!.cluster}/${c.name}` : `Deployment ${c.namespace}/${c.name}`;
        const how = c.provider === "aws" ? "force a new deployment and wait until stable" : "roll the pods (restartedAt) and wait until ready";
        steps.push({ kind: "restart", target, detail: `${how}: ${summariseReasons(c.reasons)}` });
    }

    if (plan.health.runs) {
        const h = settings.health;
        steps.push({
            kind: "health",
            target: h.urls.join(", "),
            detail: `expect HTTP ${h.expectStatus}, ${h.requiredSuccesses} in a row, at most ${h.attempts} attempts per URL`,
        });
    }
    return steps;
}

/** "X changed" reasons, summarised by group when there are many ("new database, redis secrets"). */
function summariseReasons(reasons: readonly string[]): string {
    const changed = reasons.filter((r) => r.endsWith(" changed")).map((r) => r.slice(0, -" changed".length));
    if (changed.length <= 2) {
        return reasons.join(", ");
    }
    const groups = GROUPS.filter((g) => SECRETS.some((s) => s.group === g && changed.includes(s.name)));
    return `new ${groups.join(", ")} secrets (${changed.length} changed)`;
}
