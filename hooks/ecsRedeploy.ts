/**
 * Forces a new deployment of one ECS service and waits until it is stable, so its tasks pick up the secrets just
 * published to Secrets Manager. Run by the Pulumi program (`command.local.Command`) after the secrets it consumes
 * are written; a service that does not stabilise within the bound, or whose deployment fails, fails the run.
 *
 * Idempotent: after a stable redeploy it tags the service `buywhere:rotation-trigger=<trigger>`; run again with the
 * same trigger (a rerun after an interrupted `up`), it finds the tag on a stable service and changes nothing.
 *
 * Inputs: `ecsRedeployContract` (hooks/contracts.ts); the usual AWS credential variables; AWS_ENDPOINT_URL(_ECS) to
 * point at another endpoint, or `ECS_AWS_ENDPOINT` (the `local` stack's `rotation:aws.endpoint`), which wins.
 */
import "./isolateEnv"; // first: strips every admin credential before any library loads
import {
    DescribeServicesCommand,
    DescribeServicesCommandOutput,
    ECSClient,
    ListTagsForResourceCommand,
    Service,
    TagResourceCommand,
    UpdateServiceCommand,
    waitUntilServicesStable,
} from "@aws-sdk/client-ecs";
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { setTimeout as delay } from "node:timers/promises";
import { HookInput, ecsRedeployContract, fromEnv, hookSecrets } from "./contracts";
import { SourceError, runHook } from "./hookRuntime";

/** The service tag that records which restart trigger the service was last redeployed for. */
export const TRIGGER_TAG = "buywhere:rotation-trigger";

/** The contract's inputs but the region (the client carries it), the client, and where progress goes. */
export interface RedeployOptions extends Omit<HookInput<typeof ecsRedeployContract>, "region"> {
    readonly client: ECSClient;
    readonly log?: (message: string) => void;
}

export interface RedeployResult {
    readonly deploymentId: string;
    readonly runningCount: number;
    readonly elapsedMs: number;
    /** False when the service was already redeployed for this trigger and stable. */
    readonly redeployed: boolean;
}

/** Forces a new deployment and waits until it is the only deployment and the service runs all its tasks. */
export async function redeployAndWait(opts: RedeployOptions): Promise<RedeployResult> {
    const log = opts.log ?? (() => undefined);
    const started = Date.now();
    const before = await describeService(opts); // fails clearly for a missing cluster or service before anything is changed
    if (opts.trigger !== undefined && isStable(before) && (await triggerTag(opts, before)) === opts.trigger) {
        log(`${opts.cluster}/${opts.service} was already redeployed for this trigger and is stable; nothing to do`);
        return { deploymentId: before.deployments![0].id!, runningCount: before.runningCount ?? 0, elapsedMs: Date.now() - started, redeployed: false };
    }

    const updated = await opts.client.send(
        new UpdateServiceCommand({ cluster: opts.cluster, service: opts.service, forceNewDeployment: true }),
    );
    const primary = updated.service?.deployments?.find((d) => d.status === "PRIMARY");
    if (!primary?.id) {
        throw new SourceError(`ECS did not report a new deployment for service ${opts.service} in cluster ${opts.cluster}`);
    }
    log(`forced a new deployment ${primary.id} of ${opts.cluster}/${opts.service}; waiting until it is stable`);

    const stable = await waitForDeployment(opts, primary.id);
    const running = stable.runningCount ?? 0;
    log(`${opts.cluster}/${opts.service} is stable: ${running}/${stable.desiredCount ?? 0} tasks of ${primary.id} running`);
    if (opts.trigger !== undefined) {
        await opts.client.send(new TagResourceCommand({ resourceArn: stable.serviceArn!, tags: [{ key: TRIGGER_TAG, value: opts.trigger }] }));
    }
    return { deploymentId: primary.id, runningCount: running, elapsedMs: Date.now() - started, redeployed: true };
}

