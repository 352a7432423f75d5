/**
 * The ECS redeploy hook against moto (a real AWS API emulator, started by the test on 127.0.0.1), as a function
 * and as the process the Pulumi program runs. moto reports MOTO_RUNNING_TASKS running tasks for every service, so
 * a service that wants more never becomes stable. Its inputs are decoded through its contract (hooks/contracts.ts).
 */
import {
    CreateClusterCommand,
    CreateServiceCommand,
    DescribeServicesCommand,
    DescribeServicesCommandOutput,
    ECSClient,
    ListTagsForResourceCommand,
    RegisterTaskDefinitionCommand,
    UpdateServiceCommand,
} from "@aws-sdk/client-ecs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ecsRedeployContract, fromEnv, toEnv } from "../hooks/contracts";
import { STSClient } from "@aws-sdk/client-sts";
import { TRIGGER_TAG, redeployAndWait, requireAccount } from "../hooks/ecsRedeploy";
import { HookInputError, SourceError } from "../hooks/hookRuntime";
import { MOTO_RUNNING_TASKS, Moto, startMoto } from "./support/moto";
import { runHookProcess } from "./support/hookProcess";

let moto: Moto;
let client: ECSClient;
const cluster = "buywhere-api";
const clientConfig = () => ({ region: "ap-southeast-1", endpoint: moto.endpoint, credentials: { accessKeyId: "testing", secretAccessKey: "testing" } });

async function primaryDeployment(service: string): Promise<string> {
    const out = await client.send(new DescribeServicesCommand({ cluster, services: [service] }));
    return out.services![0].deployments!.find((d) => d.status === "PRIMARY")!.id!;
}

beforeAll(async () => {
    moto = await startMoto();
    client = new ECSClient(clientConfig());
    await client.send(new CreateClusterCommand({ clusterName: cluster }));
    await client.send(
        new RegisterTaskDefinitionCommand({
            family: "buywhere-api",
            containerDefinitions: [{ name: "api", image: "buywhere/api:1", memory: 512 }],
        }),
    );
    for (const [serviceName, desiredCount] of [
        ["buywhere-api-staging", MOTO_RUNNING_TASKS],
        ["buywhere-worker-staging", MOTO_RUNNING_TASKS],
        ["buywhere-stuck", MOTO_RUNNING_TASKS + 1],
    ] as const) {
        await client.send(new CreateServiceCommand({ cluster, serviceName, taskDefinition: "buywhere-api", desiredCount }));
    }
}, 60_000);
afterAll(async () => {
    client?.destroy();
    await moto?.stop();
});

