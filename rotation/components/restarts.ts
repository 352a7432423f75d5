import * as command from "@pulumi/command";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { HookContract, ecsRedeployContract, healthCheckContract } from "../../hooks/contracts";
import { HookInputs, hookRun } from "./hookRun";

/** The annotation `kubectl rollout restart` sets; changing it rolls the Deployment's pods. */
export const RESTARTED_AT = "kubectl.kubernetes.io/restartedAt";

export interface DeploymentRestartArgs {
    readonly namespace: string;
    readonly deployment: string;
    /** The restart trigger from the plan: the pods roll exactly when it changes. */
    readonly trigger: string;
    /** How long the rollout may take before the run fails. */
    readonly timeoutSeconds: number;
    /** The Secret write(s) the new pods must see. */
    readonly after: pulumi.Input<pulumi.Resource>[];
}

/**
 * Rolls a Deployment by server-side-applying `restartedAt` into its pod template (`<name>-patch`). Pulumi waits
 * until the rollout is ready, so a rollout that does not become ready fails the run.
 *
 * Type token `buywhere:rotation:DeploymentRestart`.
 */
export class DeploymentRestart extends pulumi.ComponentResource {
    public readonly patch: k8s.apps.v1.DeploymentPatch;

    constructor(name: string, args: DeploymentRestartArgs, opts?: pulumi.ComponentResourceOptions) {
        super("buywhere:rotation:DeploymentRestart", name, {}, opts);
        const timeout = `${args.timeoutSeconds}s`;
        this.patch = new k8s.apps.v1.DeploymentPatch(
            `${name}-patch`,
            {
                metadata: {
                    name: args.deployment,
                    namespace: args.namespace,
                    // `kubectl rollout restart` may have set the annotation before; take the field over.
                    annotations: { "pulumi.com/patchForce": "true" },
                },
                spec: { template: { metadata: { annotations: { [RESTARTED_AT]: `rotation-${args.trigger}` } } } },
            },
            {
                parent: this,
                dependsOn: args.after,
                // Deleting the patch would drop the annotation and roll the pods once more for nothing.
                retainOnDelete: true,
                // @pulumi/kubernetes apps/v1/deploymentPatch.d.ts: "If the Deployment has not reached a Ready state
                // after 10 minutes, it will time out" unless customTimeouts (or pulumi.com/timeoutSeconds) say otherwise.
                customTimeouts: { create: timeout, update: timeout },
            },
        );
        this.registerOutputs({});
    }
}

/** The arguments of a component that runs one hook after other resources. */
export interface HookStepArgs<C extends HookContract> {
    /** The hook's inputs. */
    readonly input: HookInputs<C>;
    /** The hook runs again when this changes (a restart trigger from the plan). */
    readonly trigger: string;
    /** What must finish first. */
    readonly after: pulumi.Input<pulumi.Resource>[];
}

/** One hook run (`<name>-<suffix>`) as a component of its own type. The shared shape of the two below. */
abstract class HookStep<C extends HookContract> extends pulumi.ComponentResource {
    public readonly command: command.local.Command;

    protected constructor(type: string, name: string, suffix: string, contract: C, args: HookStepArgs<C>, opts?: pulumi.ComponentResourceOptions) {
        super(type, name, {}, opts);
        this.command = hookRun(`${name}-${suffix}`, contract, args.input, [args.trigger], { parent: this, dependsOn: args.after });
        this.registerOutputs({});
    }
}

/**
 * Forces a new deployment of an ECS service and waits until it is stable (`<name>-redeploy`), by running our own
 * program `hooks/ecsRedeploy.ts` after the Secrets Manager writes the new tasks must read (tasks read their secrets
 * when they start). The trigger is also among the inputs: the hook records it on the service.
 *
 * Type token `buywhere:rotation:EcsServiceRestart`.
 */
export class EcsServiceRestart extends HookStep<typeof ecsRedeployContract> {
    constructor(name: string, args: HookStepArgs<typeof ecsRedeployContract>, opts?: pulumi.ComponentResourceOptions) {
        super("buywhere:rotation:EcsServiceRestart", name, "redeploy", ecsRedeployContract, args, opts);
    }
}

/**
 * Polls the health URLs after every restart (and, with no consumers, every store write) (`<name>-check`) with our
 * own program `hooks/healthCheck.ts`; a URL that never answers as expected fails the run. Its trigger digests every
 * consumer's: the check runs again whenever anything restarted.
 *
 * Type token `buywhere:rotation:HealthGate`.
 */
export class HealthGate extends HookStep<typeof healthCheckContract> {
    constructor(name: string, args: HookStepArgs<typeof healthCheckContract>, opts?: pulumi.ComponentResourceOptions) {
        super("buywhere:rotation:HealthGate", name, "check", healthCheckContract, args, opts);
    }
}
