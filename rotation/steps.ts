/**
 * The ordered steps of a plan, in words: what `plan` prints offline and what a dry run summarises. Each step
 * describes an entry of the same {@link RotationPlan} the program turns into resources; nothing here decides. Pure.
 */
import { GROUPS, SECRETS } from "./catalog";
import { ApplierRun, CredentialPlan, RotationPlan } from "./plan";

export type StepKind = "resume" | "generate" | "apply" | "publish" | "restart" | "health";

export interface Step {
    readonly kind: StepKind;
    /** What the step acts on: a group, a store, a consumer, the health URLs. */
    readonly target: string;
    /** One line, no secret. */
    readonly detail: string;
}

/**
 * The steps one run takes, in the order the program's dependency graph runs them: generate -> apply at source ->
 * publish -> restart -> health. Steps that change nothing are left out; health is listed when it runs.
 */
export function describeSteps(plan: RotationPlan): Step[] {
    const steps: Step[] = [];
    if (plan.mode.kind === "adopt") {
        steps.push({
            kind: "resume",
            target: "values in use",
            detail: "adopt: every group's slot a takes the values in use today (AWSCURRENT, equal to the Kubernetes Secret's); nothing is published differently and nothing restarts",
        });
    } else if (plan.mode.kind !== "normal") {
        steps.push({
            kind: "resume",
            target: "unfinished run",
            detail:
                plan.mode.kind === "resume"
                    ? `finish it (${plan.mode.summary}): nothing it generated is generated again`
                    : `undo it (${plan.mode.summary}): back to the committed slots; what it generated is kept, unused, and never regenerated`,
        });
    }
    for (const group of GROUPS) {
        const g = plan.groups[group];
        const held = Object.entries(g.next.held).map(([p, slot]) => `${p} held on slot ${slot}`);
        const note = held.length > 0 ? `; ${held.join(", ")}` : "";
        const slots = g.regenerate.map((s) => plan.credentials.find((c) => c.group === group && c.slot === s)!);
        switch (g.change) {
            case "adopt":
                steps.push({
                    kind: "generate",
                    target: group,
                    detail: `adopt at ${g.next.stamp}: slot a keeps the values in use (${Object.entries(g.next.adopted?.versions ?? {})
                        .map(([name, v]) => `${name} version ${v}`)
                        .join(", ") || "read at run time"}); generate ${slotList(slots)}, valid beside it; a active`,
                });
                break;
            case "initial":
                steps.push({ kind: "generate", target: group, detail: `first deployment: generate ${slotList(slots)} at ${g.next.stamp}; a active` });
                break;
            case "rotate":
                steps.push({
                    kind: "generate",
                    target: group,
                    detail: `rotate ${g.last!.stamp} -> ${g.next.stamp}: ${plan.mode.kind === "resume" ? "keep the already generated" : "regenerate"} ${slotList(slots)} (slot ${g.last!.active} stays valid for consumers that still hold it)${note}`,
                });
                break;
            case "rollback": {
                const back = g.next.active;
                steps.push({
                    kind: "generate",
                    target: group,
                    detail:
                        `roll back to slot ${back} (no regeneration): this re-enables slot ${back}'s credential (generation ${g.next.generation[back]}, ` +
                        `current from ${g.next.activeSince[back] ?? "first deployment"} until ${g.last?.stamp ?? "?"}) as the current one${note}`,
                });
                break;
            }
            case "retire":
                steps.push({
                    kind: "generate",
                    target: group,
                    detail: `retire slot ${g.regenerate.join(", ")}: regenerate it (${slotList(slots)}) so the previous credential stops working; slot ${g.next.active} stays current`,
                });
                break;
            case "catch-up":
                steps.push({ kind: "generate", target: group, detail: `catch up held providers to slot ${g.next.active} (no regeneration)${note}` });
                break;
            case "none":
                break;
        }
    }

    for (const run of plan.appliers.filter((r) => r.regenerates.length > 0)) {
        steps.push({ kind: "apply", target: run.group, detail: describeApplier(run) });
    }
    for (const c of plan.credentials.filter((c) => c.kind === "cloudflareToken" && plan.groups[c.group].regenerate.includes(c.slot))) {
        const token = c as Extract<CredentialPlan, { kind: "cloudflareToken" }>;
        steps.push({
            kind: "apply",
            target: c.group,
            detail: `Cloudflare: issue account token ${token.tokenName} on ${Object.keys(token.resources).length} bucket(s) (access key id = token id, secret = SHA-256 of its value); the slot's old token is deleted after`,
        });
    }

    const awsWrites = plan.secrets.filter((s) => s.changed.aws);
    if (awsWrites.length > 0) {
        steps.push({
            kind: "publish",
            target: `AWS Secrets Manager (${plan.aws.region})`,
            detail: `new versions of ${awsWrites.map((s) => s.awsSecretId).join(", ")}`,
        });
    }
    const k8sWrites = plan.secrets.filter((s) => s.changed.k8s);
    for (const store of plan.kubernetes?.stores.filter((s) => s.changed) ?? []) {
        steps.push({ kind: "publish", target: `Kubernetes Secret ${store.namespace}/${store.secretName}`, detail: `keys ${k8sWrites.map((s) => s.k8sKey).join(", ")}` });
    }

    for (const r of plan.restarts.filter((r) => r.restarts)) {
        const target = r.provider === "aws" ? `ECS service ${r.input.cluster}/${r.input.service}` : `Deployment ${r.namespace}/${r.deployment}`;
        const how =
            r.provider === "aws"
                ? `force a new deployment and wait until stable (at most ${r.input.stableTimeoutSeconds}s)`
                : `roll the pods (restartedAt) and wait until ready (at most ${r.timeoutSeconds}s)`;
        steps.push({ kind: "restart", target, detail: `${how}: ${summariseReasons(r.reasons)}` });
    }

    if (plan.health.runs) {
        const h = plan.health.input;
        steps.push({
            kind: "health",
            target: h.urls.join(", "),
            detail: `expect HTTP ${h.expectStatus}, ${h.requiredSuccesses} in a row, at most ${h.attempts} attempts per URL`,
        });
    }
    return steps;
}