describe("ECS redeploy", () => {
    it("forces a new deployment of a real service record and returns once ECS's waiter finds it stable", async () => {
        const before = await primaryDeployment("buywhere-api-staging");
        const lines: string[] = [];
        const result = await redeployAndWait({
            client,
            cluster,
            service: "buywhere-api-staging",
            trigger: undefined,
            stableTimeoutSeconds: 10,
            pollSeconds: 0.1,
            log: (m) => lines.push(m),
        });
        expect(result.deploymentId).not.toBe(before);
        expect(await primaryDeployment("buywhere-api-staging")).toBe(result.deploymentId);
        expect(result.runningCount).toBe(MOTO_RUNNING_TASKS);
        expect(lines[0]).toBe(`forced a new deployment ${result.deploymentId} of ${cluster}/buywhere-api-staging; waiting until it is stable`);
        expect(lines.at(-1)).toBe(`${cluster}/buywhere-api-staging is stable: ${MOTO_RUNNING_TASKS}/${MOTO_RUNNING_TASKS} tasks of ${result.deploymentId} running`);
    });

    it("is idempotent per trigger: a rerun with the same trigger changes nothing; a new trigger redeploys", async () => {
        const opts = { client, cluster, service: "buywhere-api-staging", stableTimeoutSeconds: 10, pollSeconds: 0.1 };
        const first = await redeployAndWait({ ...opts, trigger: "trigger-1" });
        expect(first.redeployed).toBe(true);
        const arn = (await client.send(new DescribeServicesCommand({ cluster, services: ["buywhere-api-staging"] }))).services![0].serviceArn!;
        const tags = await client.send(new ListTagsForResourceCommand({ resourceArn: arn }));
        expect(tags.tags).toContainEqual({ key: TRIGGER_TAG, value: "trigger-1" });
        const lines: string[] = [];
        const again = await redeployAndWait({ ...opts, trigger: "trigger-1", log: (m) => lines.push(m) });
        expect(again).toMatchObject({ redeployed: false, deploymentId: first.deploymentId });
        expect(lines).toEqual([`${cluster}/buywhere-api-staging was already redeployed for this trigger and is stable; nothing to do`]);
        expect(await primaryDeployment("buywhere-api-staging")).toBe(first.deploymentId);
        const next = await redeployAndWait({ ...opts, trigger: "trigger-2" });
        expect(next.redeployed).toBe(true);
        expect(next.deploymentId).not.toBe(first.deploymentId);
    });

    it("fails within its bound when the service never becomes stable", async () => {
        const started = Date.now();
        const err = await redeployAndWait({ client, cluster, service: "buywhere-stuck", trigger: "t-stuck", stableTimeoutSeconds: 1, pollSeconds: 0.2 }).then(
            () => undefined,
            (e: Error) => e,
        );
        expect(err).toBeInstanceOf(SourceError);
        expect(err?.message).toMatch(
            new RegExp(`^${cluster}/buywhere-stuck did not become stable within 1s: ${MOTO_RUNNING_TASKS}/${MOTO_RUNNING_TASKS + 1} tasks of ecs-svc/\\d+ running, 1 deployments active$`),
        );
        expect(Date.now() - started).toBeLessThan(5_000);
        const arn = (await client.send(new DescribeServicesCommand({ cluster, services: ["buywhere-stuck"] }))).services![0].serviceArn!;
        expect((await client.send(new ListTagsForResourceCommand({ resourceArn: arn }))).tags ?? []).not.toContainEqual({ key: TRIGGER_TAG, value: "t-stuck" });
    });

    it("fails at once, with ECS's reason, when the circuit breaker marks the new deployment FAILED", async () => {
        // moto models no circuit breaker (it only ever reports COMPLETED or IN_PROGRESS), so this client marks the
        // new deployment in moto's real answers FAILED, as ECS does (API_Deployment.html, rolloutState), once the
        // hook has forced it.
        const failing = new ECSClient(clientConfig());
        let forced = false;
        failing.middlewareStack.add(
            (next, context) => async (args) => {
                const result = await next(args);
                if (context.commandName === "UpdateServiceCommand") forced = true;
                if (forced && context.commandName === "DescribeServicesCommand") {
                    for (const d of (result.output as DescribeServicesCommandOutput).services?.[0]?.deployments ?? []) {
                        d.rolloutState = "FAILED";
                        d.rolloutStateReason = "ECS deployment circuit breaker: tasks failed to start.";
                    }
                }
                return result;
            },
            { step: "initialize", name: "circuitBreakerStandIn" },
        );
        const started = Date.now();
        try {
            const err = await redeployAndWait({ client: failing, cluster, service: "buywhere-stuck", trigger: undefined, stableTimeoutSeconds: 30, pollSeconds: 0.2 }).then(
                () => undefined,
                (e: Error) => e,
            );
            expect(err).toBeInstanceOf(SourceError);
            expect(err?.message).toMatch(/^deployment ecs-svc\/\d+ of buywhere-stuck failed: ECS deployment circuit breaker: tasks failed to start\.$/);
            expect(Date.now() - started).toBeLessThan(3_000); // one poll, not the 30 s bound
        } finally {
            failing.destroy();
        }
    });

    it("fails at once when another deployment replaces the one it forced", async () => {
        const started = Date.now();
        let otherDeploy: Promise<unknown> | undefined;
        const err = await redeployAndWait({
            client,
            cluster,
            service: "buywhere-stuck",
            trigger: undefined,
            stableTimeoutSeconds: 30,
            pollSeconds: 0.2,
            // Someone else deploys the service as soon as ours is forced.
            log: (m) => {
                if (m.startsWith("forced")) otherDeploy = client.send(new UpdateServiceCommand({ cluster, service: "buywhere-stuck", forceNewDeployment: true }));
            },
        }).then(
            () => undefined,
            (e: Error) => e,
        );
        await expect(otherDeploy).resolves.toBeDefined();
        expect(err).toBeInstanceOf(SourceError);
        expect(err?.message).toMatch(
            /^deployment ecs-svc\/\d+ of buywhere-stuck was replaced by another deployment while waiting \(another deploy, or a circuit-breaker rollback\)$/,
        );
        expect(Date.now() - started).toBeLessThan(3_000);
    });

    it("fails clearly, changing nothing, for a missing service or cluster", async () => {
        const before = await primaryDeployment("buywhere-worker-staging");
        const opts = { client, trigger: undefined, stableTimeoutSeconds: 1, pollSeconds: 0.1 };
        await expect(redeployAndWait({ ...opts, cluster, service: "nope" })).rejects.toThrow(new SourceError("ECS service nope not found in cluster buywhere-api (MISSING)"));
        await expect(redeployAndWait({ ...opts, cluster: "no-such-cluster", service: "buywhere-worker-staging" })).rejects.toThrow(
            new SourceError("ECS cluster no-such-cluster not found"),
        );
        expect(await primaryDeployment("buywhere-worker-staging")).toBe(before);
    });
});