/**
 * Stable as ECS's own waiter means it: one deployment, and the service runs as many tasks as it wants
 * (`waitUntilServicesStable`'s success acceptor, @aws-sdk/client-ecs dist-es/waiters/waitForServicesStable.js).
 * Used where no waiting is wanted: deciding whether a rerun has anything left to do.
 */
function isStable(service: Service): boolean {
    return (service.deployments ?? []).length === 1 && service.runningCount === service.desiredCount;
}

/**
 * Waits with ECS's own waiter until the service is stable, and returns it as the waiter last saw it.
 *
 * The waiter knows nothing of rollouts: a deployment the circuit breaker marks FAILED stays beside the old one, so
 * the waiter would poll on until the bound (15 minutes by default) before anyone learns why. A second loop, at the
 * same interval, watches our deployment and aborts the waiter through an AbortController the moment ECS reports it
 * FAILED (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Deployment.html, rolloutState) or it is gone
 * (replaced by another deployment). Checking only after the waiter returns would report the same failure, but at the
 * bound. The price is a second DescribeServices per interval and, on a failure only, the waiter's own loop finishing
 * its current sleep and one more DescribeServices before it sees the abort (@smithy/core util-waiter poller.js checks
 * the signal before each sleep; createWaiter.js settles the waiter's promise at once). After success the final
 * answer is checked too: stable on another deployment (e.g. the circuit breaker rolled back) means ours was replaced.
 */
async function waitForDeployment(opts: RedeployOptions, deploymentId: string): Promise<Service> {
    const rollout = new AbortController();
    const watching = watchRollout(opts, deploymentId, rollout);
    let outcome: { final?: DescribeServicesCommandOutput } | { error: unknown };
    try {
        // minDelay = maxDelay: a constant interval, no backoff (poller.js, exponentialBackoffWithJitter). The
        // validator only asks for delays > 0 and maxWaitTime > minDelay (utils/validate.js); the contract checks the
        // latter first, with a message naming the variables.
        outcome = await waitUntilServicesStable(
            {
                client: opts.client,
                maxWaitTime: opts.stableTimeoutSeconds,
                minDelay: opts.pollSeconds,
                maxDelay: opts.pollSeconds,
                abortSignal: rollout.signal,
            },
            { cluster: opts.cluster, services: [opts.service] },
        );
    } catch (error) {
        outcome = { error };
    }
    const failure: unknown = rollout.signal.aborted ? rollout.signal.reason : undefined; // read before stopping the watcher
    rollout.abort();
    await watching;
    if (failure !== undefined) throw failure;
    if ("error" in outcome) throw await waitFailure(opts, deploymentId, outcome.error);
    const service = outcome.final?.services?.find((s) => sameService(opts, s));
    if (!service) throw new SourceError(`ECS stopped reporting service ${opts.service} in cluster ${opts.cluster} while waiting`);
    const problem = rolloutProblem(opts, service, deploymentId);
    if (problem) throw problem;
    return service;
}

/** Polls the service until `rollout` is aborted; aborts it with the reason when our deployment failed or is gone. */
async function watchRollout(opts: RedeployOptions, deploymentId: string, rollout: AbortController): Promise<void> {
    const { signal } = rollout;
    try {
        for (;;) {
            await delay(opts.pollSeconds * 1000, undefined, { signal });
            const service = await describeService(opts, signal);
            const problem = rolloutProblem(opts, service, deploymentId);
            if (problem) return rollout.abort(problem);
            const current = service.deployments?.find((d) => d.id === deploymentId);
            opts.log?.(`${current?.runningCount ?? 0}/${service.desiredCount ?? 0} tasks of ${deploymentId} running, ${service.deployments?.length ?? 0} deployments active`);
        }
    } catch (err) {
        // Aborted while sleeping or describing: the wait is over. Anything else (a DescribeServices failure the
        // client's own retries did not absorb) ends the wait with that error.
        if (!signal.aborted) rollout.abort(err);
    }
}