function slotList(slots: readonly CredentialPlan[]): string {
    return `slot${slots.length > 1 ? "s" : ""} ${slots.map((s) => `${s.slot} (generation ${s.generation})`).join(" and ")}`;
}

/** What one applier run does, in words. */
function describeApplier(run: ApplierRun): string {
    const i = run.inputs as Record<string, unknown>;
    switch (run.hook) {
        case "postgresApply": {
            // The proofs rotation/postgresProofs.ts adds from the stack file (replica, PgBouncer auth_file, canary).
            const also = [
                i.replica !== undefined && "through the replica",
                i.pgbouncer !== undefined && "through PgBouncer after writing the same verifier into its auth_file and RELOAD",
                i.canary === true && "with a read/write canary",
            ].filter(Boolean);
            return `PostgreSQL: set the password of ${String(i.role)} (SCRAM verifier computed client-side) and log in with it${also.length > 0 ? `, also ${also.join(", ")}` : ""}; the other role is untouched`;
        }
        case "redisApply":
            return `Redis ACL user ${String(i.user)}: hold exactly the passwords of slots a and b (the stale one removed), AUTH with both`;
        case "elasticacheApply":
            return `ElastiCache user ${String(i.userId)} (${String(i.user)}): ModifyUser to hold exactly the passwords of slots a and b, wait until active, AUTH with both`;
        case "typesenseApply":
            return `Typesense ${String(i.url)}: register slot ${String(i.slot)}'s key, prove it with a search on each collection (retried while the cluster propagates it), then delete that slot's previous key`;
        case "r2Probe":
            return `R2: prove slot ${String(i.slot)}'s new key with signed S3 requests on ${(i.buckets as string[]).join(", ")} (HeadBucket${i.write ? ", then put, get and delete a probe object" : ""}), retried while the token propagates, before it is published`;
    }
}

/** "X changed" reasons, summarised by group when there are many ("new database, redis secrets"). */
function summariseReasons(reasons: readonly string[]): string {
    const changed = reasons.filter((r) => r.endsWith(" changed")).map((r) => r.slice(0, -" changed".length));
    if (changed.length <= 2) {
        return reasons.join(", ");
    }
    const groups = GROUPS.filter((g) => SECRETS.some((s) => s.group === g && changed.includes(s.name)));
    const other = reasons.filter((r) => !r.endsWith(" changed"));
    return `new ${groups.join(", ")} secrets (${changed.length} changed)${other.length > 0 ? `, ${other.join(", ")}` : ""}`;
}