describe("ECS redeploy: the caller's account (moto's STS answers 123456789012)", () => {
    it("goes on with credentials of the stack's account and refuses another account's, naming both", async () => {
        const sts = new STSClient(clientConfig());
        await expect(requireAccount(sts, "123456789012")).resolves.toBeUndefined();
        const refused = requireAccount(sts, "111122223333");
        await expect(refused).rejects.toBeInstanceOf(SourceError);
        await expect(refused).rejects.toThrow("the AWS credentials belong to account 123456789012, not the stack's account 111122223333; refusing to redeploy");
        sts.destroy();
    });

    it("as a process: the wrong account fails before any ECS call (the service keeps its deployment)", async () => {
        const before = await primaryDeployment("buywhere-api-staging");
        const env = toEnv(ecsRedeployContract, {
            region: "ap-southeast-1",
            cluster,
            service: "buywhere-api-staging",
            trigger: "t-account",
            stableTimeoutSeconds: 20,
            pollSeconds: 1,
            accountId: "111122223333",
        });
        const r = await runHookProcess("ecsRedeploy", { ...moto.env, ...env });
        expect(r.code).toBe(1);
        expect(r.stderr).toContain("not the stack's account 111122223333");
        expect(await primaryDeployment("buywhere-api-staging")).toBe(before);
    });
});

describe("ECS redeploy inputs", () => {
    const valid = () => toEnv(ecsRedeployContract, { region: "ap-southeast-1", cluster, service: "s", trigger: "t", stableTimeoutSeconds: 10, pollSeconds: 1 });

    it("decodes exactly what the program encodes; the trigger may be left out", () => {
        expect(fromEnv(ecsRedeployContract, valid())).toEqual({ region: "ap-southeast-1", cluster, service: "s", trigger: "t", stableTimeoutSeconds: 10, pollSeconds: 1 });
        const { ECS_TRIGGER: _, ...untriggered } = valid();
        expect(fromEnv(ecsRedeployContract, untriggered).trigger).toBeUndefined();
    });

    it.each([
        [{}, "environment variable AWS_REGION is required"],
        [{ AWS_REGION: "r" }, 'environment variable AWS_REGION "r" is not an AWS region'],
        [{ ECS_CLUSTER: "a/b" }, 'environment variable ECS_CLUSTER "a/b" is not an ECS cluster name'],
        [{ ECS_SERVICE: "" }, "environment variable ECS_SERVICE is required"],
        [{ ECS_STABLE_TIMEOUT_SECONDS: "soon" }, 'environment variable ECS_STABLE_TIMEOUT_SECONDS must be a positive number (got "soon")'],
        [{ ECS_POLL_SECONDS: "0" }, "environment variable ECS_POLL_SECONDS must be a positive number"],
        [{ ECS_STABLE_TIMEOUT_SECONDS: "5", ECS_POLL_SECONDS: "10" }, "environment variable ECS_POLL_SECONDS (10) must be less than ECS_STABLE_TIMEOUT_SECONDS (5)"],
        // The SDK's waiter needs its bound to exceed one interval.
        [{ ECS_STABLE_TIMEOUT_SECONDS: "10", ECS_POLL_SECONDS: "10" }, "environment variable ECS_POLL_SECONDS (10) must be less than ECS_STABLE_TIMEOUT_SECONDS (10)"],
    ])("refuses %j with one line naming the variable", (override, message) => {
        const env = Object.keys(override).length === 0 ? {} : { ...valid(), ...override };
        expect(() => fromEnv(ecsRedeployContract, env)).toThrow(new HookInputError(message));
    });

    it("as a process, with the environment the program sets: redeploys, exits 0; a missing service exits 1; bad input 2", async () => {
        const before = await primaryDeployment("buywhere-worker-staging");
        const env = (service: string) => ({
            ...moto.env,
            ...toEnv(ecsRedeployContract, { region: "ap-southeast-1", cluster, service, trigger: undefined, stableTimeoutSeconds: 10, pollSeconds: 0.1 }),
        });
        const ok = await runHookProcess("ecsRedeploy", env("buywhere-worker-staging"));
        expect(ok.stderr).toContain("is stable");
        expect(ok.code).toBe(0);
        expect(await primaryDeployment("buywhere-worker-staging")).not.toBe(before);

        const missing = await runHookProcess("ecsRedeploy", env("nope"));
        expect(missing.code).toBe(1);
        expect(missing.stderr.trim()).toBe("[ecs-redeploy] error: ECS service nope not found in cluster buywhere-api (MISSING)");

        const bad = await runHookProcess("ecsRedeploy", { ...env("buywhere-worker-staging"), ECS_POLL_SECONDS: "20" });
        expect(bad.code).toBe(2);
        expect(bad.stderr).toBe("[ecs-redeploy] error: environment variable ECS_POLL_SECONDS (20) must be less than ECS_STABLE_TIMEOUT_SECONDS (10)\n");
    });
});
