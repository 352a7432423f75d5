import * as command from "@pulumi/command";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ecsRedeployContract, healthCheckContract } from "../../hooks/contracts";
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

export interface EcsServiceRestartArgs {
    /** The redeploy hook's inputs (region, cluster, service, trigger, timeouts); the service redeploys when the trigger changes. */
    readonly input: HookInputs<typeof ecsRedeployContract>;
    /** The restart trigger from the plan (also among the inputs, where the hook records it on the service). */
    readonly trigger: string;
    /** The Secrets Manager writes the new tasks must read. */
    readonly after: pulumi.Input<pulumi.Resource>[];
}

/**
 * Forces a new deployment of an ECS service and waits until it is stable (`<name>-redeploy`), by running our own
 * program `hooks/ecsRedeploy.ts`. Tasks read their secrets from Secrets Manager when they start.
 *
 * Type token `buywhere:rotation:EcsServiceRestart`.
 */
export class EcsServiceRestart extends pulumi.ComponentResource {
    public readonly command: command.local.Command;

    constructor(name: string, args: EcsServiceRestartArgs, opts?: pulumi.ComponentResourceOptions) {
        super("buywhere:rotation:EcsServiceRestart", name, {}, opts);
        this.command = hookRun(`${name}-redeploy`, ecsRedeployContract, args.input, [args.trigger], { parent: this, dependsOn: args.after });
        this.registerOutputs({});
    }
}

export interface HealthGateArgs {
    /** The health check's inputs (URLs, expected status, attempts, backoff). */
    readonly input: HookInputs<typeof healthCheckContract>;
    /** Digest of every consumer's trigger: the check runs again whenever anything restarted. */
    readonly trigger: string;
    /** Every restart (and, with no consumers, every store write). */
    readonly after: pulumi.Input<pulumi.Resource>[];
}

/**
 * Polls the health URLs after every restart (`<name>-check`) with our own program `hooks/healthCheck.ts`; a URL
 * that never answers as expected fails the run.
 *
 * Type token `buywhere:rotation:HealthGate`.
 */
export class HealthGate extends pulumi.ComponentResource {
    public readonly command: command.local.Command;

    constructor(name: string, args: HealthGateArgs, opts?: pulumi.ComponentResourceOptions) {
        super("buywhere:rotation:HealthGate", name, {}, opts);
        this.command = hookRun(`${name}-check`, healthCheckContract, args.input, [args.trigger], { parent: this, dependsOn: args.after });
        this.registerOutputs({});
    }
}
