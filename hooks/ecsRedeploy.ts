/**
 * Forces a new deployment of one ECS service and waits until it is stable, so its tasks pick up the secrets just
 * published to Secrets Manager. Run by the Pulumi program (`command.local.Command`) after the secrets it consumes
 * are written; a service that does not stabilise within the bound fails the run.
 *
 * Idempotent: after a stable redeploy it tags the service `buywhere:rotation-trigger=<trigger>`; run again with the
 * same trigger (a rerun after an interrupted `up`), it finds the tag on a stable service and changes nothing.
 *
 * Environment: AWS_REGION, ECS_CLUSTER, ECS_SERVICE, ECS_TRIGGER, ECS_STABLE_TIMEOUT_SECONDS (900),
 * ECS_POLL_SECONDS (15); the usual AWS credential variables; AWS_ENDPOINT_URL(_ECS) to point at another endpoint.
 */

/** The service tag that records which restart trigger the service was last redeployed for. */
export const TRIGGER_TAG = "buywhere:rotation-trigger";
import {
    DescribeServicesCommand,
    ECSClient,
    ListTagsForResourceCommand,
    Service,
    TagResourceCommand,
    UpdateServiceCommand,
} from "@aws-sdk/client-ecs";
import { HookInputError, numberEnv, requireEnv, runHook, sleep, stderrLogger } from "./hookRuntime";

export interface RedeployOptions {
    readonly client: ECSClient;
    readonly cluster: string;
    readonly service: string;
    readonly timeoutMs: number;
    readonly pollMs: number;
    /** The restart trigger this redeploy is for; recorded on the service when it is stable. */
    readonly trigger?: string;
    readonly log?: (message: string) => void;
}

export interface RedeployResult {
    readonly deploymentId: string;
    readonly runningCount: number;
    readonly elapsedMs: number;
    /** False when the service was already redeployed for this trigger and stable. */
    readonly redeployed: boolean;
}

/** Forces a new deployment and waits until it is the only deployment and all its tasks run. */
export async function redeployAndWait(opts: RedeployOptions): Promise<RedeployResult> {
    const log = opts.log ?? (() => undefined);
    const started = Date.now();
    const before = await describe(opts); // fails clearly for a missing cluster or service before anything is changed
    if (opts.trigger !== undefined && isStable(before) && (await triggerTag(opts, before)) === opts.trigger) {
        const primary = before.deployments!.find((d) => d.status === "PRIMARY")!;
        log(`${opts.cluster}/${opts.service} was already redeployed for this trigger and is stable; nothing to do`);
        return { deploymentId: primary.id!, runningCount: primary.runningCount ?? 0, elapsedMs: Date.now() - started, redeployed: false };
    }

    const updated = await opts.client.send(
        new UpdateServiceCommand({ cluster: opts.cluster, service: opts.service, forceNewDeployment: true }),
    );
    const primary = updated.service?.deployments?.find((d) => d.status === "PRIMARY");
    if (!primary?.id) {
        throw new Error(`ECS did not report a new deployment for service ${opts.service} in cluster ${opts.cluster}`);
    }
    log(`forced a new deployment ${primary.id} of ${opts.cluster}/${opts.service}; waiting until it is stable`);

    for (;;) {
        const service = await describe(opts);
        const deployments = service.deployments ?? [];
        const current = deployments.find((d) => d.id === primary.id);
        if (!current) {
            throw new Error(`deployment ${primary.id} of ${opts.service} was replaced by another deployment while waiting`);
        }
        if (current.rolloutState === "FAILED") {
            throw new Error(`deployment ${primary.id} of ${opts.service} failed: ${current.rolloutStateReason ?? "no reason given"}`);
        }
        const desired = service.desiredCount ?? 0;
        const running = current.runningCount ?? 0;
        const stable = deployments.length === 1 && current.status === "PRIMARY" && running === desired;
        const elapsedMs = Date.now() - started;
        if (stable) {
            log(`${opts.cluster}/${opts.service} is stable: ${running}/${desired} tasks of ${primary.id} running`);
            if (opts.trigger !== undefined) {
                await opts.client.send(new TagResourceCommand({ resourceArn: service.serviceArn!, tags: [{ key: TRIGGER_TAG, value: opts.trigger }] }));
            }
            return { deploymentId: primary.id, runningCount: running, elapsedMs, redeployed: true };
        }
        if (elapsedMs + opts.pollMs > opts.timeoutMs) {
            throw new Error(
                `${opts.cluster}/${opts.service} did not become stable within ${Math.round(opts.timeoutMs / 1000)}s: ` +
                    `${running}/${desired} tasks of ${primary.id} running, ${deployments.length} deployments active`,
            );
        }
        log(`${running}/${desired} tasks running, ${deployments.length} deployments active`);
        await sleep(opts.pollMs);
    }
}

function isStable(service: Service): boolean {
    const deployments = service.deployments ?? [];
    return deployments.length === 1 && deployments[0].status === "PRIMARY" && (deployments[0].runningCount ?? 0) === (service.desiredCount ?? 0);
}

async function triggerTag(opts: RedeployOptions, service: Service): Promise<string | undefined> {
    const out = await opts.client.send(new ListTagsForResourceCommand({ resourceArn: service.serviceArn! }));
    return out.tags?.find((t) => t.key === TRIGGER_TAG)?.value;
}

async function describe(opts: RedeployOptions): Promise<Service> {
    let out;
    try {
        out = await opts.client.send(new DescribeServicesCommand({ cluster: opts.cluster, services: [opts.service] }));
    } catch (err) {
        if ((err as { name?: string }).name === "ClusterNotFoundException") {
            throw new Error(`ECS cluster ${opts.cluster} not found`);
        }
        throw err;
    }
    const service = out.services?.find((s) => s.serviceName === opts.service || s.serviceArn?.endsWith(`/${opts.service}`));
    if (!service || service.status === "INACTIVE") {
        const reason = out.failures?.[0]?.reason;
        throw new Error(`ECS service ${opts.service} not found in cluster ${opts.cluster}${reason ? ` (${reason})` : ""}`);
    }
    return service;
}

/** Builds the options from the environment the Pulumi program sets. */
export function optionsFromEnv(env: NodeJS.ProcessEnv): Omit<RedeployOptions, "client"> & { region: string } {
    const region = requireEnv(env, "AWS_REGION");
    const cluster = requireEnv(env, "ECS_CLUSTER");
    const service = requireEnv(env, "ECS_SERVICE");
    const trigger = env.ECS_TRIGGER || undefined;
    const timeoutMs = numberEnv(env, "ECS_STABLE_TIMEOUT_SECONDS", 900) * 1000;
    const pollMs = numberEnv(env, "ECS_POLL_SECONDS", 15) * 1000;
    if (pollMs > timeoutMs) {
        throw new HookInputError("ECS_POLL_SECONDS must not exceed ECS_STABLE_TIMEOUT_SECONDS");
    }
    return { region, cluster, service, trigger, timeoutMs, pollMs };
}

if (require.main === module) {
    runHook("ecs-redeploy", async () => {
        const { region, ...opts } = optionsFromEnv(process.env);
        const client = new ECSClient({ region, retryMode: "adaptive", maxAttempts: 8 });
        await redeployAndWait({ ...opts, client, log: stderrLogger("ecs-redeploy") });
    });
}
