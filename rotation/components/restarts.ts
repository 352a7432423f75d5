import * as command from "@pulumi/command";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { hookRun } from "./hookRun";

/** The annotation `kubectl rollout restart` sets; changing it rolls the Deployment's pods. */
export const RESTARTED_AT = "kubectl.kubernetes.io/restartedAt";

export interface DeploymentRestartArgs {
    readonly namespace: string;
    readonly deployment: string;
    /**
     * Digest of the secret versions the Deployment consumes (and of any restart stamp that applies). The pods roll
     * exactly when it changes.
     */
    readonly trigger: string;
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
            // Deleting the patch would drop the annotation and roll the pods once more for nothing.
            { parent: this, dependsOn: args.after, retainOnDelete: true },
        );
        this.registerOutputs({});
    }
}

export interface EcsServiceRestartArgs {
    readonly region: string;
    readonly cluster: string;
    readonly service: string;
    /** Digest of the consumed secret versions and applicable restart stamps; the service redeploys when it changes. */
    readonly trigger: string;
    readonly stableTimeoutSeconds: number;
    readonly pollSeconds: number;
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
        this.command = hookRun(
            `${name}-redeploy`,
            "ecsRedeploy",
            {
                AWS_REGION: args.region,
                ECS_CLUSTER: args.cluster,
                ECS_SERVICE: args.service,
                ECS_TRIGGER: args.trigger,
                ECS_STABLE_TIMEOUT_SECONDS: String(args.stableTimeoutSeconds),
                ECS_POLL_SECONDS: String(args.pollSeconds),
            },
            [args.trigger],
            { parent: this, dependsOn: args.after },
        );
        this.registerOutputs({});
    }
}

export interface HealthGateArgs {
    readonly urls: readonly string[];
    readonly expectStatus: number;
    readonly attempts: number;
    readonly requiredSuccesses: number;
    readonly initialBackoffSeconds: number;
    readonly maxBackoffSeconds: number;
    readonly timeoutSeconds: number;
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
        this.command = hookRun(
            `${name}-check`,
            "healthCheck",
            {
                HEALTH_URLS: JSON.stringify(args.urls),
                HEALTH_EXPECT_STATUS: String(args.expectStatus),
                HEALTH_ATTEMPTS: String(args.attempts),
                HEALTH_REQUIRED_SUCCESSES: String(args.requiredSuccesses),
                HEALTH_INITIAL_BACKOFF_SECONDS: String(args.initialBackoffSeconds),
                HEALTH_MAX_BACKOFF_SECONDS: String(args.maxBackoffSeconds),
                HEALTH_TIMEOUT_SECONDS: String(args.timeoutSeconds),
            },
            [args.trigger],
            { parent: this, dependsOn: args.after },
        );
        this.registerOutputs({});
    }
}