/** Why waiting for `deploymentId` cannot succeed, or undefined while it still can. */
function rolloutProblem(opts: RedeployOptions, service: Service, deploymentId: string): SourceError | undefined {
    const current = service.deployments?.find((d) => d.id === deploymentId);
    if (!current) {
        return new SourceError(
            `deployment ${deploymentId} of ${opts.service} was replaced by another deployment while waiting (another deploy, or a circuit-breaker rollback)`,
        );
    }
    if (current.rolloutState === "FAILED") {
        return new SourceError(`deployment ${deploymentId} of ${opts.service} failed: ${current.rolloutStateReason ?? "no reason given"}`);
    }
    return undefined;
}

/** The error to report when the waiter gave up: its own messages are JSON dumps of every answer it saw. */
async function waitFailure(opts: RedeployOptions, deploymentId: string, error: unknown): Promise<unknown> {
    const service = await describeService(opts); // throws "not found" for a service deleted (MISSING, INACTIVE) while waiting
    if ((error as Error).name === "TimeoutError") {
        const current = service.deployments?.find((d) => d.id === deploymentId);
        return new SourceError(
            `${opts.cluster}/${opts.service} did not become stable within ${opts.stableTimeoutSeconds}s: ` +
                `${current?.runningCount ?? 0}/${service.desiredCount ?? 0} tasks of ${deploymentId} running, ${service.deployments?.length ?? 0} deployments active`,
        );
    }
    // The waiter's other failure acceptor: the service is DRAINING (waitForServicesStable.js).
    if (service.status !== "ACTIVE") return new SourceError(`ECS service ${opts.service} in cluster ${opts.cluster} is ${service.status}; it will not become stable`);
    return error; // not a verdict on the service (e.g. the waiter refused its configuration)
}

async function triggerTag(opts: RedeployOptions, service: Service): Promise<string | undefined> {
    const out = await opts.client.send(new ListTagsForResourceCommand({ resourceArn: service.serviceArn! }));
    return out.tags?.find((t) => t.key === TRIGGER_TAG)?.value;
}

function sameService(opts: RedeployOptions, s: Service): boolean {
    return s.serviceName === opts.service || s.serviceArn?.endsWith(`/${opts.service}`) === true;
}

async function describeService(opts: RedeployOptions, abortSignal?: AbortSignal): Promise<Service> {
    let out;
    try {
        out = await opts.client.send(new DescribeServicesCommand({ cluster: opts.cluster, services: [opts.service] }), { abortSignal });
    } catch (err) {
        if ((err as { name?: string }).name === "ClusterNotFoundException") {
            throw new SourceError(`ECS cluster ${opts.cluster} not found`);
        }
        throw err;
    }
    const service = out.services?.find((s) => sameService(opts, s));
    if (!service || service.status === "INACTIVE") {
        const reason = out.failures?.[0]?.reason;
        throw new SourceError(`ECS service ${opts.service} not found in cluster ${opts.cluster}${reason ? ` (${reason})` : ""}`);
    }
    return service;
}

/**
 * Refuses to act with credentials of another AWS account than the stack's: an ECS service of the same name in another
 * account (a mis-set profile) must not be redeployed. STS GetCallerIdentity needs no permission
 * (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html: "No permissions are required").
 */
export async function requireAccount(sts: STSClient, expected: string): Promise<void> {
    const { Account } = await sts.send(new GetCallerIdentityCommand({}));
    if (Account !== expected) {
        throw new SourceError(`the AWS credentials belong to account ${Account ?? "?"}, not the stack's account ${expected}; refusing to redeploy`);
    }
}

if (require.main === module) {
    runHook("ecs-redeploy", hookSecrets(ecsRedeployContract, process.env), async (log) => {
        const { region, accountId, endpoint, ...input } = fromEnv(ecsRedeployContract, process.env);
        // An endpoint given to a client wins over AWS_ENDPOINT_URL* and the shared config
        // (https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html): the local stack's calls stay on it.
        const at = endpoint === undefined ? {} : { endpoint };
        if (accountId !== undefined) await requireAccount(new STSClient({ region, ...at }), accountId);
        const client = new ECSClient({ region, retryMode: "adaptive", maxAttempts: 8, ...at });
        await redeployAndWait({ ...input, client, log });
    });
}
