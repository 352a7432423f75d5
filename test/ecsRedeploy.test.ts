/**
 * The ECS redeploy hook against moto (a real AWS API emulator, started by the test on 127.0.0.1), as a function
 * and as the process the Pulumi program runs. moto reports MOTO_RUNNING_TASKS running tasks for every service, so
 * a service that wants more never becomes stable.
 */
import {
    CreateClusterCommand,
    CreateServiceCommand,
    DescribeServicesCommand,
    ECSClient,
    RegisterTaskDefinitionCommand,
} from "@aws-sdk/client-ecs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ListTagsForResourceCommand } from "@aws-sdk/client-ecs";
import { TRIGGER_TAG, optionsFromEnv, redeployAndWait } from "../hooks/ecsRedeploy";
import { MOTO_RUNNING_TASKS, Moto, startMoto } from "./support/moto";
import { runHookProcess } from "./support/hookProcess";

let moto: Moto;
let client: ECSClient;
const cluster = "buywhere-api";

async function primaryDeployment(service: string): Promise<string> {
    const out = await client.send(new DescribeServicesCommand({ cluster, services: [service] }));
    return out.services![0].deployments!.find((d) => d.status === "PRIMARY")!.id!;
}

beforeAll(async () => {
    moto = await startMoto();
    client = new ECSClient({ region: "ap-southeast-1", endpoint: moto.endpoint, credentials: { accessKeyId: "testing", secretAccessKey: "testing" } });
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
    it("forces a new deployment of a real service record and returns once it is stable", async () => {
        const before = await primaryDeployment("buywhere-api-staging");
        const lines: string[] = [];
        const result = await redeployAndWait({
            client,
            cluster,
            service: "buywhere-api-staging",
            timeoutMs: 10_000,
            pollMs: 100,
            log: (m) => lines.push(m),
        });
        expect(result.deploymentId).not.toBe(before);
        expect(await primaryDeployment("buywhere-api-staging")).toBe(result.deploymentId);
        expect(result.runningCount).toBe(MOTO_RUNNING_TASKS);
        expect(lines[0]).toBe(`forced a new deployment ${result.deploymentId} of ${cluster}/buywhere-api-staging; waiting until it is stable`);
    });

    it("is idempotent per trigger: a rerun with the same trigger changes nothing; a new trigger redeploys", async () => {
        const opts = { client, cluster, service: "buywhere-api-staging", timeoutMs: 10_000, pollMs: 100 };
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
        await expect(
            redeployAndWait({ client, cluster, service: "buywhere-stuck", timeoutMs: 1_000, pollMs: 200 }),
        ).rejects.toThrow(
            new RegExp(`^${cluster}/buywhere-stuck did not become stable within 1s: ${MOTO_RUNNING_TASKS}/${MOTO_RUNNING_TASKS + 1} tasks of ecs-svc/\\d+ running, 1 deployments active$`),
        );
        expect(Date.now() - started).toBeLessThan(5_000);
    });

    it("fails clearly, changing nothing, for a missing service or cluster", async () => {
        const before = await primaryDeployment("buywhere-worker-staging");
        await expect(redeployAndWait({ client, cluster, service: "nope", timeoutMs: 1_000, pollMs: 100 })).rejects.toThrow(
            "ECS service nope not found in cluster buywhere-api (MISSING)",
        );
        await expect(
            redeployAndWait({ client, cluster: "no-such-cluster", service: "buywhere-worker-staging", timeoutMs: 1_000, pollMs: 100 }),
        ).rejects.toThrow("ECS cluster no-such-cluster not found");
        expect(await primaryDeployment("buywhere-worker-staging")).toBe(before);
    });

    it.each([
        [{}, "environment variable AWS_REGION is required"],
        [{ AWS_REGION: "ap-southeast-1", ECS_CLUSTER: "c" }, "environment variable ECS_SERVICE is required"],
        [{ AWS_REGION: "r", ECS_CLUSTER: "c", ECS_SERVICE: "s", ECS_STABLE_TIMEOUT_SECONDS: "soon" }, "ECS_STABLE_TIMEOUT_SECONDS must be a positive number"],
        [{ AWS_REGION: "r", ECS_CLUSTER: "c", ECS_SERVICE: "s", ECS_STABLE_TIMEOUT_SECONDS: "5", ECS_POLL_SECONDS: "10" }, "ECS_POLL_SECONDS must not exceed"],
    ])("rejects bad input %j", (env, message) => {
        expect(() => optionsFromEnv(env)).toThrow(message);
    });

    it("as a process, with the environment the program sets: redeploys, exits 0; a missing service exits 1", async () => {
        const before = await primaryDeployment("buywhere-worker-staging");
        const env = { AWS_REGION: "ap-southeast-1", ECS_CLUSTER: cluster, ECS_STABLE_TIMEOUT_SECONDS: "10", ECS_POLL_SECONDS: "0.1" };
        const ok = await runHookProcess("ecsRedeploy", { ...moto.env, ...env, ECS_SERVICE: "buywhere-worker-staging" });
        expect(ok.stderr).toContain("is stable");
        expect(ok.code).toBe(0);
        expect(await primaryDeployment("buywhere-worker-staging")).not.toBe(before);

        const missing = await runHookProcess("ecsRedeploy", { ...moto.env, ...env, ECS_SERVICE: "nope" });
        expect(missing.code).toBe(1);
        expect(missing.stderr.trim()).toBe("[ecs-redeploy] error: ECS service nope not found in cluster buywhere-api (MISSING)");
    });
});
